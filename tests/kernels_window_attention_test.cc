// kernels/window_attention.h against a double-precision evaluation of the
// reference's padded, windowed attention (tiny_vit_sam.py Attention on
// F.pad-ed windows), on every compiled target.
#include "tests/kernels_test_util.h"  // first: the kernels' target policy

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "base/error.h"
#include "kernels/window_attention.h"

namespace persam {
namespace {

using kernels::testing_kernels::ForEachTarget;

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST_CASE("WindowAttention matches a double reference (padding, tails, bias, several heads)") {
  ForEachTarget([](const char* target) {
    INFO("target " << target);
    struct Case { int rows, w, window, heads, dim; bool bias; };
    // Right-edge and bottom padding, a head dim that is not a multiple of
    // 4 or of the vector width, 49- and 196-token windows (vit_t), no bias.
    for (const Case cs : {Case{7, 16, 7, 2, 32, true}, Case{3, 9, 7, 3, 20, true},
                          Case{5, 14, 14, 1, 32, true}, Case{2, 5, 3, 2, 7, false},
                          Case{4, 4, 4, 2, 16, true}}) {
      CAPTURE(cs.rows);
      CAPTURE(cs.w);
      CAPTURE(cs.window);
      CAPTURE(cs.dim);
      const int n = cs.window * cs.window, c3 = 3 * cs.heads * cs.dim, c = cs.heads * cs.dim;
      const int stride = (n + kernels::kWindowBiasAlign - 1) / kernels::kWindowBiasAlign *
                         kernels::kWindowBiasAlign;
      const std::vector<float> qkv = Random(static_cast<size_t>(cs.rows) * cs.w * c3, 1 + n);
      const std::vector<float> pad = Random(c3, 2 + n);
      std::vector<float> bias = Random(static_cast<size_t>(cs.heads) * n * stride, 3 + n);
      for (int r = 0; r < cs.heads * n; ++r) {
        for (int j = n; j < stride; ++j) bias[static_cast<size_t>(r) * stride + j] = -HUGE_VALF;
      }
      std::vector<float> out(static_cast<size_t>(cs.rows) * cs.w * c + 1,
                             std::numeric_limits<float>::quiet_NaN());
      const float guard = out.back() = 12345.0f;
      kernels::WindowAttentionBand a;
      a.qkv = qkv.data();
      a.pad_qkv = pad.data();
      a.rows = cs.rows;
      a.w = cs.w;
      a.window = cs.window;
      a.heads = cs.heads;
      a.head_dim = cs.dim;
      a.scale = 1.0f / std::sqrt(static_cast<float>(cs.dim));
      a.bias = cs.bias ? bias.data() : nullptr;
      a.bias_stride = stride;
      a.out = out.data();
      kernels::WindowAttention(a);
      REQUIRE(out.back() == guard);
      double max_err = 0;
      const int nw = (cs.w + cs.window - 1) / cs.window;
      auto token = [&](int wx, int t) {
        const int y = t / cs.window, x = wx * cs.window + t % cs.window;
        return (y < cs.rows && x < cs.w) ? qkv.data() + (static_cast<size_t>(y) * cs.w + x) * c3
                                         : pad.data();
      };
      for (int wx = 0; wx < nw; ++wx) {
        for (int hd = 0; hd < cs.heads; ++hd) {
          for (int i = 0; i < n; ++i) {
            const int y = i / cs.window, x = wx * cs.window + i % cs.window;
            if (y >= cs.rows || x >= cs.w) continue;
            const float* q = token(wx, i) + hd * 3 * cs.dim;
            std::vector<double> s(n);
            double m = -HUGE_VAL;
            for (int j = 0; j < n; ++j) {
              const float* k = token(wx, j) + hd * 3 * cs.dim + cs.dim;
              double dot = 0;
              for (int t = 0; t < cs.dim; ++t) dot += static_cast<double>(q[t]) * k[t];
              s[j] = dot * a.scale +
                     (cs.bias ? bias[(static_cast<size_t>(hd) * n + i) * stride + j] : 0.0);
              m = std::max(m, s[j]);
            }
            double sum = 0;
            for (double& v : s) sum += (v = std::exp(v - m));
            for (int t = 0; t < cs.dim; ++t) {
              double ref = 0;
              for (int j = 0; j < n; ++j) ref += s[j] * token(wx, j)[hd * 3 * cs.dim + 2 * cs.dim + t];
              ref /= sum;
              const float got = out[(static_cast<size_t>(y) * cs.w + x) * c + hd * cs.dim + t];
              REQUIRE(std::isfinite(got));
              max_err = std::max(max_err, std::fabs(got - ref));
            }
          }
        }
      }
      // Outputs are convex combinations of values in [-1, 1]; float32
      // products and sums over <= 196 terms: a few 1e-7.
      CHECK(max_err < 2e-6);
    }
  });
}

TEST_CASE("WindowAttention rejects a bad geometry or an unpadded bias") {
  std::vector<float> qkv(3 * 4 * 4 * 8), out(4 * 4 * 4), pad(3 * 4), bias(2 * 49 * 49);
  kernels::WindowAttentionBand a;
  a.qkv = qkv.data();
  a.pad_qkv = pad.data();
  a.out = out.data();
  a.rows = 4;
  a.w = 4;
  a.window = 7;
  a.heads = 1;
  a.head_dim = 4;
  CHECK_NOTHROW(kernels::WindowAttention(a));
  kernels::WindowAttentionBand bad = a;
  bad.rows = 8;  // more rows than the window
  CHECK_THROWS_AS(kernels::WindowAttention(bad), Error);
  bad = a;
  bad.head_dim = 0;
  CHECK_THROWS_AS(kernels::WindowAttention(bad), Error);
  bad = a;
  bad.bias = bias.data();
  bad.bias_stride = 49;  // rows not padded to whole vectors
  CHECK_THROWS_AS(kernels::WindowAttention(bad), Error);
  bad.bias_stride = 64;
  CHECK_NOTHROW(kernels::WindowAttention(bad));
}

}  // namespace
}  // namespace persam
