// ViT image encoder and preprocessing against the golden fixtures (FIXTURES.md
// cases vit_encoder and vit_predictor): the Pillow resize exactly, module
// activations and the embedding within 1e-4 x max |reference|.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <memory>
#include <string>
#include <vector>

#include "engine/image.h"
#include "engine/image_encoder.h"
#include "engine/preprocess.h"
#include "engine/vit_encoder.h"
#include "kernels/resize.h"
#include "tests/fixtures.h"
#include "weights/checkpoint.h"
#include "weights/npy.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

using testing::FixturePath;
using testing::HaveFixtures;

struct Comparison {
  double max_abs_error = 0, max_abs_ref = 0, nmse = 0;
};

Comparison Compare(const float* got, const Tensor& ref) {
  const std::vector<float> r = ref.ToFloat32();
  Comparison c;
  double err2 = 0, ref2 = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double e = std::fabs(double(got[i]) - r[i]);
    if (!(e <= c.max_abs_error)) c.max_abs_error = e;  // NaN propagates
    c.max_abs_ref = std::max(c.max_abs_ref, std::fabs(double(r[i])));
    err2 += e * e;
    ref2 += double(r[i]) * r[i];
  }
  c.nmse = ref2 > 0 ? err2 / ref2 : err2;
  return c;
}

void CheckClose(const std::string& what, const float* got, const std::vector<int64_t>& shape,
                const Tensor& ref) {
  CAPTURE(what);
  REQUIRE(ShapeToString(shape) == ShapeToString(ref.shape));
  const Comparison c = Compare(got, ref);
  MESSAGE(what << ": max abs error " << c.max_abs_error << " (bound "
               << 1e-4 * c.max_abs_ref << "), nmse " << c.nmse);
  CHECK(c.max_abs_error <= 1e-4 * c.max_abs_ref);
}

// The vit fixture model, loaded once for the whole binary.
struct VitModel {
  TensorMap tensors;
  SamConfig config;
  std::unique_ptr<ImageEncoder> encoder;
};
const VitModel& Model() {
  static const VitModel model = [] {
    VitModel m;
    const std::string path = FixturePath("models/sam_vit_tiny.pth");
    m.tensors = ReadCheckpoint(path).tensors;
    m.config = InferSamConfig(m.tensors, path);
    m.encoder = MakeVitEncoder(m.tensors, m.config);
    return m;
  }();
  return model;
}

void CheckResized(const RgbImage& resized, const std::string& ref_name) {
  const Tensor ref = ReadNpy(FixturePath("ref/" + ref_name));
  REQUIRE(ref.dtype == DType::kU8);
  REQUIRE(ref.shape == std::vector<int64_t>{resized.height, resized.width, 3});
  size_t mismatches = 0;
  for (size_t i = 0; i < resized.pixels.size(); ++i) mismatches += resized.pixels[i] != ref.data[i];
  CHECK(mismatches == 0);
}

TEST_CASE("fixture model config is the documented small ViT") {
  if (!HaveFixtures("vit config")) return;
  const VitConfig& vc = Model().config.vit;
  CHECK(vc.embed_dim == 96);
  CHECK(vc.depth == 4);
  CHECK(vc.num_heads == 3);
  CHECK(vc.window_size == 14);
  CHECK(vc.global_blocks == std::vector<int>{1, 3});
}

TEST_CASE("vit_encoder: resize, activations and embedding match the reference") {
  if (!HaveFixtures("vit_encoder")) return;
  const VitModel& model = Model();
  const RgbImage image = LoadImage(FixturePath("perseg-mini/Images/cat/00.png"));
  const RgbImage resized = ResizeForModel(image);
  const InputSize size = ResizedSize(image.height, image.width);
  CHECK(resized.height == size.height);
  CHECK(resized.width == size.width);
  CheckResized(resized, "vit_enc_resized_u8.npy");

  const std::vector<float> input = PreprocessImage(image);
  REQUIRE(input.size() == size_t(3) * 1024 * 1024);
  std::map<std::string, std::vector<float>> acts;
  std::map<std::string, std::vector<int64_t>> shapes;
  const ActivationHook hook = [&](const std::string& module, const float* data,
                                  const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    acts[module].assign(data, data + n);
    shapes[module] = shape;
  };
  std::vector<float> embedding(256 * 64 * 64);
  StageTimings timings;
  model.encoder->Encode(input.data(), embedding.data(), &timings, hook);
  for (const char* module : {"patch_embed", "blocks.0", "blocks.1"}) {
    REQUIRE(acts.count(module) == 1);
    std::string file = std::string("ref/vit_enc_act_") + module + ".npy";
    std::replace(file.begin() + 4, file.end() - 4, '.', '_');
    CheckClose(module, acts[module].data(), shapes[module], ReadNpy(FixturePath(file)));
  }
  CheckClose("embedding", embedding.data(), {1, 256, 64, 64},
             ReadNpy(FixturePath("ref/vit_enc_embedding.npy")));
  CHECK(timings.Total() > 0);
  bool has_blocks = false;
  for (const auto& e : timings.entries()) has_blocks |= e.first.rfind("encoder.blocks", 0) == 0;
  CHECK(has_blocks);

  // Encoding is deterministic and the reused workspace carries no state.
  std::vector<float> again(embedding.size());
  model.encoder->Encode(input.data(), again.data(), nullptr);
  CHECK(std::memcmp(again.data(), embedding.data(), again.size() * sizeof(float)) == 0);
}

TEST_CASE("vit_predictor: embedding of a second image matches the reference") {
  if (!HaveFixtures("vit_predictor embedding")) return;
  const VitModel& model = Model();
  const RgbImage image = LoadImage(FixturePath("perseg-mini/Images/cat/01.png"));
  CheckResized(ResizeForModel(image), "vit_pred_resized_u8.npy");
  const std::vector<float> input = PreprocessImage(image);
  std::vector<float> embedding(256 * 64 * 64);
  model.encoder->Encode(input.data(), embedding.data(), nullptr);
  CheckClose("embedding", embedding.data(), {1, 256, 64, 64},
             ReadNpy(FixturePath("ref/vit_pred_embedding.npy")));
}

TEST_CASE("vit_encoder: the MLP in small row chunks gives the same embedding") {
  // The default runs the MLP on all 4096 tokens at once; 100 rows (4096 =
  // 40 x 100 + 96) covers many chunks and a short last one. Rows are
  // independent, so the result must be bit for bit the default encoder's,
  // and match the reference.
  if (!HaveFixtures("vit_encoder chunked MLP")) return;
  const VitModel& model = Model();
  VitEncoder chunked(model.tensors, model.config);
  chunked.set_mlp_chunk_rows(100);
  const std::vector<float> input =
      PreprocessImage(LoadImage(FixturePath("perseg-mini/Images/cat/00.png")));
  std::vector<float> expected(256 * 64 * 64), got(expected.size());
  model.encoder->Encode(input.data(), expected.data(), nullptr);
  chunked.Encode(input.data(), got.data(), nullptr);
  CheckClose("embedding (100-row MLP chunks)", got.data(), {1, 256, 64, 64},
             ReadNpy(FixturePath("ref/vit_enc_embedding.npy")));
  CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
}

TEST_CASE("preprocessing: sizes, normalisation and zero padding") {
  CHECK(ResizedSize(1024, 1024).height == 1024);
  const InputSize s = ResizedSize(480, 640);
  CHECK(s.height == 768);
  CHECK(s.width == 1024);
  // int(h * scale + 0.5): 333 * 1024 / 500 = 681.98 -> 682.
  CHECK(ResizedSize(333, 500).height == 682);
  CHECK(ResizedSize(1, 3000).height == 0);
  CHECK_THROWS(ResizedSize(0, 10));

  RgbImage image;
  image.height = 512;
  image.width = 256;
  image.pixels.assign(size_t(512) * 256 * 3, 0);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i % 251);
  const RgbImage resized = ResizeForModel(image);
  REQUIRE(resized.height == 1024);
  REQUIRE(resized.width == 512);
  const std::vector<float> input = PreprocessImage(image);
  // Already at the model size: resizing again is the identity (Pillow skips
  // passes whose size does not change), so either image may be given.
  CHECK(PreprocessImage(resized) == input);
  const float mean[3] = {123.675f, 116.28f, 103.53f};
  const float stdev[3] = {58.395f, 57.12f, 57.375f};
  for (int c = 0; c < 3; ++c) {
    for (int y : {0, 517, 1023}) {
      for (int x : {0, 311, 511}) {
        const float v = resized.pixels[(size_t(y) * 512 + x) * 3 + c];
        CHECK(input[(size_t(c) * 1024 + y) * 1024 + x] == (v - mean[c]) / stdev[c]);
      }
      for (int x : {512, 1023}) CHECK(input[(size_t(c) * 1024 + y) * 1024 + x] == 0.0f);
    }
  }
}

TEST_CASE("postprocessing: constant maps stay constant, sizes follow the original") {
  const int count = 2, orig_h = 300, orig_w = 500;
  std::vector<float> low(size_t(count) * 256 * 256);
  std::fill(low.begin(), low.begin() + 256 * 256, 1.5f);
  std::fill(low.begin() + 256 * 256, low.end(), -2.0f);
  const std::vector<float> out = PostprocessMaps(low.data(), count, 256, 256, orig_h, orig_w);
  REQUIRE(out.size() == size_t(count) * orig_h * orig_w);
  CHECK(*std::min_element(out.begin(), out.begin() + orig_h * orig_w) == 1.5f);
  CHECK(*std::max_element(out.begin(), out.begin() + orig_h * orig_w) == 1.5f);
  CHECK(*std::min_element(out.begin() + orig_h * orig_w, out.end()) == -2.0f);
  CHECK_THROWS(PostprocessMaps(low.data(), 0, 256, 256, orig_h, orig_w));
}

TEST_CASE("postprocessing: equals the reference's resize, crop and resize bit for bit") {
  // PostprocessMaps computes only the kept window and skips the second resize
  // when it is a same-size copy; the result must still be what the
  // reference's three steps give (kernels::ResizeBilinear is itself checked
  // against torch's formulas in kernels_tests).
  std::mt19937 rng(8);
  std::normal_distribution<float> dist(0.0f, 8.0f);
  struct Case {
    int count, orig_h, orig_w;
  };
  // One buffer reused across the cases (growing and shrinking), NaN-filled
  // before each: PostprocessMapsInto must write every element.
  std::vector<float> reused;
  for (const Case c : {Case{3, 1024, 768}, Case{1, 683, 1024}, Case{3, 300, 500},
                       Case{1, 1500, 1100}, Case{2, 1024, 1024}}) {
    CAPTURE(c.count);
    CAPTURE(c.orig_h);
    CAPTURE(c.orig_w);
    std::vector<float> low(size_t(c.count) * 256 * 256);
    for (float& v : low) v = dist(rng);
    const auto rounding = c.count == 1 ? kernels::BilinearRounding::kTorchSingleChannel
                                       : kernels::BilinearRounding::kTorchMultiChannel;
    const InputSize in = ResizedSize(c.orig_h, c.orig_w);
    std::vector<float> full(size_t(c.count) * 1024 * 1024), crop(size_t(c.count) * in.height * in.width);
    kernels::ResizeBilinear(low.data(), c.count, 256, 256, full.data(), 1024, 1024, rounding);
    for (int m = 0; m < c.count; ++m) {
      for (int y = 0; y < in.height; ++y) {
        std::copy_n(full.data() + (size_t(m) * 1024 + y) * 1024, in.width,
                    crop.data() + (size_t(m) * in.height + y) * in.width);
      }
    }
    std::vector<float> want(size_t(c.count) * c.orig_h * c.orig_w);
    kernels::ResizeBilinear(crop.data(), c.count, in.height, in.width, want.data(), c.orig_h,
                            c.orig_w, rounding);
    const std::vector<float> got = PostprocessMaps(low.data(), c.count, 256, 256, c.orig_h, c.orig_w);
    REQUIRE(got.size() == want.size());
    CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
    std::fill(reused.begin(), reused.end(), std::numeric_limits<float>::quiet_NaN());
    PostprocessMapsInto(low.data(), c.count, 256, 256, c.orig_h, c.orig_w, &reused);
    REQUIRE(reused.size() == want.size());
    CHECK(std::memcmp(reused.data(), want.data(), reused.size() * sizeof(float)) == 0);
  }
}

}  // namespace
}  // namespace persam
