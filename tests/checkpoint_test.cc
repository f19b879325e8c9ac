// The .pth reader against the fixtures: every tensor of both fixture models
// (dtype, shape, sum, sum of squares, first values) and every value of the
// format cases (views, strides, shared storages, all dtypes, wrapped dicts,
// legacy format); inferred configs against manifest.json.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "tests/fixtures.h"
#include "weights/checkpoint.h"
#include "base/error.h"
#include "weights/json.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

using testing::FixturePath;
using testing::HaveFixtures;

DType DTypeFromName(const std::string& name) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI64, DType::kI32, DType::kI16,
                  DType::kI8, DType::kU8, DType::kBool}) {
    if (name == DTypeName(d)) return d;
  }
  FAIL("unknown dtype " << name);
  return DType::kF32;
}

std::vector<int64_t> ShapeOf(const JsonValue& v) {
  std::vector<int64_t> shape;
  for (const JsonValue& d : v.Items()) shape.push_back(d.AsInt64());
  return shape;
}

// Element i widened to double exactly (float64 and int64 included).
double ValueAt(const Tensor& t, int64_t i) {
  const uint8_t* p = t.data + static_cast<size_t>(i) * DTypeSize(t.dtype);
  switch (t.dtype) {
    case DType::kF64: { double d; std::memcpy(&d, p, 8); return d; }
    case DType::kI64: { int64_t x; std::memcpy(&x, p, 8); return static_cast<double>(x); }
    case DType::kF32: { float f; std::memcpy(&f, p, 4); return f; }
    case DType::kF16: { uint16_t h; std::memcpy(&h, p, 2); return HalfToFloat(h); }
    case DType::kBF16: { uint16_t h; std::memcpy(&h, p, 2); return BF16ToFloat(h); }
    case DType::kI32: { int32_t x; std::memcpy(&x, p, 4); return x; }
    case DType::kI16: { int16_t x; std::memcpy(&x, p, 2); return x; }
    case DType::kI8: return static_cast<int8_t>(*p);
    case DType::kU8: case DType::kBool: return *p;
  }
  return 0;
}

void CheckModelAgainstSummary(const std::string& model, const std::string& summary) {
  const Checkpoint ckpt = ReadCheckpoint(FixturePath(model));
  CHECK(ckpt.format == "pth");
  const JsonValue expected = ParseJsonFile(FixturePath(summary));
  REQUIRE(ckpt.tensors.size() == expected.size());
  for (const auto& member : expected.Members()) {
    CAPTURE(member.first);
    auto it = ckpt.tensors.find(member.first);
    REQUIRE(it != ckpt.tensors.end());
    const Tensor& t = it->second;
    CHECK(DTypeName(t.dtype) == member.second.At("dtype").AsString());
    REQUIRE(t.shape == ShapeOf(member.second.At("shape")));
    double sum = 0, sumsq = 0;
    for (int64_t i = 0; i < t.NumElements(); ++i) {
      const double v = ValueAt(t, i);
      sum += v;
      sumsq += v * v;
    }
    // float64 sums in another order: agree to a few ulps of the magnitude.
    const double sum_expected = member.second.At("sum").AsDouble();
    const double sumsq_expected = member.second.At("sumsq").AsDouble();
    CHECK(std::fabs(sum - sum_expected) <= 1e-9 * (sumsq_expected + 1.0));
    CHECK(std::fabs(sumsq - sumsq_expected) <= 1e-9 * (sumsq_expected + 1.0));
    const auto& first = member.second.At("first").Items();
    for (size_t i = 0; i < first.size(); ++i) CHECK(ValueAt(t, static_cast<int64_t>(i)) == first[i].AsDouble());
  }
}

TEST_CASE("pth: every tensor of the fixture ViT matches its recorded summary") {
  if (!HaveFixtures("pth ViT fixture")) return;
  CheckModelAgainstSummary("models/sam_vit_tiny.pth", "models/sam_vit_tiny.tensors.json");
}

TEST_CASE("pth: every tensor of the fixture MobileSAM (float16) matches its recorded summary") {
  if (!HaveFixtures("pth MobileSAM fixture")) return;
  CheckModelAgainstSummary("models/mobile_sam_rand_fp16.pth", "models/mobile_sam_rand_fp16.tensors.json");
}

TEST_CASE("pth: format cases, every value") {
  if (!HaveFixtures("pth format cases")) return;
  const JsonValue cases = ParseJsonFile(FixturePath("formats/format_cases.json")).At("cases");
  REQUIRE(cases.size() >= 3);
  for (const auto& file_case : cases.Members()) {
    CAPTURE(file_case.first);
    const Checkpoint ckpt = ReadCheckpoint(FixturePath("formats/" + file_case.first));
    const JsonValue& tensors = file_case.second.At("tensors");
    REQUIRE(ckpt.tensors.size() == tensors.size());
    for (const auto& member : tensors.Members()) {
      CAPTURE(member.first);
      auto it = ckpt.tensors.find(member.first);
      REQUIRE(it != ckpt.tensors.end());
      const Tensor& t = it->second;
      CHECK(t.dtype == DTypeFromName(member.second.At("dtype").AsString()));
      REQUIRE(t.shape == ShapeOf(member.second.At("shape")));
      const auto& values = member.second.At("values").Items();
      REQUIRE(static_cast<int64_t>(values.size()) == t.NumElements());
      for (size_t i = 0; i < values.size(); ++i) {
        const double expected = values[i].IsBool() ? (values[i].AsBool() ? 1.0 : 0.0) : values[i].AsDouble();
        CHECK(ValueAt(t, static_cast<int64_t>(i)) == expected);
      }
    }
  }
}

TEST_CASE("pth: legacy format is read and labelled") {
  if (!HaveFixtures("pth legacy")) return;
  CHECK(ReadCheckpoint(FixturePath("formats/legacy_format.pth")).format == "pth-legacy");
}

TEST_CASE("config inferred from the fixture ViT matches manifest.json") {
  if (!HaveFixtures("ViT config")) return;
  const JsonValue vit = ParseJsonFile(FixturePath("manifest.json")).At("models").At("vit");
  const Checkpoint ckpt = ReadCheckpoint(FixturePath(vit.At("file").AsString()));
  const SamConfig config = InferSamConfig(ckpt.tensors, ckpt.path);
  CHECK(config.encoder == EncoderKind::kVit);
  CHECK(config.vit.embed_dim == vit.At("embed_dim").AsInt64());
  CHECK(config.vit.depth == vit.At("depth").AsInt64());
  CHECK(config.vit.num_heads == vit.At("heads").AsInt64());
  CHECK(config.vit.window_size == vit.At("window").AsInt64());
  std::vector<int> global;
  for (const JsonValue& g : vit.At("global_idx").Items()) global.push_back(static_cast<int>(g.AsInt64()));
  CHECK(config.vit.global_blocks == global);
  CHECK(config.prompt_dim == vit.At("prompt_dim").AsInt64());
  CHECK(config.vit.head_dim == 32);
  CHECK(config.vit.mlp_dim == 4 * 96);
  CHECK(config.vit.grid == 64);
  CHECK(config.image_size == 1024);
  CHECK(config.decoder_depth == 2);
  CHECK(config.decoder_mlp_dim == 2048);
  CHECK(config.num_mask_tokens == 4);
  CHECK(config.iou_head_depth == 3);
  CHECK(config.iou_head_hidden == 256);
  // The tensor list covers the whole state dict: nothing unused in a ViT SAM.
  CHECK(UnusedTensors(ckpt.tensors, config).empty());
  CHECK(RequiredTensors(config).size() == ckpt.tensors.size());
}

TEST_CASE("config inferred from the fixture MobileSAM is the official vit_t") {
  if (!HaveFixtures("TinyViT config")) return;
  const Checkpoint ckpt = ReadCheckpoint(FixturePath("models/mobile_sam_rand_fp16.pth"));
  const SamConfig config = InferSamConfig(ckpt.tensors, ckpt.path);
  CHECK(config.encoder == EncoderKind::kTinyVit);
  CHECK(config.tinyvit.embed_dims == std::vector<int>{64, 128, 160, 320});
  CHECK(config.tinyvit.depths == std::vector<int>{2, 2, 6, 2});
  CHECK(config.tinyvit.num_heads == std::vector<int>{0, 4, 5, 10});
  CHECK(config.tinyvit.window_sizes == std::vector<int>{0, 7, 14, 7});
  CHECK(config.tinyvit.mlp_ratio == 4.0f);
  CHECK(config.tinyvit.mbconv_expand_ratio == 4.0f);
  CHECK(config.prompt_dim == 256);
  const SamConfig official = MobileSamConfig();
  CHECK(RequiredTensors(config).size() == RequiredTensors(official).size());
  // Unused: the classifier head, norm_head, and every num_batches_tracked.
  for (const std::string& name : UnusedTensors(ckpt.tensors, config)) {
    CAPTURE(name);
    const bool expected_unused = name.find("num_batches_tracked") != std::string::npos ||
                                 name.rfind("image_encoder.head.", 0) == 0 ||
                                 name.rfind("image_encoder.norm_head.", 0) == 0;
    CHECK(expected_unused);
  }
}

}  // namespace
}  // namespace persam
