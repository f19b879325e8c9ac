// Pre-packed float32 GEMM weights (`persam convert --packed`,
// engine/packed_weights_file.h): a packed file gives bit for bit the plain
// file's embeddings, masks and identity; panels in another layout are
// ignored; a malformed packed tensor is refused naming it.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/packed_weights_file.h"
#include "engine/sam_model.h"
#include "weights/checkpoint.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

std::string TempFile(const std::string& name) {
  return "/tmp/persam_packed_test_" + std::to_string(getpid()) + "_" + name + ".safetensors";
}

RgbImage TestImage() {
  RgbImage image;
  image.height = 120;
  image.width = 160;
  image.pixels.resize(size_t(image.height) * image.width * 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>((i * 37 + i / 480) % 251);
  return image;
}

struct Outputs {
  std::vector<float> embedding, low_res, scores;
  std::string identity;
};

Outputs Run(const SamModel& model) {
  Outputs out;
  const ImageEmbedding e = model.EncodeImage(TestImage());
  Prompt prompt;
  prompt.points.push_back(PointPrompt{50.5, 40.0, 1});
  prompt.multimask = true;
  prompt.compute_high_res = false;
  const Prediction p = model.Predict(e, prompt);
  out.embedding = e.data;
  out.low_res = p.low_res;
  out.scores = p.scores;
  out.identity = model.identity().encoder_hash;
  return out;
}

// `tensors` and their packed panels, as `persam convert --packed` adds them.
TensorMap WithPackedPanels(const TensorMap& tensors, const std::string& source) {
  TensorMap packed = tensors;
  AddPackedTensors(PackableWeights(tensors, source), &packed);
  return packed;
}

// `tensors` with packed panels, as `persam convert --packed` writes them.
void WritePacked(const std::string& path, const TensorMap& plain, const SamConfig& config, const std::string& tag) {
  const TensorMap tensors = WithPackedPanels(plain, path);
  std::map<std::string, std::string> metadata = ConfigToMetadata(config);
  metadata[kPackedLayoutKey] = tag;
  SafetensorsWriteOptions options;
  options.first = IsPackedTensorName;
  WriteSafetensors(path, tensors, metadata, options);
}

void CheckRoundTrip(const SamConfig& config, size_t expected_packed) {
  const TensorMap tensors = MakeRandomSamTensors(config, 7);
  const std::vector<PackableWeight> packable = PackableWeights(tensors, "random");
  CHECK(packable.size() == expected_packed);
  const std::string plain_path = TempFile("plain"), packed_path = TempFile("packed");
  WriteSafetensors(plain_path, tensors, ConfigToMetadata(config));
  WritePacked(packed_path, tensors, config, PackedLayoutTag());

  // Every packed tensor starts 64-byte aligned (the map is page aligned).
  const Checkpoint packed_file = ReadCheckpoint(packed_path);
  size_t packed_count = 0;
  for (const auto& [name, t] : packed_file.tensors) {
    if (!IsPackedTensorName(name)) continue;
    ++packed_count;
    CHECK_MESSAGE(reinterpret_cast<uintptr_t>(t.data) % 64 == 0, name);
  }
  CHECK(packed_count == expected_packed);

  const Outputs plain = Run(*SamModel::Load(plain_path));
  const Outputs packed = Run(*SamModel::Load(packed_path));
  CHECK(packed.embedding == plain.embedding);  // bit for bit
  CHECK(packed.low_res == plain.low_res);
  CHECK(packed.scores == plain.scores);
  CHECK(packed.identity == plain.identity);

  // The panels are what runs: zeroed panels (the tag still this build's)
  // change the embedding.
  TensorMap zeroed = ReadCheckpoint(packed_path).tensors;
  std::vector<std::vector<float>> zeros;
  for (auto& [name, t] : zeroed) {
    if (!IsPackedTensorName(name)) continue;
    zeros.emplace_back(size_t(t.NumElements()), 0.0f);
    t = Tensor::FromFloat32(t.shape, zeros.back().data());
  }
  CHECK(SamModel::FromTensors(zeroed, "zeroed")->EncodeImage(TestImage()).data != plain.embedding);

  std::remove(plain_path.c_str());
  std::remove(packed_path.c_str());
}

TEST_CASE("a packed ViT file gives bit for bit the plain file's embedding, masks and identity") {
  // vit_tiny: depth 4 x (qkv, proj, lin1, lin2) + patch embedding, and the
  // mask decoder's 47 Linears (2 layers x 14, final attention 4,
  // hypernetworks 4 x 3, IoU head 3).
  CheckRoundTrip(SamVitTinyTestConfig(), 17 + 47);
}

TEST_CASE("a packed MobileSAM file gives bit for bit the plain file's embedding, masks and identity") {
  // TinyViT: the attention blocks' qkv, proj, fc1, fc2 (2 + 6 + 2 blocks),
  // and the mask decoder's 47 Linears.
  CheckRoundTrip(MobileSamConfig(), 40 + 47);
}

TEST_CASE("packed panels in another layout are ignored: the plain tensors are packed at load") {
  const SamConfig config = SamVitTinyTestConfig();
  TensorMap tensors = MakeRandomSamTensors(config, 3);
  const std::string plain_path = TempFile("plain2"), other_path = TempFile("other");
  WriteSafetensors(plain_path, tensors, ConfigToMetadata(config));
  // Garbage panels under a future layout's tag: never read.
  TensorMap other = WithPackedPanels(tensors, "random");
  std::vector<std::vector<float>> garbage;
  for (auto& [name, t] : other) {
    if (!IsPackedTensorName(name)) continue;
    garbage.emplace_back(size_t(t.NumElements()), 1e30f);
    t = Tensor::FromFloat32(t.shape, garbage.back().data());
  }
  std::map<std::string, std::string> metadata = ConfigToMetadata(config);
  metadata[kPackedLayoutKey] = "f32-panels-v999 nr=64 k-major";
  WriteSafetensors(other_path, other, metadata);
  const Checkpoint read = ReadCheckpoint(other_path);
  std::string note;
  const TensorMap usable = UsablePackedTensors(read.tensors, read.metadata, &note);
  CHECK(usable.size() == tensors.size());
  CHECK(note.find("v999") != std::string::npos);
  CHECK(note.find("ignored") != std::string::npos);
  CHECK(Run(*SamModel::Load(other_path)).embedding == Run(*SamModel::Load(plain_path)).embedding);
  std::remove(plain_path.c_str());
  std::remove(other_path.c_str());
}

TEST_CASE("a packed tensor of the wrong shape or dtype is refused, naming it and the file") {
  const SamConfig config = SamVitTinyTestConfig();
  const TensorMap tensors = MakeRandomSamTensors(config, 5);
  TensorMap packed = WithPackedPanels(tensors, "random");
  const std::string victim = "image_encoder.blocks.1.mlp.lin1.weight" + std::string(kPackedF32Suffix);
  REQUIRE(packed.count(victim) == 1);
  SUBCASE("a panel short (a truncated tensor)") {
    Tensor& t = packed[victim];
    t.shape[0] -= 1;
  }
  SUBCASE("float16 bytes") {
    Tensor& t = packed[victim];
    t.dtype = DType::kF16;
  }
  const std::string path = TempFile("bad");
  std::map<std::string, std::string> metadata = ConfigToMetadata(config);
  metadata[kPackedLayoutKey] = PackedLayoutTag();
  WriteSafetensors(path, packed, metadata);
  try {
    SamModel::Load(path);
    FAIL("a malformed packed tensor was accepted");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK_MESSAGE(message.find(victim) != std::string::npos, message);
    CHECK_MESSAGE(message.find(path) != std::string::npos, message);
    CHECK_MESSAGE(message.find("persam convert --packed") != std::string::npos, message);
  }
  std::remove(path.c_str());
}

TEST_CASE("bf16 and int8 loads of a packed file ignore the float32 panels") {
  const SamConfig config = SamVitTinyTestConfig();
  const TensorMap tensors = MakeRandomSamTensors(config, 9);
  TensorMap packed = WithPackedPanels(tensors, "random");
  for (const Precision precision : {Precision::kBF16, Precision::kInt8}) {
    LoadOptions options;
    options.precision = precision;
    CHECK(SamModel::FromTensors(packed, "packed", options)->EncodeImage(TestImage()).data ==
          SamModel::FromTensors(tensors, "plain", options)->EncodeImage(TestImage()).data);
  }
}

}  // namespace
}  // namespace persam
