// Concept files (round trip, corrupt / truncated / foreign files refused,
// model identity), target lists, cut-outs, and the finder's gate and
// instance rules on a random-weight model with synthetic embeddings (no
// encoder: the concept's feature is planted at chosen cells).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "concepts/concept_file.h"
#include "concepts/find_outputs.h"
#include "concepts/finder.h"
#include "concepts/learn.h"
#include "concepts/model_identity.h"
#include "concepts/target_list.h"
#include "persam/personalizer.h"
#include "tests/cli_test_util.h"
#include "tests/concept_scenes.h"
#include "tests/fixtures.h"
#include "weights/checkpoint.h"
#include "weights/random_checkpoint.h"

namespace persam {
namespace {
namespace fs = std::filesystem;

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

Concept SyntheticConcept(bool finetune) {
  Concept c;
  c.finetune = finetune;
  c.model = {"sam-vit", "0123456789abcdef0123456789abcdef", "f32", "model.safetensors"};
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  c.target.embedding.resize(256);
  for (float& v : c.target.embedding) v = normal(rng);
  double norm = 0;
  for (float v : c.target.embedding) norm += static_cast<double>(v) * v;
  for (float v : c.target.embedding) c.target.feat.push_back(static_cast<float>(v / std::sqrt(norm)));
  if (finetune) {
    c.mask_weights = {0.25f, 0.5f, 0.25f};
    c.training.steps = 1000;
    c.training.lr = 1e-3;
  }
  c.references.push_back({"ref.jpg", "ref.png", 96, 128, 0.75f, 0.5f});
  return c;
}

std::string TempPath(const std::string& name) { return testing::MakeTempDir("persam_concepts_test") + "/" + name; }

TEST_CASE("concept file: round trip, PerSAM and PerSAM-F") {
  for (bool finetune : {false, true}) {
    const Concept c = SyntheticConcept(finetune);
    const std::string path = TempPath("c.concept");
    WriteConcept(path, c);
    const Concept r = ReadConcept(path);
    CHECK(r.finetune == finetune);
    CHECK(r.model.SameModel(c.model));
    CHECK(r.model.file == c.model.file);
    CHECK(r.target.feat == c.target.feat);
    CHECK(r.target.embedding == c.target.embedding);
    CHECK(r.mask_weights == c.mask_weights);
    CHECK(r.training.steps == c.training.steps);
    CHECK(r.training.lr == c.training.lr);
    REQUIRE(r.references.size() == 1);
    CHECK(r.references[0].image == "ref.jpg");
    CHECK(r.references[0].height == 96);
    CHECK(r.references[0].width == 128);
    CHECK(r.references[0].peak_similarity == 0.75f);
    CHECK(r.ReferencePeak() == 0.75f);
  }
}

TEST_CASE("concept file: every truncation and every flipped bit is a clear error") {
  const std::string path = TempPath("c.concept");
  WriteConcept(path, SyntheticConcept(true));
  const std::vector<uint8_t> bytes = ReadBytes(path);
  REQUIRE(bytes.size() > 100);
  // Header padding (spaces before the data section) carries nothing.
  uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  int refused = 0, flips = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    const FileBytes cut = BytesFromMemory("cut.concept", bytes.data(), n);
    CHECK_THROWS_WITH_AS(ReadConceptFromBytes(cut), doctest::Contains("concept 'cut.concept'"), Error);
    for (uint8_t bit : {0x01, 0x80}) {
      std::vector<uint8_t> flipped = bytes;
      flipped[n] ^= bit;
      if (n >= 8 && n < 8 + header && bytes[n] == ' ') continue;
      ++flips;
      try {
        ReadConceptFromBytes(BytesFromMemory("flip.concept", flipped.data(), flipped.size()));
      } catch (const Error& e) {
        ++refused;
        CHECK(std::string(e.what()).find("concept 'flip.concept'") != std::string::npos);
      }
    }
  }
  CHECK(refused == flips);
}

TEST_CASE("concept file: another format or version, and another model, refused naming both") {
  const std::string dir = testing::MakeTempDir("persam_concepts_test");
  WriteSafetensors(dir + "/plain.safetensors", {{"x", Tensor::FromFloat32({2}, std::vector<float>{1, 2}.data())}},
                   {{"format", "pt"}});
  CHECK_THROWS_WITH_AS(ReadConcept(dir + "/plain.safetensors"), doctest::Contains("not a concept file"), Error);
  std::ofstream(dir + "/text.concept") << "hello";
  CHECK_THROWS_WITH_AS(ReadConcept(dir + "/text.concept"), doctest::Contains("not a readable concept file"), Error);
  CHECK_THROWS_WITH_AS(ReadConcept(dir + "/missing.concept"), doctest::Contains("missing.concept"), Error);

  const Concept c = SyntheticConcept(false);
  ConceptModelIdentity other = c.model;
  other.weights_hash = "ffffffffffffffffffffffffffffffff";
  other.file = "other.pth";
  CHECK_NOTHROW(CheckConceptModel(c, "dog.concept", c.model));
  try {
    CheckConceptModel(c, "dog.concept", other);
    FAIL("another model was accepted");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("dog.concept") != std::string::npos);
    CHECK(m.find(c.model.weights_hash) != std::string::npos);
    CHECK(m.find("model.safetensors") != std::string::npos);
    CHECK(m.find("ffffffff") != std::string::npos);
    CHECK(m.find("other.pth") != std::string::npos);
  }
  other = c.model;
  other.precision = "bf16";
  CHECK_THROWS_WITH_AS(CheckConceptModel(c, "dog.concept", other), doctest::Contains("bf16"), Error);
}

TEST_CASE("model identity: the weights hash follows the values, not the container") {
  const TensorMap a = MakeRandomSamTensors(SamVitTinyTestConfig(), 1);
  const std::string ha = WeightsHash(a);
  CHECK(ha.size() == 32);
  CHECK(WeightsHash(MakeRandomSamTensors(SamVitTinyTestConfig(), 1)) == ha);
  CHECK(WeightsHash(MakeRandomSamTensors(SamVitTinyTestConfig(), 2)) != ha);
  const std::string path = TempPath("m.safetensors");
  WriteSafetensors(path, a, {});
  CHECK(WeightsHash(ReadCheckpoint(path).tensors) == ha);
  if (!testing::HaveFixtures("model identity of a .pth")) return;
  const Checkpoint pth = ReadCheckpoint(testing::FixturePath("models/sam_vit_tiny.pth"));
  WriteSafetensors(path, pth.tensors, {});
  CHECK(WeightsHash(ReadCheckpoint(path).tensors) == WeightsHash(pth.tensors));
}

TEST_CASE("target list: folders recursive and sorted, names unique, missing paths named") {
  const std::string dir = testing::MakeTempDir("persam_targets_test");
  fs::create_directories(dir + "/b/sub");
  for (const char* f : {"b/z.png", "b/a.JPG", "b/sub/m.jpeg", "b/notes.txt", "c.png"}) std::ofstream(dir + "/" + f) << "x";
  const std::vector<TargetImage> t = CollectTargets({dir + "/b", dir + "/c.png"});
  REQUIRE(t.size() == 4);
  CHECK(t[0].name == "a");
  CHECK(t[1].name == "sub/m");
  CHECK(t[2].name == "z");
  CHECK(t[3].name == "c");
  CHECK(t[3].path == dir + "/c.png");
  CHECK_THROWS_WITH_AS(CollectTargets({dir + "/b", dir + "/b/z.png"}), doctest::Contains("share the output name 'z'"), Error);
  CHECK_THROWS_WITH_AS(CollectTargets({dir + "/nope"}), doctest::Contains("nope' not found"), Error);
  fs::create_directories(dir + "/empty");
  CHECK_THROWS_WITH_AS(CollectTargets({dir + "/empty"}), doctest::Contains("holds no image"), Error);
}

TEST_CASE("cut-out: the box's pixels, alpha 255 exactly on the mask") {
  RgbImage image;
  image.height = 4;
  image.width = 5;
  for (int i = 0; i < 60; ++i) image.pixels.push_back(static_cast<uint8_t>(i));
  FoundInstance inst;
  inst.mask.assign(20, 0);
  inst.mask[1 * 5 + 1] = inst.mask[2 * 5 + 3] = 1;
  inst.bbox = {1, 1, 3, 2};
  const std::vector<uint8_t> rgba = CutoutRgba(image, inst);
  REQUIRE(rgba.size() == 3 * 2 * 4);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 3; ++x) {
      const size_t src = static_cast<size_t>(y + 1) * 5 + (x + 1);
      const uint8_t* p = &rgba[(static_cast<size_t>(y) * 3 + x) * 4];
      CHECK(p[0] == image.pixels[3 * src]);
      CHECK(p[3] == (inst.mask[src] ? 255 : 0));
    }
  }
}

// A random-weight ViT-tiny SAM (only its prompt encoder and decoder run) and
// an embedding of a 96 x 128 image whose cells are noise except blobs
// holding the concept's feature.
struct Scene {
  std::unique_ptr<SamModel> model = SamModel::FromTensors(MakeRandomSamTensors(SamVitTinyTestConfig(), 11), "random");
  Concept concept_ = SyntheticConcept(false);
  ImageEmbedding embedding;

  explicit Scene(const std::vector<std::pair<int, int>>& blobs) {
    embedding.orig_height = 96;
    embedding.orig_width = 128;
    embedding.input_height = 768;
    embedding.input_width = 1024;
    embedding.data.resize(256 * 64 * 64);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    for (float& v : embedding.data) v = normal(rng);
    for (auto [cy, cx] : blobs) {
      for (int y = cy - 3; y <= cy + 3; ++y) {
        for (int x = cx - 3; x <= cx + 3; ++x) {
          for (int c = 0; c < 256; ++c) embedding.data[c * 4096 + y * 64 + x] = concept_.target.embedding[c];
        }
      }
    }
  }
};

TEST_CASE("finder: the first instance is PerSAM's mask; the gate; further instances and their stop rules") {
  const std::vector<std::pair<int, int>> kBlobs = {{10, 10}, {24, 50}, {40, 20}};  // rows < 48: the image's cells
  Scene scene(kBlobs);
  for (bool finetune : {false, true}) {
    scene.concept_.finetune = finetune;
    scene.concept_.mask_weights = {0.2f, 0.3f, 0.5f};
    const Finder finder(*scene.model, scene.concept_);
    PersonalizeOptions popts;
    popts.finetune = finetune;
    Personalizer personalizer(*scene.model, popts);
    personalizer.SetLearned(scene.concept_.target, scene.concept_.mask_weights, 96, 128);
    const ImageOutcome expected = personalizer.Segment(scene.embedding);

    FindOptions options;
    options.min_similarity = 0;
    const FindResult one = finder.Find(scene.embedding, options);
    // The planted feature's cosine is 1; the reference's peak is 0.75.
    CHECK(one.similarity == doctest::Approx(1.0 / 0.75).epsilon(1e-3));
    REQUIRE(one.instances.size() == (expected.mask_area > 0 ? 1u : 0u));
    if (!one.instances.empty()) CHECK(one.instances[0].mask == expected.mask);
    CHECK(one.present == !one.instances.empty());

    options.min_similarity = 1.34;  // above every score
    const FindResult gated = finder.Find(scene.embedding, options);
    CHECK_FALSE(gated.present);
    CHECK(gated.instances.empty());
    CHECK(std::count(gated.labels.begin(), gated.labels.end(), 0) == 96 * 128);

    options.min_similarity = 0;
    options.max_instances = 3;
    options.max_overlap = 1.0;  // only the count and the gate stop it
    const FindResult three = finder.Find(scene.embedding, options);
    // The pasted blobs are the map's three peaks: one instance each.
    REQUIRE(three.instances.size() == 3);
    CHECK(three.stop_reason == "instance limit");
    std::set<int> blobs_hit;
    for (const FoundInstance& inst : three.instances) {
      for (int b = 0; b < 3; ++b) {
        const auto [cy, cx] = kBlobs[b];  // cell -> pixel: 1024 / 64 / (1024 / 128) = 2
        if (std::fabs(inst.point.x - (2 * cx + 1)) <= 8 && std::fabs(inst.point.y - (2 * cy + 1)) <= 8) blobs_hit.insert(b);
      }
    }
    CHECK(blobs_hit.size() == 3);
    CHECK(!three.stop_reason.empty());
    for (size_t k = 0; k < three.instances.size(); ++k) {
      const FoundInstance& inst = three.instances[k];
      if (k > 0) CHECK(inst.similarity <= three.instances[k - 1].similarity);  // peaks of shrinking maps
      const size_t at = static_cast<size_t>(inst.point.y) * 128 + static_cast<size_t>(inst.point.x);
      for (size_t j = 0; j < k; ++j) CHECK_FALSE(three.instances[j].mask[at]);  // suppressed before
      for (size_t i = 0; i < three.labels.size(); ++i) {
        if (three.labels[i] == k + 1) CHECK(inst.mask[i]);
      }
    }
    options.max_overlap = 0.0;  // any overlap stops
    const FindResult strict = finder.Find(scene.embedding, options);
    for (size_t a = 0; a < strict.instances.size(); ++a) {
      for (size_t b = a + 1; b < strict.instances.size(); ++b) {
        for (size_t i = 0; i < strict.labels.size(); ++i) CHECK_FALSE((strict.instances[a].mask[i] && strict.instances[b].mask[i]));
      }
    }
  }
}

TEST_CASE("learn: several references fused; the same reference twice is the single-reference concept") {
  const std::string dir = testing::MakeTempDir("persam_learn_test");
  testing::WriteDiskReference({{60, 50}}, dir + "/a.png", dir + "/a_mask.png");
  testing::WriteDiskReference({{110, 70}, {30, 30}}, dir + "/b.png", dir + "/b_mask.png");
  const std::unique_ptr<SamModel> model = SamModel::FromTensors(MakeRandomSamTensors(SamVitTinyTestConfig(), 1), "random");
  const ConceptModelIdentity id{"sam-vit", "00000000000000000000000000000000", "f32", "random"};
  const ReferenceInput a{dir + "/a.png", dir + "/a_mask.png"}, b{dir + "/b.png", dir + "/b_mask.png"};
  PersonalizeOptions persam;
  const Concept one = LearnConcept(*model, id, {a}, persam).learned;
  const Concept twice = LearnConcept(*model, id, {a, a}, persam).learned;
  REQUIRE(twice.references.size() == 2);
  REQUIRE(twice.target.feat.size() == one.target.feat.size());
  for (size_t c = 0; c < one.target.feat.size(); ++c) {
    CHECK(twice.target.feat[c] == doctest::Approx(one.target.feat[c]).epsilon(1e-6));
    CHECK(twice.target.embedding[c] == doctest::Approx(one.target.embedding[c]).epsilon(1e-6));
  }
  CHECK(twice.references[1].peak_similarity == doctest::Approx(one.references[0].peak_similarity).epsilon(1e-6));

  PersonalizeOptions persam_f;
  persam_f.finetune = true;
  persam_f.training.steps = 200;
  const Concept fused = LearnConcept(*model, id, {a, b}, persam_f).learned;
  REQUIRE(fused.references.size() == 2);
  CHECK(fused.references[1].image == b.image);
  CHECK(fused.references[1].height == 120);
  double norm = 0, dot = 0;
  const Concept only_a = LearnConcept(*model, id, {a}, persam_f).learned;
  for (size_t c = 0; c < fused.target.feat.size(); ++c) {
    norm += static_cast<double>(fused.target.feat[c]) * fused.target.feat[c];
    dot += static_cast<double>(fused.target.feat[c]) * only_a.target.feat[c];
  }
  CHECK(norm == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(dot < 1.0 - 1e-6);  // b's cells moved the feature
  CHECK(fused.mask_weights[0] + fused.mask_weights[1] + fused.mask_weights[2] == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(fused.mask_weights != std::array<float, 3>{1.0f / 3, 1.0f / 3, 1.0f / 3});  // trained
  RgbImage small;
  small.height = small.width = 10;
  small.pixels.assign(300, 128);
  SavePng(dir + "/small_mask.png", small);
  CHECK_THROWS_WITH_AS(LearnConcept(*model, id, {a, {dir + "/b.png", dir + "/small_mask.png"}}, persam),
                       doctest::Contains("small_mask.png' is 10x10"), Error);
}

}  // namespace
}  // namespace persam
