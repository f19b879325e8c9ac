// Resamplers (exactness: hand-computed cases, Pillow fixtures) and the
// convolution helpers against direct double-precision convolutions.
#include "tests/kernels_test_util.h"  // first: target policy

#include <doctest/doctest.h>

// Static: no clash with an stb_image implementation elsewhere in the link.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/conv.h"
#include "kernels/resize.h"
#include "tests/fixtures.h"
#include "weights/npy.h"

namespace persam::kernels {
namespace {

using testing_kernels::ForEachTarget;
using testing_kernels::Guarded;
using testing_kernels::kEps;

TEST_CASE("ResizeBilinear: hand-computed PyTorch results") {
  // interpolate([[1, 2], [3, 4]], (4, 4), bilinear, align_corners=False).
  const float in[4] = {1, 2, 3, 4};
  float out[16];
  ResizeBilinear(in, 1, 2, 2, out, 4, 4);
  const float want[16] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f,
                          2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
  for (int i = 0; i < 16; ++i) CHECK(out[i] == want[i]);
  // 1 x 4 -> 1 x 2: src = 0.5, 2.5 -> means of pairs; the unchanged axis is copied.
  const float row[4] = {1, 2, 3, 5};
  float half[2];
  ResizeBilinear(row, 1, 1, 4, half, 1, 2);
  CHECK(half[0] == 1.5f);
  CHECK(half[1] == 4.0f);
  // 13 -> 5 (unit impulse probe of torch 1.13): output 2 mixes inputs 5 and 6
  // with weights 2.3841858e-07 and 0.99999976 (src = 5.99999976 in double).
  std::vector<float> impulse(13, 0.0f);
  impulse[6] = 1.0f;
  float o5[5];
  ResizeBilinear(impulse.data(), 1, 13, 1, o5, 5, 1);
  CHECK(o5[2] == 0.99999976f);
  CHECK_THROWS(ResizeBilinear(in, 1, 0, 2, out, 4, 4));
}

TEST_CASE("ResizeBilinear: torch 1.13's two kernels bit for bit") {
  // x = ((i * 7) % 11) / 3 as [1, C, 3, 3] -> (5, 4); expected values printed
  // by torch 1.13 (float.hex): C = 2 runs torch's generic kernel, C = 1 its
  // channels-last kernel, which round differently.
  std::vector<float> x(18);
  for (int i = 0; i < 18; ++i) x[i] = static_cast<float>((i * 7) % 11) / 3.0f;
  const float want_multi[40] = {
      0x0.0p+0f, 0x1.755554p+0f, 0x1.d55554p+0f, 0x1.000000p+0f,
      0x1.555556p+0f, 0x1.e00000p+0f, 0x1.b33332p+0f, 0x1.bbbbbcp-1f,
      0x1.aaaaaap+1f, 0x1.400000p+1f, 0x1.800000p+0f, 0x1.555556p-1f,
      0x1.911110p+1f, 0x1.266666p+1f, 0x1.4cccccp+0f, 0x1.dddddcp-2f,
      0x1.800000p+1f, 0x1.155554p+1f, 0x1.2aaaaap+0f, 0x1.555556p-2f,
      0x1.555556p+1f, 0x1.d55556p+0f, 0x1.aaaaacp-1f, 0x0.0p+0f,
      0x1.444444p+1f, 0x1.b33332p+0f, 0x1.400000p+0f, 0x1.555556p+0f,
      0x1.2aaaaap+1f, 0x1.800000p+0f, 0x1.e00000p+0f, 0x1.aaaaaap+1f,
      0x1.111110p+1f, 0x1.4ccccep+0f, 0x1.acccccp+0f, 0x1.911110p+1f,
      0x1.000000p+1f, 0x1.2aaaacp+0f, 0x1.8aaaaap+0f, 0x1.800000p+1f,
  };
  const float want_single[20] = {
      0x0.0p+0f, 0x1.755554p+0f, 0x1.d55554p+0f, 0x1.000000p+0f,
      0x1.555556p+0f, 0x1.e00000p+0f, 0x1.b33332p+0f, 0x1.bbbbbcp-1f,
      0x1.aaaaaap+1f, 0x1.400000p+1f, 0x1.7ffffep+0f, 0x1.555556p-1f,
      0x1.911110p+1f, 0x1.266666p+1f, 0x1.4cccccp+0f, 0x1.dddddep-2f,
      0x1.800000p+1f, 0x1.155554p+1f, 0x1.2aaaaap+0f, 0x1.555556p-2f,
  };
  float out[40];
  ResizeBilinear(x.data(), 2, 3, 3, out, 5, 4);
  for (int i = 0; i < 40; ++i) CHECK(out[i] == want_multi[i]);
  ResizeBilinear(x.data(), 1, 3, 3, out, 5, 4);
  for (int i = 0; i < 20; ++i) CHECK(out[i] == want_single[i]);
  // Explicit rounding: the first channel of the C = 2 tensor alone.
  ResizeBilinear(x.data(), 1, 3, 3, out, 5, 4, BilinearRounding::kTorchMultiChannel);
  for (int i = 0; i < 20; ++i) CHECK(out[i] == want_multi[i]);
  ResizeBilinear(x.data(), 2, 3, 3, out, 5, 4, BilinearRounding::kTorchSingleChannel);
  for (int i = 0; i < 20; ++i) CHECK(out[i] == want_single[i]);
}

// The scalar formulas of torch 1.13's two kernels, one output at a time:
// the oracle the vectorised kernel must match bit for bit (lanes may not
// reorder, fuse or widen anything differently).
void ScalarTorchBilinear(const float* src, int planes, int in_h, int in_w, int out_h, int out_w,
                         int crop_h, int crop_w, bool single_channel, float* dst) {
  struct Tap {
    int i0, i1;
    float w0, w1;
  };
  auto tap = [](int in, int out, int o) {
    if (in == out) return Tap{o, o, 1.0f, 0.0f};
    const float ratio = static_cast<float>(in) / static_cast<float>(out);
    const double s = std::max(0.0, static_cast<double>(ratio) * (o + 0.5) - 0.5);
    Tap t;
    t.i0 = std::min(static_cast<int>(s), in - 1);
    t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
    t.w1 = static_cast<float>(std::min(std::max(s - t.i0, 0.0), 1.0));
    t.w0 = 1.0f - t.w1;
    return t;
  };
  for (int p = 0; p < planes; ++p) {
    const float* s = src + size_t(p) * in_h * in_w;
    for (int oy = 0; oy < crop_h; ++oy) {
      const Tap y = tap(in_h, out_h, oy);
      const float* r0 = s + size_t(y.i0) * in_w;
      const float* r1 = s + size_t(y.i1) * in_w;
      for (int ox = 0; ox < crop_w; ++ox) {
        const Tap x = tap(in_w, out_w, ox);
        float v;
        if (single_channel) {
          const float w00 = y.w0 * x.w0, w01 = y.w0 * x.w1;
          const float w10 = y.w1 * x.w0, w11 = y.w1 * x.w1;
          v = static_cast<float>(double(r0[x.i0]) * w00 + double(r0[x.i1]) * w01 +
                                 double(r1[x.i0]) * w10 + double(r1[x.i1]) * w11);
        } else {
          const float t0 = std::fma(r0[x.i0], x.w0, r0[x.i1] * x.w1);
          const float t1 = std::fma(r1[x.i0], x.w0, r1[x.i1] * x.w1);
          v = std::fma(t0, y.w0, t1 * y.w1);
        }
        dst[(size_t(p) * crop_h + oy) * crop_w + ox] = v;
      }
    }
  }
}

TEST_CASE("ResizeBilinear(Crop): every target bit for bit with the scalar formulas") {
  std::mt19937 rng(12);
  // Up/down/same-size axes, widths around every vector width, SAM's
  // 256 -> 1024 masks and a 1024 x 768 crop of them, odd probes.
  const std::tuple<int, int, int, int> shapes[] = {
      {3, 3, 5, 4},     {5, 7, 11, 13},  {13, 1, 5, 1},    {1, 4, 1, 2},   {31, 29, 7, 9},
      {100, 3, 37, 3},  {17, 33, 17, 65}, {9, 9, 9, 9},    {4, 5, 6, 15},  {4, 5, 6, 16},
      {4, 5, 6, 17},    {6, 8, 7, 33},   {6, 70, 3, 130},  {7, 257, 9, 257}, {2, 64, 3, 63},
      {256, 256, 1024, 1024}, {64, 48, 977, 1277}};
  ForEachTarget([&](const char* target_name) {
    const std::string target = target_name;
    CAPTURE(target);
    for (auto [ih, iw, oh, ow] : shapes) {
      CAPTURE(ih);
      CAPTURE(iw);
      CAPTURE(oh);
      CAPTURE(ow);
      const bool big = size_t(oh) * ow > 100000;
      for (int planes : {1, 3}) {
        if (big && planes == 3) continue;  // keeps the sweep fast
        Guarded src(size_t(planes) * ih * iw, planes);
        src.FillUniform(rng, -10.0f, 10.0f);
        // Signed zeros and denormals must come through with their bits.
        for (size_t i = 0; i < src.size(); i += 7) src[i] = (i % 3 == 0) ? -0.0f : 1e-41f;
        const std::pair<int, int> crops[] = {{oh, ow}, {std::max(1, oh - 1), std::max(1, ow - 3)},
                                             {std::max(1, oh / 2), std::max(1, ow * 3 / 4)}};
        for (auto [ch, cw] : crops) {
          CAPTURE(ch);
          CAPTURE(cw);
          for (bool single : {true, false}) {
            CAPTURE(single);
            const size_t n = size_t(planes) * ch * cw;
            Guarded got(n, 3);
            std::vector<float> want(n);
            ScalarTorchBilinear(src.data(), planes, ih, iw, oh, ow, ch, cw, single, want.data());
            const BilinearRounding rounding = single ? BilinearRounding::kTorchSingleChannel
                                                     : BilinearRounding::kTorchMultiChannel;
            if (ch == oh && cw == ow) {
              ResizeBilinear(src.data(), planes, ih, iw, got.data(), oh, ow, rounding);
            } else {
              ResizeBilinearCrop(src.data(), planes, ih, iw, oh, ow, ch, cw, got.data(), rounding);
            }
            size_t mismatches = 0;
            for (size_t i = 0; i < n; ++i) {
              mismatches += std::memcmp(&got[i], &want[i], sizeof(float)) != 0;
            }
            CHECK(mismatches == 0);
            CHECK(got.GuardsIntact());
          }
        }
      }
    }
  });
  // SAM's own call, 3 masks 256 -> 1024 with the multi-channel rounding:
  // 12 MB of output, which takes the streaming-store path (misaligned start).
  ForEachTarget([&](const char* target_name) {
    const std::string target = target_name;
    CAPTURE(target);
    const int planes = 3, ih = 256, iw = 256, oh = 1024, ow = 1024;
    Guarded src(size_t(planes) * ih * iw, 0);
    src.FillUniform(rng, -10.0f, 10.0f);
    const size_t n = size_t(planes) * oh * ow;
    Guarded got(n, 1);
    std::vector<float> want(n);
    ScalarTorchBilinear(src.data(), planes, ih, iw, oh, ow, oh, ow, false, want.data());
    ResizeBilinear(src.data(), planes, ih, iw, got.data(), oh, ow, BilinearRounding::kTorchMultiChannel);
    size_t mismatches = 0;
    for (size_t i = 0; i < n; ++i) mismatches += std::memcmp(&got[i], &want[i], sizeof(float)) != 0;
    CHECK(mismatches == 0);
    CHECK(got.GuardsIntact());
  });
  float out[4];
  const float in[4] = {1, 2, 3, 4};
  CHECK_THROWS(ResizeBilinearCrop(in, 1, 2, 2, 4, 4, 5, 4, out, BilinearRounding::kTorchMultiChannel));
  CHECK_THROWS(ResizeBilinearCrop(in, 1, 2, 2, 4, 4, 0, 4, out, BilinearRounding::kTorchMultiChannel));
}

TEST_CASE("ResizeBilinear to the same size: torch's copy, inf becoming NaN") {
  // torch 1.13: interpolate(x, x.shape[-2:]) returns x bit for bit for finite
  // values (-0 included) and NaN where x is inf (inf * 0 with the zero weight);
  // printed for a 6 x 6 zero map with inf at (2, 3), C = 1 and C = 2.
  for (int planes : {1, 2}) {
    std::vector<float> x(size_t(planes) * 36, 0.0f), y(x.size());
    x[2 * 6 + 3] = std::numeric_limits<float>::infinity();
    x[4 * 6 + 1] = -0.0f;
    ResizeBilinear(x.data(), planes, 6, 6, y.data(), 6, 6);
    for (int i = 0; i < 36 * planes; ++i) {
      CAPTURE(i);
      if (i == 2 * 6 + 3) {
        CHECK(std::isnan(y[i]));
      } else {
        CHECK(y[i] == 0.0f);
        CHECK(std::signbit(y[i]) == (i == 4 * 6 + 1));
      }
    }
  }
}

TEST_CASE("ResizeBilinear within 2 ulp of the double-precision formula") {
  std::mt19937 rng(4);
  const std::tuple<int, int, int, int> shapes[] = {
      {5, 7, 11, 13}, {64, 64, 256, 256}, {31, 29, 7, 9}, {100, 3, 37, 3}};
  for (auto [ih, iw, oh, ow] : shapes) {
    Guarded src(size_t(2) * ih * iw, 1), dst(size_t(2) * oh * ow, 2);
    src.FillUniform(rng, -10.0f, 10.0f);
    ResizeBilinear(src.data(), 2, ih, iw, dst.data(), oh, ow);
    auto axis = [](int in, int out, int o, int* i0, int* i1, double* l1) {
      if (in == out) {
        *i0 = *i1 = o;
        *l1 = 0;
        return;
      }
      const double src_i = std::max(0.0, double(float(in) / float(out)) * (o + 0.5) - 0.5);
      *i0 = std::min(int(src_i), in - 1);
      *i1 = *i0 + (*i0 < in - 1);
      *l1 = src_i - *i0;
    };
    for (int p = 0; p < 2; ++p) {
      for (int y = 0; y < oh; ++y) {
        int y0, y1;
        double ly;
        axis(ih, oh, y, &y0, &y1, &ly);
        for (int x = 0; x < ow; ++x) {
          int x0, x1;
          double lx;
          axis(iw, ow, x, &x0, &x1, &lx);
          const float* s = src.data() + size_t(p) * ih * iw;
          const double ref = (s[y0 * iw + x0] * (1 - lx) + s[y0 * iw + x1] * lx) * (1 - ly) +
                             (s[y1 * iw + x0] * (1 - lx) + s[y1 * iw + x1] * lx) * ly;
          CHECK(std::fabs(dst[size_t(p) * oh * ow + y * ow + x] - ref) <= 4 * kEps * 10.0);
        }
      }
    }
    CHECK(dst.GuardsIntact());
  }
}

TEST_CASE("ResizePillowBilinearU8: hand-computed Pillow results") {
  // 4 -> 2 on one row: support 2, taps {3/7, 3/7, 1/7} and {1/7, 3/7, 3/7}.
  const uint8_t row[4] = {0, 70, 140, 210};
  uint8_t out[2];
  ResizePillowBilinearU8(row, 1, 4, 1, out, 1, 2);
  CHECK(int(out[0]) == 50);
  CHECK(int(out[1]) == 160);
  // Upscale 2 -> 4 (support 1): taps at centers 0.25, 0.75, 1.25, 1.75 ->
  // weights (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1) after normalisation.
  const uint8_t two[2] = {0, 200};
  uint8_t four[4];
  ResizePillowBilinearU8(two, 1, 2, 1, four, 1, 4);
  CHECK(int(four[0]) == 0);
  CHECK(int(four[1]) == 50);
  CHECK(int(four[2]) == 150);
  CHECK(int(four[3]) == 200);
  // Same vertically (the horizontal pass is skipped, width unchanged).
  uint8_t col[4];
  ResizePillowBilinearU8(two, 2, 1, 1, col, 4, 1);
  for (int i = 0; i < 4; ++i) CHECK(col[i] == four[i]);
  // Identity copies.
  uint8_t same[4];
  ResizePillowBilinearU8(row, 1, 4, 1, same, 1, 4);
  for (int i = 0; i < 4; ++i) CHECK(same[i] == row[i]);
}

TEST_CASE("ResizePillowBilinearU8 reproduces the reference preprocessing exactly") {
  if (!persam::testing::HaveFixtures("Pillow resize fixtures")) return;
  const char* images[] = {"perseg-mini/Images/cat/00.png", "perseg-mini/Images/cat/01.png"};
  const char* refs[] = {"ref/vit_enc_resized_u8.npy", "ref/vit_pred_resized_u8.npy"};
  for (int i = 0; i < 2; ++i) {
    CAPTURE(images[i]);
    int w = 0, h = 0, c = 0;
    uint8_t* px = stbi_load(persam::testing::FixturePath(images[i]).c_str(), &w, &h, &c, 3);
    REQUIRE(px != nullptr);
    const Tensor ref = ReadNpy(persam::testing::FixturePath(refs[i]));
    // REFERENCE.md section 1 step 2 (double precision).
    const double scale = 1024.0 / std::max(h, w);
    const int nh = static_cast<int>(h * scale + 0.5), nw = static_cast<int>(w * scale + 0.5);
    REQUIRE(ref.shape == std::vector<int64_t>{nh, nw, 3});
    std::vector<uint8_t> out(size_t(nh) * nw * 3);
    ResizePillowBilinearU8(px, h, w, 3, out.data(), nh, nw);
    size_t diff = 0;
    for (size_t k = 0; k < out.size(); ++k) diff += out[k] != ref.data[k];
    CHECK(diff == 0);
    stbi_image_free(px);
  }
}

// Pillow itself (Debian's python3-pil, 9.x) on random images: down- and
// upscaling, widths where the RGB vector path reaches the row's last pixel,
// one and three channels, on every compiled target.
TEST_CASE("ResizePillowBilinearU8 equals Pillow on random images, every target") {
  if (std::system("/usr/bin/python3 -c 'import numpy, PIL' >/dev/null 2>&1") != 0) {
    MESSAGE("skipped: /usr/bin/python3 with numpy and PIL not found");
    return;
  }
  std::string dir = "/tmp/persam_pillow_resize_XXXXXX";
  REQUIRE(mkdtemp(dir.data()) != nullptr);
  // {in_h, in_w, channels, out_h, out_w}
  const int cases[][5] = {{37, 53, 3, 19, 27}, {10, 7, 3, 23, 31}, {64, 96, 3, 43, 64}, {5, 200, 3, 3, 120},
                          {41, 29, 1, 17, 13}, {9, 9, 3, 9, 4},   {1, 5, 3, 2, 3},     {33, 2, 3, 17, 1}};
  std::mt19937 rng(17);
  for (const auto& cs : cases) {
    const int h = cs[0], w = cs[1], c = cs[2], oh = cs[3], ow = cs[4];
    CAPTURE(h);
    CAPTURE(w);
    CAPTURE(c);
    std::vector<uint8_t> src(size_t(h) * w * c);
    for (auto& v : src) v = static_cast<uint8_t>(rng());
    const std::string in = dir + "/in.raw", out = dir + "/out.raw";
    {
      FILE* f = std::fopen(in.c_str(), "wb");
      REQUIRE(f != nullptr);
      REQUIRE(std::fwrite(src.data(), 1, src.size(), f) == src.size());
      std::fclose(f);
    }
    const std::string script = "import sys, numpy as np; from PIL import Image; "
                               "h, w, c, oh, ow = map(int, sys.argv[3:8]); "
                               "a = np.fromfile(sys.argv[1], np.uint8).reshape((h, w, c) if c > 1 else (h, w)); "
                               "Image.fromarray(a).resize((ow, oh), Image.BILINEAR).save(sys.argv[2], 'ppm')";
    const std::string cmd = "/usr/bin/python3 -c \"" + script + "\" '" + in + "' '" + out + "' " + std::to_string(h) +
                            " " + std::to_string(w) + " " + std::to_string(c) + " " + std::to_string(oh) + " " +
                            std::to_string(ow);
    REQUIRE(std::system(cmd.c_str()) == 0);
    // Binary PPM (P6) or PGM (P5, one channel): a three-line header ("P6\nW H\n255\n"), then the pixels.
    std::vector<uint8_t> file;
    {
      FILE* f = std::fopen(out.c_str(), "rb");
      REQUIRE(f != nullptr);
      int ch;
      while ((ch = std::fgetc(f)) != EOF) file.push_back(static_cast<uint8_t>(ch));
      std::fclose(f);
    }
    size_t at = 0;
    for (int lines = 0; lines < 3 && at < file.size(); ++at) lines += file[at] == '\n';
    const size_t expected = size_t(oh) * ow * c;
    REQUIRE(file.size() - at == expected);
    ForEachTarget([&](const char* target) {
      CAPTURE(target);
      std::vector<uint8_t> got(expected);
      ResizePillowBilinearU8(src.data(), h, w, c, got.data(), oh, ow);
      size_t diff = 0;
      for (size_t k = 0; k < expected; ++k) diff += got[k] != file[at + k];
      CHECK(diff == 0);
    });
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("Im2ColChw against direct indexing") {
  std::mt19937 rng(5);
  const std::tuple<int, int, int, int, int, int> shapes[] = {
      {3, 32, 48, 16, 16, 0}, {5, 7, 9, 3, 1, 1}, {4, 8, 6, 2, 2, 0}, {2, 5, 5, 3, 2, 1}};
  for (auto [c, h, w, k, s, p] : shapes) {
    CAPTURE(k);
    std::vector<float> chw(size_t(c) * h * w);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (int ch = 0; ch < c; ++ch) {
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          chw[(size_t(ch) * h + y) * w + x] = dist(rng);
        }
      }
    }
    const int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    const size_t row = size_t(c) * k * k;
    std::vector<float> a(size_t(oh) * ow * row, -7);
    Im2ColChw(chw.data(), c, h, w, k, s, p, a.data());
    for (int oy = 0; oy < oh; ++oy) {
      for (int ox = 0; ox < ow; ++ox) {
        for (int ch = 0; ch < c; ++ch) {
          for (int ky = 0; ky < k; ++ky) {
            for (int kx = 0; kx < k; ++kx) {
              const int y = oy * s - p + ky, x = ox * s - p + kx;
              const float want =
                  (y < 0 || y >= h || x < 0 || x >= w) ? 0.0f : chw[(size_t(ch) * h + y) * w + x];
              const size_t idx = (size_t(oy) * ow + ox) * row + (size_t(ch) * k + ky) * k + kx;
              CHECK(a[idx] == want);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("DepthwiseConv3x3Hwc and ConvTranspose2x2Stride2Hwc (all targets)") {
  std::mt19937 rng(6);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    for (int c : {1, 5, 16, 17, 64}) {
      CAPTURE(c);
      const int h = 5, w = 6;
      Guarded in(size_t(h) * w * c, 1), wt(size_t(c) * 9, 0), bias(c, 2), out(size_t(h) * w * c, 3);
      in.FillUniform(rng, -1, 1);
      wt.FillUniform(rng, -1, 1);
      bias.FillUniform(rng, -1, 1);
      DepthwiseConv3x3Hwc(in.data(), h, w, c, wt.data(), bias.data(), out.data());
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          for (int ch = 0; ch < c; ++ch) {
            double ref = bias[ch];
            for (int ky = 0; ky < 3; ++ky) {
              for (int kx = 0; kx < 3; ++kx) {
                const int iy = y + ky - 1, ix = x + kx - 1;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                ref += double(wt[ch * 9 + ky * 3 + kx]) * in[(size_t(iy) * w + ix) * c + ch];
              }
            }
            CHECK(std::fabs(out[(size_t(y) * w + x) * c + ch] - ref) <= 12 * kEps * 10);
          }
        }
      }
      CHECK(out.GuardsIntact());

      // ConvTranspose 2x2 s2: out[2y+dy, 2x+dx, co] = b[co] + sum_ci in[y,x,ci] W[ci,co,dy,dx].
      const int cin = c, cout = 3 + c % 4;
      std::vector<float> tw(size_t(cin) * cout * 4), tb(cout);
      std::uniform_real_distribution<float> dist(-1, 1);
      for (float& v : tw) v = dist(rng);
      for (float& v : tb) v = dist(rng);
      const PackedWeights packed = PackConvTranspose2x2(tw.data(), cin, cout);
      std::vector<float> tout(size_t(4) * h * w * cout, -7);
      ConvTranspose2x2Stride2Hwc(in.data(), h, w, cin, packed, tb.data(), cout, tout.data());
      for (int y = 0; y < 2 * h; ++y) {
        for (int x = 0; x < 2 * w; ++x) {
          for (int co = 0; co < cout; ++co) {
            double ref = tb[co];
            for (int ci = 0; ci < cin; ++ci) {
              ref += double(in[(size_t(y / 2) * w + x / 2) * cin + ci]) *
                     tw[(size_t(ci) * cout + co) * 4 + (y % 2) * 2 + x % 2];
            }
            CHECK(std::fabs(tout[(size_t(y) * 2 * w + x) * cout + co] - ref) <=
                  (cin + 4) * kEps * (cin + 1));
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace persam::kernels
