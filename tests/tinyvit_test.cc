// TinyViT (MobileSAM) encoder: load-time helpers, the row-banded conv kernels
// against double-precision references, and parity with the golden fixtures.
#include "tests/kernels_test_util.h"  // first: the kernels' target policy

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/image_encoder.h"
#include "engine/tinyvit_encoder.h"
#include "kernels/conv_rows.h"
#include "kernels/gemm.h"
#include "tests/fixtures.h"
#include "weights/cast.h"
#include "weights/checkpoint.h"
#include "base/error.h"
#include "weights/npy.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

using kernels::testing_kernels::ForEachTarget;

double GeluRef(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

TEST_CASE("attention bias indices number (|dy|, |dx|) offsets in first-appearance order") {
  for (int ws : {1, 2, 7, 14}) {
    int offsets = 0;
    const std::vector<int> idx = AttentionBiasIndices(ws, &offsets);
    const int n = ws * ws;
    REQUIRE(offsets == n);
    REQUIRE(idx.size() == static_cast<size_t>(n) * n);
    // Query (0, 0) meets every offset first, in row-major order, so the
    // offset (a, b) is numbered a * ws + b.
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        const int dy = std::abs(i / ws - j / ws), dx = std::abs(i % ws - j % ws);
        REQUIRE(idx[static_cast<size_t>(i) * n + j] == dy * ws + dx);
      }
    }
  }
}

// y = x W^T through a packed Linear: what the encoder computes with it.
std::vector<float> ApplyLinear(const LinearWeights& l, const std::vector<float>& x, int m) {
  std::vector<float> y(static_cast<size_t>(m) * l.n());
  l.Apply(m, x.data(), l.k(), kernels::GemmEpilogue{}, y.data(), l.n());
  return y;
}

TEST_CASE("PackLinearWeight packs float32 bytes in place and other dtypes through float32, the same values") {
  const int n = 40, k = 24, m = 3;  // n past one 32-column panel
  const std::vector<float> w = RandomVector(static_cast<size_t>(n) * k, 11);
  const std::vector<float> x = RandomVector(static_cast<size_t>(m) * k, 12);
  TensorMap t;
  t["f32"] = Tensor::FromFloat32({n, k}, w.data());
  // bf16 of the same values: packed from their float32 widening.
  auto bf16 = std::make_shared<std::vector<uint8_t>>(w.size() * 2);
  CastElements(reinterpret_cast<const uint8_t*>(w.data()), DType::kF32, bf16->data(), DType::kBF16, w.size());
  Tensor b;
  b.dtype = DType::kBF16;
  b.shape = {n, k};
  b.data = bf16->data();
  b.owner = bf16;
  t["bf16"] = b;
  for (const Precision precision : {Precision::kF32, Precision::kBF16, Precision::kInt8}) {
    CAPTURE(PrecisionName(precision));
    const std::vector<float> direct = ApplyLinear(PackLinearWeight(t, "f32", {n, k}, precision), x, m);
    const std::vector<float> copied = ApplyLinear(LinearWeights::Pack(w.data(), n, k, k, precision), x, m);
    CHECK(direct == copied);  // bit for bit: the same packed values
    const std::vector<float> widened = t["bf16"].ToFloat32();
    CHECK(ApplyLinear(PackLinearWeight(t, "bf16", {n, k}, precision), x, m) ==
          ApplyLinear(LinearWeights::Pack(widened.data(), n, k, k, precision), x, m));
  }
  try {
    PackLinearWeight(t, "f32", {k, n}, Precision::kF32);
    FAIL("a transposed shape was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("f32") != std::string::npos);
  }
  CHECK_THROWS_AS(PackLinearWeight(t, "missing", {n, k}, Precision::kF32), Error);
}

TEST_CASE("PatchMerging keeps the resolution for out_dim 320/448/576 only") {
  CHECK(PatchMergingStride(128) == 2);
  CHECK(PatchMergingStride(160) == 2);
  CHECK(PatchMergingStride(256) == 2);
  CHECK(PatchMergingStride(320) == 1);
  CHECK(PatchMergingStride(448) == 1);
  CHECK(PatchMergingStride(576) == 1);
}

TEST_CASE("Conv2d_BN folding equals conv followed by eval BatchNorm") {
  const int out = 5, in = 3, k = 3;
  TensorMap t;
  const std::vector<float> w = RandomVector(out * in * k * k, 1);
  const std::vector<float> gamma = RandomVector(out, 2, 0.5f, 2.0f);
  const std::vector<float> beta = RandomVector(out, 3);
  const std::vector<float> mean = RandomVector(out, 4);
  const std::vector<float> var = RandomVector(out, 5, 0.0f, 3.0f);
  t["m.c.weight"] = Tensor::FromFloat32({out, in, k, k}, w.data());
  t["m.bn.weight"] = Tensor::FromFloat32({out}, gamma.data());
  t["m.bn.bias"] = Tensor::FromFloat32({out}, beta.data());
  t["m.bn.running_mean"] = Tensor::FromFloat32({out}, mean.data());
  t["m.bn.running_var"] = Tensor::FromFloat32({out}, var.data());
  const FoldedConv f = FoldConv2dBn(t, "m");
  REQUIRE(f.out_channels == out);
  REQUIRE(f.in_per_group == in);
  REQUIRE(f.kernel == k);
  const std::vector<float> x = RandomVector(in * k * k, 6);
  for (int o = 0; o < out; ++o) {
    double conv = 0, folded = f.bias[o];
    for (int i = 0; i < in * k * k; ++i) {
      conv += static_cast<double>(w[o * in * k * k + i]) * x[i];
      folded += static_cast<double>(f.weight[o * in * k * k + i]) * x[i];
    }
    const double bn = (conv - mean[o]) / std::sqrt(var[o] + 1e-5) * gamma[o] + beta[o];
    CHECK(folded == doctest::Approx(bn).epsilon(1e-6));
  }
  t.erase("m.bn.running_var");
  CHECK_THROWS_AS(FoldConv2dBn(t, "m"), Error);
}

// Double-precision depthwise 3x3 (pad 1) at one output position.
double DepthwiseRef(const std::vector<float>& in, int h, int w, int c, int stride,
                    const std::vector<float>& wt, const std::vector<float>& bias, int oy, int ox,
                    int ch) {
  double acc = bias[ch];
  for (int ky = 0; ky < 3; ++ky) {
    for (int kx = 0; kx < 3; ++kx) {
      const int y = oy * stride + ky - 1, x = ox * stride + kx - 1;
      if (y < 0 || y >= h || x < 0 || x >= w) continue;
      acc += static_cast<double>(wt[ch * 9 + ky * 3 + kx]) * in[(static_cast<size_t>(y) * w + x) * c + ch];
    }
  }
  return acc;
}

TEST_CASE("DepthwiseConv3x3HwcRows matches a double reference (strides, bands, tails, GELU)") {
  ForEachTarget([](const char* target) {
    INFO("target " << target);
    for (int c : {1, 15, 16, 17, 48, 130}) {
      for (int hw : {1, 2, 7, 8}) {
        for (int stride : {1, 2}) {
          for (bool gelu : {false, true}) {
            const int h = hw, w = hw + 1;
            const int oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1;
            const std::vector<float> in = RandomVector(static_cast<size_t>(h) * w * c, 10 + c + hw);
            const std::vector<float> wt = RandomVector(static_cast<size_t>(c) * 9, 20 + c);
            const std::vector<float> bias = RandomVector(c, 30 + c);
            // Two bands, the second reading its input through a row offset:
            // only rows [in_row_begin, h) of the image are passed.
            const int split = oh / 2;
            std::vector<float> out(static_cast<size_t>(oh) * ow * c + 1,
                                   std::numeric_limits<float>::quiet_NaN());
            const float guard = out.back() = 12345.0f;
            const kernels::Epilogue act = gelu ? kernels::Epilogue::kGelu : kernels::Epilogue::kNone;
            kernels::DepthwiseConv3x3HwcRows(in.data(), 0, h, w, c, stride, wt.data(), bias.data(),
                                             act, 0, split, out.data());
            const int row0 = std::max(0, split * stride - 1);
            const std::vector<float> band(in.begin() + static_cast<size_t>(row0) * w * c, in.end());
            kernels::DepthwiseConv3x3HwcRows(band.data(), row0, h, w, c, stride, wt.data(),
                                             bias.data(), act, split, oh,
                                             out.data() + static_cast<size_t>(split) * ow * c);
            REQUIRE(out.back() == guard);
            double max_err = 0;
            for (int oy = 0; oy < oh; ++oy) {
              for (int ox = 0; ox < ow; ++ox) {
                for (int ch = 0; ch < c; ++ch) {
                  double ref = DepthwiseRef(in, h, w, c, stride, wt, bias, oy, ox, ch);
                  if (gelu) ref = GeluRef(ref);
                  const float got = out[(static_cast<size_t>(oy) * ow + ox) * c + ch];
                  max_err = std::max(max_err, std::fabs(got - ref));
                  REQUIRE(std::isfinite(got));
                }
              }
            }
            // 10 terms of magnitude <= 1: a few float ulps of 10, plus the
            // GELU approximation.
            CHECK(max_err < 1e-5);
          }
        }
      }
    }
  });
}

TEST_CASE("Im2ColRows + permuted weights compute the PyTorch convolution (HWC and CHW)") {
  for (int kernel : {1, 3}) {
    for (int stride : {1, 2}) {
      const int pad = kernel / 2, h = 7, w = 6, c = 5, cout = 3;
      const int oh = kernels::ConvOutSize(h, kernel, stride, pad);
      const int ow = kernels::ConvOutSize(w, kernel, stride, pad);
      const std::vector<float> hwc = RandomVector(static_cast<size_t>(h) * w * c, 40);
      std::vector<float> chw(hwc.size());
      for (int p = 0; p < h * w; ++p) {
        for (int ch = 0; ch < c; ++ch) chw[static_cast<size_t>(ch) * h * w + p] = hwc[p * c + ch];
      }
      const std::vector<float> wt = RandomVector(static_cast<size_t>(cout) * c * kernel * kernel, 41);
      const std::vector<float> wk = kernels::PermuteConvWeightKkc(wt.data(), cout, c, kernel);
      const int k = kernel * kernel * c;
      for (bool is_chw : {false, true}) {
        std::vector<float> cols(static_cast<size_t>(oh) * ow * k, std::numeric_limits<float>::quiet_NaN());
        // Two calls over row ranges, as the encoder's bands do.
        const int split = oh / 2;
        for (auto [r0, r1] : {std::pair<int, int>(0, split), std::pair<int, int>(split, oh)}) {
          // The second band reads its input through a row offset.
          const int row0 = std::max(0, r0 * stride - pad);
          const float* base = is_chw ? chw.data() : hwc.data() + static_cast<size_t>(row0) * w * c;
          kernels::Im2ColRows(base, is_chw ? 0 : row0, h, w, c, is_chw ? 1 : c,
                              is_chw ? static_cast<int64_t>(h) * w : 1, kernel, stride, pad, r0, r1,
                              cols.data() + static_cast<size_t>(r0) * ow * k);
        }
        for (int oy = 0; oy < oh; ++oy) {
          for (int ox = 0; ox < ow; ++ox) {
            for (int o = 0; o < cout; ++o) {
              double ref = 0, got = 0;
              for (int ch = 0; ch < c; ++ch) {
                for (int ky = 0; ky < kernel; ++ky) {
                  for (int kx = 0; kx < kernel; ++kx) {
                    const int y = oy * stride + ky - pad, x = ox * stride + kx - pad;
                    if (y < 0 || y >= h || x < 0 || x >= w) continue;
                    ref += static_cast<double>(wt[((o * c + ch) * kernel + ky) * kernel + kx]) *
                           hwc[(static_cast<size_t>(y) * w + x) * c + ch];
                  }
                }
              }
              for (int i = 0; i < k; ++i) {
                got += static_cast<double>(wk[static_cast<size_t>(o) * k + i]) *
                       cols[(static_cast<size_t>(oy) * ow + ox) * k + i];
              }
              REQUIRE(got == doctest::Approx(ref).epsilon(1e-12));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("TransposeMatrix") {
  for (auto [rows, cols] : {std::pair<int, int>(1, 1), {3, 70}, {65, 33}}) {
    const std::vector<float> a = RandomVector(static_cast<size_t>(rows) * cols, 50);
    std::vector<float> t(a.size());
    kernels::TransposeMatrix(a.data(), rows, cols, t.data());
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) REQUIRE(t[static_cast<size_t>(c) * rows + r] == a[static_cast<size_t>(r) * cols + c]);
    }
  }
}

TEST_CASE("TinyViT encoder construction names the missing or misshapen tensor") {
  const SamConfig config = MobileSamConfig();
  TensorMap tensors = MakeRandomSamTensors(config, /*seed=*/3);
  const std::string qkv = "image_encoder.layers.2.blocks.4.attn.qkv.weight";
  TensorMap missing = tensors;
  missing.erase(qkv);
  CHECK_THROWS_WITH_AS(MakeTinyVitEncoder(missing, config), doctest::Contains(qkv.c_str()), Error);
  TensorMap misshapen = tensors;
  const std::vector<float> small(40, 0.0f);  // [4, 10] (FromFloat32 reads 40)
  misshapen["image_encoder.layers.1.blocks.0.attn.attention_biases"] = Tensor::FromFloat32({4, 10}, small.data());
  CHECK_THROWS_WITH_AS(MakeTinyVitEncoder(misshapen, config),
                       doctest::Contains("layers.1.blocks.0.attn.attention_biases"), Error);
  // A config whose strides do not reach the 64 x 64 neck grid is rejected.
  SamConfig bad = config;
  bad.embed_grid = 32;
  CHECK_THROWS_AS(MakeTinyVitEncoder(tensors, bad), Error);
}

// max |got - ref| <= 1e-4 * max |ref| (FIXTURES.md, encoder activations).
void CheckClose(const std::string& what, const float* got, const Tensor& ref_tensor,
                const std::vector<int64_t>& shape) {
  INFO(what);
  REQUIRE(ref_tensor.shape == shape);
  const std::vector<float> ref = ref_tensor.ToFloat32();
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    REQUIRE(std::isfinite(got[i]));
    max_err = std::max(max_err, static_cast<double>(std::fabs(got[i] - ref[i])));
    max_ref = std::max(max_ref, static_cast<double>(std::fabs(ref[i])));
  }
  std::printf("tinyvit parity %s: max abs err %.3g (max abs ref %.3g, ratio %.3g)\n", what.c_str(),
              max_err, max_ref, max_err / max_ref);
  CHECK(max_err <= 1e-4 * max_ref);
}

TEST_CASE("TinyViT encoder matches the reference stage outputs and embedding (tinyvit_encoder)") {
  if (!testing::HaveFixtures("tinyvit_encoder")) return;
  const Checkpoint ckpt = ReadCheckpoint(testing::FixturePath("models/mobile_sam_rand_fp16.pth"));
  const SamConfig config = InferSamConfig(ckpt.tensors, ckpt.path);
  REQUIRE(config.encoder == EncoderKind::kTinyVit);
  ValidateTensors(ckpt.tensors, config, ckpt.path);
  const std::unique_ptr<ImageEncoder> encoder = MakeTinyVitEncoder(ckpt.tensors, config);

  // Input: the Pillow-resized cat/00.png of the fixtures (the same image as
  // this case, resize checked by the ViT case), normalised and zero padded
  // as REFERENCE.md section 1 says.
  const Tensor resized = ReadNpy(testing::FixturePath("ref/vit_enc_resized_u8.npy"));
  REQUIRE(resized.shape.size() == 3);
  const int rh = static_cast<int>(resized.shape[0]), rw = static_cast<int>(resized.shape[1]);
  const std::vector<float> pixels = resized.ToFloat32();
  const float mean[3] = {123.675f, 116.28f, 103.53f}, stdev[3] = {58.395f, 57.12f, 57.375f};
  std::vector<float> input(3 * 1024 * 1024, 0.0f);
  for (int ch = 0; ch < 3; ++ch) {
    for (int y = 0; y < rh; ++y) {
      for (int x = 0; x < rw; ++x) {
        input[(static_cast<size_t>(ch) * 1024 + y) * 1024 + x] =
            (pixels[(static_cast<size_t>(y) * rw + x) * 3 + ch] - mean[ch]) / stdev[ch];
      }
    }
  }
  std::vector<float> embedding(256 * 64 * 64, std::numeric_limits<float>::quiet_NaN());
  std::vector<std::string> seen;
  encoder->Encode(input.data(), embedding.data(), nullptr,
                  [&](const std::string& module, const float* data, const std::vector<int64_t>& shape) {
                    seen.push_back(module);
                    if (module == "layers.1" || module == "layers.3") {
                      const std::string file = "ref/tinyvit_enc_act_layers_" + module.substr(7) + ".npy";
                      CheckClose(module, data, ReadNpy(testing::FixturePath(file)), shape);
                    }
                  });
  CHECK(std::count(seen.begin(), seen.end(), "layers.1") == 1);
  CHECK(std::count(seen.begin(), seen.end(), "layers.3") == 1);
  CheckClose("embedding", embedding.data(), ReadNpy(testing::FixturePath("ref/tinyvit_enc_embedding.npy")),
             {1, 256, 64, 64});
}

}  // namespace
}  // namespace persam
