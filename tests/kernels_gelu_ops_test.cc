// Fused GELU ops (kernels/gelu_ops.h) on every compiled Highway target:
// LayerNormGeluRows must equal LayerNormRows then Gelu bit for bit;
// GeluBiasColumnsProduct is checked against a double-precision reference
// with the bound its doc states. Size sweeps, misaligned pointers, NaN
// guards and NaN padding between rows.
#include "tests/kernels_test_util.h"  // first: target policy

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "kernels/gelu_ops.h"
#include "kernels/ops.h"

namespace persam::kernels {
namespace {

using testing_kernels::ForEachTarget;
using testing_kernels::Guarded;
using testing_kernels::kEps;
using testing_kernels::SweepSizes;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

double GeluRefD(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }

TEST_CASE("LayerNormGeluRows equals LayerNormRows then Gelu (all targets)") {
  std::mt19937 rng(21);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    for (int cols : SweepSizes()) {
      // Row groups of 8: partial and whole groups, padded rows (ldo > cols)
      // and dense ones (ldo == cols: one GELU sweep per group).
      for (auto [rows, pad] : {std::pair<int, int>{1, 3}, {5, 3}, {13, 3}, {13, 0}, {16, 0}}) {
        CAPTURE(cols);
        CAPTURE(rows);
        CAPTURE(pad);
        const int ldx = cols + 2, ldo = cols + pad;
        Guarded x(rows * ldx, 1), gamma(cols, 0), beta(cols, 2);
        x.FillUniform(rng, -3.0f, 4.0f);
        gamma.FillUniform(rng, 0.5f, 2.0f);
        beta.FillUniform(rng, -1.0f, 1.0f);
        for (int r = 0; r < rows; ++r) {
          for (int c = cols; c < ldx; ++c) x[r * ldx + c] = kNaN;
        }
        Guarded want(rows * ldo, 1), got(rows * ldo, 3);
        LayerNormRows(rows, cols, x.data(), ldx, gamma.data(), beta.data(), 1e-6f, want.data(), ldo);
        for (int r = 0; r < rows; ++r) Gelu(want.data() + r * ldo, cols);
        LayerNormGeluRows(rows, cols, x.data(), ldx, gamma.data(), beta.data(), 1e-6f, got.data(), ldo);
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < cols; ++c) {
            CHECK(std::memcmp(&got[r * ldo + c], &want[r * ldo + c], sizeof(float)) == 0);
          }
          for (int c = cols; c < ldo && r + 1 < rows; ++c) CHECK(std::isnan(got[r * ldo + c]));
        }
        CHECK(got.GuardsIntact());
        // In place with the output's stride (dense when pad == 0, as the
        // mask decoder calls it).
        Guarded inplace(rows * ldo, 1);
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < ldo; ++c) inplace[r * ldo + c] = c < cols ? x[r * ldx + c] : kNaN;
        }
        LayerNormGeluRows(rows, cols, inplace.data(), ldo, gamma.data(), beta.data(), 1e-6f, inplace.data(),
                          ldo);
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < cols; ++c) {
            CHECK(std::memcmp(&inplace[r * ldo + c], &want[r * ldo + c], sizeof(float)) == 0);
          }
        }
        CHECK(inplace.GuardsIntact());
      }
    }
  });
}

TEST_CASE("GeluBiasColumnsProduct matches a double reference (all targets)") {
  std::mt19937 rng(22);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    for (int cols : SweepSizes()) {
      for (int k : {1, 5, 32}) {
        for (int n : {1, 3, 4, 6}) {
          for (bool with_bias : {false, true}) {
            CAPTURE(cols);
            CAPTURE(k);
            CAPTURE(n);
            CAPTURE(with_bias);
            const int ldx = cols + 1, ldw = k + 2, ldo = cols + 3;
            Guarded x(k * ldx, 1), bias(k, 0), w(n * ldw, 2), out(n * ldo, 1);
            // Past GELU's flush-to-zero and identity ranges on both sides.
            x.FillUniform(rng, -16.0f, 16.0f);
            bias.FillUniform(rng, -2.0f, 2.0f);
            w.FillUniform(rng, -1.0f, 1.0f);
            for (int r = 0; r < k; ++r) {
              for (int c = cols; c < ldx; ++c) x[r * ldx + c] = kNaN;
            }
            for (int i = 0; i < n; ++i) {
              for (int r = k; r < ldw; ++r) w[i * ldw + r] = kNaN;
            }
            GeluBiasColumnsProduct(k, cols, x.data(), ldx, with_bias ? bias.data() : nullptr, n, w.data(), ldw,
                                   out.data(), ldo);
            for (int i = 0; i < n; ++i) {
              for (int c = 0; c < cols; ++c) {
                double ref = 0, mag = 0;
                for (int r = 0; r < k; ++r) {
                  // The kernel's float add of the bias, then exact GELU.
                  const float v = with_bias ? x[r * ldx + c] + bias[r] : x[r * ldx + c];
                  const double g = GeluRefD(v);
                  ref += double(w[i * ldw + r]) * g;
                  mag += std::fabs(double(w[i * ldw + r]) * g);
                }
                // k + 1 roundings of the FMA chain plus GELU's <= 6.8 x 2^-24
                // relative (absolute 1e-37 in the flushed tail).
                CHECK(std::fabs(out[i * ldo + c] - ref) <= (k + 1 + 7) * kEps * mag + 1e-30);
              }
              for (int c = cols; c < ldo && i + 1 < n; ++c) CHECK(std::isnan(out[i * ldo + c]));
            }
            CHECK(out.GuardsIntact());
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace persam::kernels
