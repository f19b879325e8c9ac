// Prompt encoder + mask decoder + postprocessing against the reference
// predictor (FIXTURES.md, cases vit_predictor and the first PerSAM step).
// The decoder is checked on the recorded embedding, independently of the
// image encoder.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <memory>
#include <string>
#include <vector>

#include "engine/huge_page_buffer.h"
#include "engine/image.h"
#include "engine/preprocess.h"
#include "engine/sam_model.h"
#include "kernels/conv_rows.h"
#include "tests/fixture_prompts.h"
#include "tests/fixtures.h"
#include "base/error.h"
#include "weights/json.h"
#include "weights/npy.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

using testing::FixturePath;
using testing::HaveFixtures;
using testing::PromptFromJson;

std::vector<float> LoadFloats(const std::string& name, std::vector<int64_t>* shape = nullptr) {
  const Tensor t = ReadNpy(FixturePath("ref/" + name));
  if (shape != nullptr) *shape = t.shape;
  return t.ToFloat32();
}

const SamModel& VitModel() {
  static std::unique_ptr<SamModel> model = SamModel::Load(FixturePath("models/sam_vit_tiny.pth"));
  return *model;
}

ImageEmbedding EmbeddingFor(const std::string& image, const std::string& embedding_file) {
  const RgbImage img = LoadImage(FixturePath("perseg-mini/Images/" + image));
  ImageEmbedding e;
  e.orig_height = img.height;
  e.orig_width = img.width;
  const InputSize size = ResizedSize(img.height, img.width);
  e.input_height = size.height;
  e.input_width = size.width;
  std::vector<int64_t> shape;
  e.data = LoadFloats(embedding_file, &shape);
  REQUIRE(shape == std::vector<int64_t>{1, 256, 64, 64});
  return e;
}

float MaxAbsDiff(const float* a, const float* b, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST_CASE("predictor matches the reference on the recorded ViT embedding") {
  if (!HaveFixtures("predictor parity")) return;
  const JsonValue manifest = ParseJsonFile(FixturePath("manifest.json"));
  const JsonValue& cs = manifest.At("cases").At("vit_predictor");
  const SamModel& model = VitModel();
  Predictor predictor(model);
  predictor.SetEmbedding(EmbeddingFor(cs.At("image").AsString(), cs.At("files").At("embedding").AsString()));

  std::map<std::string, std::vector<float>> low_res_by_case;
  for (const JsonValue& c : cs.At("prompts").Items()) {
    const std::string name = c.At("name").AsString();
    CAPTURE(name);
    Prompt prompt = PromptFromJson(c);
    std::vector<float> mask_input;
    if (const JsonValue* from = c.Find("mask_input_from")) {
      const auto& src = low_res_by_case.at(from->AsString());
      const size_t index = static_cast<size_t>(c.At("mask_input_index").AsInt64());
      mask_input.assign(src.begin() + index * 256 * 256, src.begin() + (index + 1) * 256 * 256);
      prompt.mask_input = mask_input.data();
    }
    const Prediction pred = predictor.Predict(prompt);
    std::vector<int64_t> shape;
    const std::vector<float> ref_low = LoadFloats(c.At("low_res").AsString(), &shape);
    const auto& ref_scores = c.At("scores").Items();
    REQUIRE(pred.num_masks == static_cast<int>(ref_scores.size()));
    REQUIRE(shape == std::vector<int64_t>{pred.num_masks, 256, 256});
    REQUIRE(pred.low_res.size() == ref_low.size());
    const float low_err = MaxAbsDiff(pred.low_res.data(), ref_low.data(), ref_low.size());
    std::printf("  %-22s low-res max abs err %.2e", name.c_str(), low_err);
    CHECK(low_err <= 5e-4f);
    float score_err = 0.0f;
    for (int m = 0; m < pred.num_masks; ++m) {
      score_err = std::max(score_err, std::fabs(pred.scores[m] - static_cast<float>(ref_scores[m].AsDouble())));
    }
    std::printf(", score err %.2e", score_err);
    CHECK(score_err <= 1e-4f);
    // Mask areas at the original resolution.
    const size_t plane = static_cast<size_t>(pred.height) * pred.width;
    REQUIRE(pred.high_res.size() == plane * pred.num_masks);
    const auto& ref_area = c.At("mask_area").Items();
    double worst_area = 0.0;
    for (int m = 0; m < pred.num_masks; ++m) {
      const float* h = pred.high_res.data() + m * plane;
      const int64_t area = std::count_if(h, h + plane, [](float v) { return v > 0.0f; });
      const double ref = static_cast<double>(ref_area[m].AsInt64());
      worst_area = std::max(worst_area, std::fabs(area - ref) / std::max(ref, 1.0));
    }
    std::printf(", area rel err %.2e", worst_area);
    CHECK(worst_area <= 1e-3);
    if (const JsonValue* hr = c.Find("high_res")) {
      const std::vector<float> ref_high = LoadFloats(hr->AsString(), &shape);
      REQUIRE(ref_high.size() == pred.high_res.size());
      int64_t inter = 0, uni = 0;
      for (size_t i = 0; i < ref_high.size(); ++i) {
        const bool a = pred.high_res[i] > 0.0f, b = ref_high[i] > 0.0f;
        inter += a && b;
        uni += a || b;
      }
      const double iou = uni == 0 ? 1.0 : static_cast<double>(inter) / uni;
      const float high_err = MaxAbsDiff(pred.high_res.data(), ref_high.data(), ref_high.size());
      std::printf(", high-res IoU %.6f, max abs err %.2e", iou, high_err);
      CHECK(iou >= 0.999);
      CHECK(high_err <= 5e-4f);
    }
    std::printf("\n");
    low_res_by_case[name] = pred.low_res;
  }
}

// The first PerSAM step of every image: two points, one mask, attn_sim and
// target_embedding as recorded. The embeddings of these images are not
// stored, so this also runs the engine's ViT encoder.
TEST_CASE("PerSAM's first decoder step matches the reference (attn_sim, target_embedding)") {
  if (!HaveFixtures("PerSAM decoder step")) return;
  const JsonValue manifest = ParseJsonFile(FixturePath("manifest.json"));
  const JsonValue& cs = manifest.At("cases").At("vit_persam");
  const SamModel& model = VitModel();
  for (const auto& [object, spec] : cs.At("objects").Members()) {
    const auto& images = spec.At("images").Items();
    for (size_t index = 0; index < images.size(); ++index) {
      const JsonValue& step = images[index].At("steps").Items()[0];
      char file[32];
      std::snprintf(file, sizeof(file), "%02zu.png", index);
      const std::string image_name = object + "/" + file;
      CAPTURE(image_name);
      Predictor predictor(model);
      predictor.SetImage(LoadImage(FixturePath("perseg-mini/Images/" + image_name)));
      Prompt prompt = PromptFromJson(step);
      REQUIRE_FALSE(step.At("has_mask_input").AsBool());
      const std::vector<float> attn_sim = LoadFloats(step.At("attn_sim").AsString());
      const std::vector<float> target = LoadFloats(step.At("target_embedding").AsString());
      REQUIRE(attn_sim.size() == 64u * 64);
      REQUIRE(target.size() == 256u);
      prompt.attn_sim = attn_sim.data();
      prompt.target_embedding = target.data();
      prompt.compute_high_res = false;
      const Prediction pred = predictor.Predict(prompt);
      const std::vector<float> ref_low = LoadFloats(step.At("low_res").AsString());
      REQUIRE(pred.low_res.size() == ref_low.size());
      const float low_err = MaxAbsDiff(pred.low_res.data(), ref_low.data(), ref_low.size());
      const float score_err = std::fabs(pred.scores[0] - static_cast<float>(step.At("scores").Items()[0].AsDouble()));
      std::printf("  persam %-24s step 0 low-res max abs err %.2e, score err %.2e\n", image_name.c_str(), low_err,
                  score_err);
      CHECK(low_err <= 5e-3f);
      CHECK(score_err <= 1e-3f);
    }
  }
}

TEST_CASE("predictor rejects malformed prompts and embeddings") {
  if (!HaveFixtures("predictor errors")) return;
  const SamModel& model = VitModel();
  Predictor predictor(model);
  CHECK_THROWS_AS(predictor.Predict(Prompt{}), Error);  // no image yet
  ImageEmbedding bad;
  bad.orig_height = 10;
  bad.orig_width = 10;
  bad.input_height = 1024;
  bad.input_width = 1024;
  bad.data.resize(17);
  CHECK_THROWS_AS(predictor.SetEmbedding(bad), Error);
  bad.data.assign(256 * 64 * 64, 0.0f);
  bad.input_width = 1000;  // inconsistent with 10 x 10
  CHECK_THROWS_AS(predictor.SetEmbedding(bad), Error);
  bad.input_width = 1024;
  predictor.SetEmbedding(bad);
  CHECK_THROWS_AS(predictor.Predict(Prompt{}), Error);  // nothing to segment
  Prompt p;
  p.points.push_back({1.0, 2.0, 2});
  CHECK_THROWS_AS(predictor.Predict(p), Error);  // label 2
  p.points[0] = {std::nan(""), 2.0, 1};
  CHECK_THROWS_AS(predictor.Predict(p), Error);
  p.points[0] = {1.0, 2.0, 1};
  p.multimask = true;
  p.compute_high_res = false;
  const Prediction ok = predictor.Predict(p);
  CHECK(ok.num_masks == 3);
  CHECK(ok.high_res.empty());
  CHECK(ok.low_res.size() == 3u * 256 * 256);
  // A mask alone is a valid prompt (no sparse tokens at all), as in the
  // reference.
  Prompt mask_only;
  mask_only.mask_input = ok.low_res.data();
  mask_only.compute_high_res = false;
  const Prediction from_mask = predictor.Predict(mask_only);
  CHECK(from_mask.num_masks == 1);
  CHECK(std::all_of(from_mask.low_res.begin(), from_mask.low_res.end(), [](float v) { return std::isfinite(v); }));
}

// The decoder switches its image tokens between [4096, 256] and [256, 4096]
// layouts; these sizes take the blocked, threaded paths, with tails.
TEST_CASE("TransposeMatrix on decoder-sized tall and wide matrices") {
  for (auto [rows, cols] : {std::pair<int, int>(4096, 256), {256, 4096}, {4099, 258}, {257, 4103}, {65536, 3}}) {
    CAPTURE(rows);
    CAPTURE(cols);
    std::vector<float> a(static_cast<size_t>(rows) * cols);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i);
    std::vector<float> t(a.size(), std::nanf(""));
    kernels::TransposeMatrix(a.data(), rows, cols, t.data());
    bool same = true;
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) same &= t[static_cast<size_t>(c) * rows + r] == a[static_cast<size_t>(r) * cols + c];
    }
    CHECK(same);
  }
}

// An interactive caller keeps one Prediction across queries: PredictInto must
// overwrite every field, whatever the previous query's mask count, image
// geometry or high-res request was.
TEST_CASE("PredictInto reuses one Prediction and matches Predict bit for bit") {
  const SamConfig config = SamVitTinyTestConfig();
  const auto model = SamModel::FromTensors(MakeRandomSamTensors(config, 3), "random test weights");
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  auto make_embedding = [&](int h, int w) {
    ImageEmbedding e;
    e.orig_height = h;
    e.orig_width = w;
    const InputSize in = ResizedSize(h, w);
    e.input_height = in.height;
    e.input_width = in.width;
    e.data.resize(static_cast<size_t>(config.prompt_dim) * config.embed_grid * config.embed_grid);
    for (float& v : e.data) v = dist(rng);
    return e;
  };
  const ImageEmbedding wide = make_embedding(768, 1024), small = make_embedding(300, 500);
  Prompt multi;
  multi.points.push_back({400.5, 300.25, 1});
  multi.multimask = true;
  Prompt boxed;
  boxed.box = BoxPrompt{20, 30, 250, 200};
  Prompt low_only = multi;
  low_only.compute_high_res = false;
  struct Query {
    const ImageEmbedding* embedding;
    const Prompt* prompt;
  };
  Prediction reused;
  for (const Query q : {Query{&wide, &multi}, Query{&small, &boxed}, Query{&wide, &low_only}, Query{&small, &multi}}) {
    const Prediction want = model->Predict(*q.embedding, *q.prompt);
    model->PredictInto(*q.embedding, *q.prompt, &reused);
    CHECK(reused.num_masks == want.num_masks);
    CHECK(reused.height == want.height);
    CHECK(reused.width == want.width);
    CHECK(reused.scores == want.scores);
    CHECK(reused.low_res == want.low_res);
    CHECK(reused.high_res == want.high_res);
  }
  CHECK_THROWS_AS(model->PredictInto(wide, multi, nullptr), Error);
}

TEST_CASE("PredictSinglePoints: a batch sharing the layer-0 tokens equals one-point calls and Predict") {
  const SamConfig config = SamVitTinyTestConfig();
  const auto model = SamModel::FromTensors(MakeRandomSamTensors(config, 4), "random test weights");
  std::mt19937 rng(6);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  ImageEmbedding e;
  e.orig_height = e.orig_width = e.input_height = e.input_width = 1024;
  e.data.resize(static_cast<size_t>(config.prompt_dim) * config.embed_grid * config.embed_grid);
  for (float& v : e.data) v = dist(rng);
  // Integer pixels on a 1024 x 1024 image: (t + 0.5) / 1024 is exact in f32
  // and f64, so Predict's and the generator's coordinate roundings agree.
  const std::vector<double> points = {100, 200, 700, 33, 512, 1000};
  const int count = static_cast<int>(points.size() / 2);
  const size_t plane = 256 * 256;
  std::vector<float> batch_low(count * 3 * plane), batch_scores(count * 3);
  model->PredictSinglePoints(e, points.data(), count, batch_low.data(), batch_scores.data());
  for (int i = 0; i < count; ++i) {
    INFO("point " << i);
    std::vector<float> low(3 * plane), scores(3);
    model->PredictSinglePoints(e, points.data() + 2 * i, 1, low.data(), scores.data());  // no sharing
    CHECK(std::equal(low.begin(), low.end(), batch_low.begin() + i * 3 * plane));
    CHECK(std::equal(scores.begin(), scores.end(), batch_scores.begin() + 3 * i));
    Prompt prompt;
    prompt.points.push_back({points[2 * i], points[2 * i + 1], 1});
    prompt.multimask = true;
    prompt.compute_high_res = false;
    const Prediction want = model->Predict(e, prompt);
    CHECK(want.scores == scores);
    CHECK(want.low_res == low);
  }
  double nan_point[2] = {NAN, 3};
  CHECK_THROWS_AS(model->PredictSinglePoints(e, nan_point, 1, batch_low.data(), batch_scores.data()), Error);
}

// segment without --embedding loads with LoadOptions::identity off: no
// encoder hash, and asking for the identity is a clear error, not an empty one.
TEST_CASE("LoadOptions::identity off skips the encoder hash; identity() then throws") {
  const SamConfig config = SamVitTinyTestConfig();
  const TensorMap tensors = MakeRandomSamTensors(config, 6);
  const auto with = SamModel::FromTensors(tensors, "random test weights");
  CHECK(with->identity().encoder_hash == EncoderWeightsHash(tensors));
  LoadOptions options;
  options.identity = false;
  const auto without = SamModel::FromTensors(tensors, "random test weights", options);
  try {
    (void)without->identity();
    FAIL("identity() answered for a model loaded without it");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("without its identity") != std::string::npos);
  }
}

TEST_CASE("HugePageBuffer keeps its contents until it grows, 2 MiB aligned") {
  HugePageBuffer b;
  CHECK(b.data() == nullptr);
  std::vector<float> src(3 << 18);  // 3 MiB: spans two huge pages
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i);
  b.Reserve(src.size());
  REQUIRE(b.size() == src.size());
  std::copy(src.begin(), src.end(), b.data());
  CHECK(reinterpret_cast<uintptr_t>(b.data()) % (2u << 20) == 0);
  CHECK(std::equal(src.begin(), src.end(), b.data()));
  float* before = b.data();
  b.Reserve(16);  // no smaller allocation
  CHECK(b.data() == before);
  CHECK(b.size() == src.size());
  CHECK(b.data()[12345] == 12345.0f);
  b.Reserve(src.size() + 1);
  CHECK(b.size() == src.size() + 1);
  b.data()[src.size()] = 1.0f;  // the new room is writable
}

}  // namespace
}  // namespace persam
