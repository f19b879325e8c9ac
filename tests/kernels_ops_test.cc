// Row / elementwise ops (kernels/ops.h) against double-precision references
// on every compiled Highway target: size sweep around the vector widths,
// misaligned pointers, NaN guards around every buffer.
#include "tests/kernels_test_util.h"  // first: target policy

#include <doctest/doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "kernels/ops.h"

namespace persam::kernels {
namespace {

using testing_kernels::ForEachTarget;
using testing_kernels::Guarded;
using testing_kernels::kEps;
using testing_kernels::SweepSizes;
using testing_kernels::UlpDistance;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST_CASE("Erf ULP sweep and special values (all targets)") {
  // Every 127th float in [-8, 8] by bit pattern (~1.7M values; covers the
  // tiny, subnormal, polynomial and exp-tail ranges), then special values.
  std::vector<float> xs;
  for (uint32_t bits = 0; bits < 0x41000000u; bits += 127) {
    float f;
    std::memcpy(&f, &bits, 4);
    xs.push_back(f);
    xs.push_back(-f);
  }
  std::vector<float> refs(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    refs[i] = static_cast<float>(std::erf(static_cast<double>(xs[i])));
  }
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    REQUIRE(std::string(OpsTargetName()) == target);
    std::vector<float> y = xs;
    ErfArray(y.data(), y.size());
    int64_t max_ulp = 0;
    float worst = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const int64_t u = UlpDistance(y[i], refs[i]);
      if (u > max_ulp) {
        max_ulp = u;
        worst = xs[i];
      }
    }
    CAPTURE(worst);
    CHECK(max_ulp <= 2);  // the bound stated in kernels/gelu-inl.h
    std::printf("  Erf max error %lld ULP on [-8, 8] (%s)\n", static_cast<long long>(max_ulp),
                target);
    float special[] = {0.0f, -0.0f, kInf, -kInf, kNaN, 1e-30f, -1e-30f, 1e-40f, 10.0f,
                       -10.0f, 1e30f, -1e30f, 3.92f, 4.0f, 1.0f, -1.0f};
    ErfArray(special, sizeof(special) / sizeof(float));
    CHECK(special[0] == 0.0f);
    CHECK(!std::signbit(special[0]));
    CHECK(special[1] == 0.0f);
    CHECK(std::signbit(special[1]));
    CHECK(special[2] == 1.0f);
    CHECK(special[3] == -1.0f);
    CHECK(std::isnan(special[4]));
    CHECK(UlpDistance(special[5], static_cast<float>(std::erf(1e-30))) <= 1);
    CHECK(UlpDistance(special[6], static_cast<float>(std::erf(-1e-30))) <= 1);
    CHECK(UlpDistance(special[7], static_cast<float>(std::erf(double(1e-40f)))) <= 1);
    CHECK(special[8] == 1.0f);
    CHECK(special[9] == -1.0f);
    CHECK(special[10] == 1.0f);
    CHECK(special[11] == -1.0f);
    CHECK(UlpDistance(special[14], static_cast<float>(std::erf(1.0))) <= 2);
    CHECK(Erf(0.5f) == doctest::Approx(std::erf(0.5)).epsilon(1e-6));
  });
}

double GeluRef(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }

TEST_CASE("Gelu sweep: ULP for x >= 0, relative error for x < 0 (all targets)") {
  // Every 127th float in [0, 16] by bit pattern and its negation (~17M
  // values), against double precision.
  std::vector<float> xs;
  for (uint32_t bits = 0; bits < 0x41800000u; bits += 127) {
    float f;
    std::memcpy(&f, &bits, 4);
    xs.push_back(f);
    xs.push_back(-f);
  }
  std::vector<double> refs(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) refs[i] = GeluRef(xs[i]);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    std::vector<float> y = xs;
    Gelu(y.data(), y.size());
    int64_t max_ulp = 0;       // x >= 0
    double max_rel = 0.0;      // -13 <= x < 0, in units of kEps
    double max_abs_tail = 0.0;  // x < -13 or a subnormal result
    float worst_pos = 0, worst_neg = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const float x = xs[i];
      if (x >= 0) {
        const int64_t u = UlpDistance(y[i], static_cast<float>(refs[i]));
        if (u > max_ulp) {
          max_ulp = u;
          worst_pos = x;
        }
      } else if (x >= -13.0f && std::fabs(refs[i]) >= FLT_MIN) {
        const double rel = std::fabs(y[i] - refs[i]) / std::fabs(refs[i]) / kEps;
        if (rel > max_rel) {
          max_rel = rel;
          worst_neg = x;
        }
      } else {
        max_abs_tail = std::max(max_abs_tail, std::fabs(y[i] - refs[i]));
      }
    }
    CAPTURE(worst_pos);
    CAPTURE(worst_neg);
    // The bounds stated in kernels/gelu-inl.h.
    CHECK(max_ulp <= 4);
    CHECK(max_rel <= 7);
    CHECK(max_abs_tail <= 1e-37);
    std::printf("  Gelu max error: %lld ULP for x >= 0, %.2f x 2^-24 relative for "
                "-13 <= x < 0, %.2g absolute below or subnormal (%s)\n",
                static_cast<long long>(max_ulp), max_rel, max_abs_tail, target);
  });
}

TEST_CASE("Gelu / Relu / Sigmoid / Add (all targets, sizes, alignments)") {
  std::mt19937 rng(1);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    for (int n : SweepSizes()) {
      for (int offset : {0, 1, 3}) {
        CAPTURE(n);
        CAPTURE(offset);
        Guarded x(n, offset), y(n, offset), out(n, (offset + 1) % 4);
        x.FillUniform(rng, -12.0f, 12.0f);
        y.FillUniform(rng, -3.0f, 3.0f);
        Guarded g = x;
        Gelu(g.data(), n);
        Guarded r = x;
        Relu(r.data(), n);
        Guarded s = x;
        Sigmoid(s.data(), n);
        Add(x.data(), y.data(), out.data(), n);
        for (int i = 0; i < n; ++i) {
          const double xi = x[i];
          const double gref = GeluRef(xi);
          // The bounds stated in kernels/gelu-inl.h.
          // 4 ULP <= 8 x 2^-24 relative.
          const double rel = xi >= 0 ? 8 * kEps : 7 * kEps;
          const double gtol = xi >= -13.0 ? rel * std::fabs(gref) + 1e-38 : 1e-37;
          CAPTURE(xi);
          CHECK(std::fabs(g[i] - gref) <= gtol);
          CHECK(r[i] == (x[i] > 0 ? x[i] : 0.0f));
          const double sref = 1.0 / (1.0 + std::exp(-xi));
          CHECK(std::fabs(s[i] - sref) <= 4 * kEps * sref + 1e-38);
          CHECK(out[i] == x[i] + y[i]);
        }
        CHECK(g.GuardsIntact());
        CHECK(r.GuardsIntact());
        CHECK(s.GuardsIntact());
        CHECK(out.GuardsIntact());
      }
    }
    float special[] = {kInf, -kInf, kNaN, 0.0f, -0.0f, 1e-40f};
    Gelu(special, 6);
    CHECK(special[0] == kInf);
    CHECK(special[1] == 0.0f);
    CHECK(std::isnan(special[2]));
    CHECK(special[3] == 0.0f);
    CHECK(special[4] == 0.0f);
    CHECK(special[5] == doctest::Approx(0.5e-40).epsilon(1e-3));
    float sig[] = {kInf, -kInf, 200.0f, -200.0f, 0.0f};
    Sigmoid(sig, 5);
    CHECK(sig[0] == 1.0f);
    CHECK(sig[1] == 0.0f);
    CHECK(sig[2] == 1.0f);
    CHECK(sig[3] == 0.0f);
    CHECK(sig[4] == 0.5f);
  });
}

// Tolerance of a normalisation over n values of magnitude <= 1 after
// dividing by a std dev `sd`: the float sums of the mean and the variance
// carry n eps relative error each.
TEST_CASE("LayerNormRows / SoftmaxRows / L2NormalizeRows (all targets)") {
  std::mt19937 rng(2);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    for (int cols : SweepSizes()) {
      for (int offset : {0, 1}) {
        CAPTURE(cols);
        CAPTURE(offset);
        const int rows = 3;
        const int ld = cols + 5;
        Guarded x(rows * ld, offset), gamma(cols, 0), beta(cols, 2), out(rows * ld, offset);
        x.FillUniform(rng, -2.0f, 3.0f);
        gamma.FillUniform(rng, 0.5f, 1.5f);
        beta.FillUniform(rng, -1.0f, 1.0f);
        for (float eps : {1e-6f, 1e-5f}) {
          LayerNormRows(rows, cols, x.data(), ld, gamma.data(), beta.data(), eps, out.data(), ld);
          for (int r = 0; r < rows; ++r) {
            const float* xr = x.data() + r * ld;
            double mean = 0, var = 0;
            for (int c = 0; c < cols; ++c) mean += xr[c];
            mean /= cols;
            for (int c = 0; c < cols; ++c) var += (xr[c] - mean) * (xr[c] - mean);
            var /= cols;
            const double rstd = 1.0 / std::sqrt(var + eps);
            for (int c = 0; c < cols; ++c) {
              const double ref = (xr[c] - mean) * rstd * gamma[c] + beta[c];
              const double tol = (2 * cols + 8) * kEps * (3.0 * rstd * 1.5 + 1.0);
              CHECK(std::fabs(out[r * ld + c] - ref) <= tol);
            }
          }
        }
        // In place, null affine.
        Guarded y = x;
        LayerNormRows(rows, cols, y.data(), ld, nullptr, nullptr, 1e-6f, y.data(), ld);
        CHECK(y.GuardsIntact());
        if (cols > 1) {
          double mean = 0;
          for (int c = 0; c < cols; ++c) mean += y[c];
          CHECK(std::fabs(mean / cols) <= 1e-5);
        }

        Guarded sm = x;
        SoftmaxRows(rows, cols, sm.data(), ld);
        Guarded l2 = x;
        L2NormalizeRows(rows, cols, l2.data(), ld);
        for (int r = 0; r < rows; ++r) {
          const float* xr = x.data() + r * ld;
          double mx = -1e300, sum = 0, ss = 0;
          for (int c = 0; c < cols; ++c) mx = std::max(mx, double(xr[c]));
          for (int c = 0; c < cols; ++c) sum += std::exp(xr[c] - mx);
          for (int c = 0; c < cols; ++c) ss += double(xr[c]) * xr[c];
          for (int c = 0; c < cols; ++c) {
            const double ref = std::exp(xr[c] - mx) / sum;
            CHECK(std::fabs(sm[r * ld + c] - ref) <= (cols + 8) * kEps * ref + 1e-30);
            const double lref = xr[c] / std::sqrt(ss);
            CHECK(std::fabs(l2[r * ld + c] - lref) <= (cols + 8) * kEps * std::fabs(lref) + 1e-30);
          }
          // The padding between rows is untouched.
          for (int c = cols; c < ld && r + 1 < rows; ++c) {
            CHECK(std::isnan(sm[r * ld + c]) == std::isnan(x[r * ld + c]));
          }
        }
        CHECK(sm.GuardsIntact());
        CHECK(l2.GuardsIntact());
        CHECK(out.GuardsIntact());
      }
    }
    // A zero row stays zero under L2 normalisation.
    float zeros[5] = {0, 0, 0, 0, 0};
    L2NormalizeRows(1, 5, zeros, 5);
    for (float z : zeros) CHECK(z == 0.0f);
  });
}

TEST_CASE("SoftmaxColumns and SmallNProduct match double references (all targets)") {
  std::mt19937 rng(5);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    for (int cols : SweepSizes()) {
      for (int rows : {1, 3, 7}) {
        CAPTURE(cols);
        CAPTURE(rows);
        const int ld = cols + 3;
        Guarded x(rows * ld, 1), bias(rows, 0);
        x.FillUniform(rng, -6.0f, 6.0f);
        bias.FillUniform(rng, -3.0f, 3.0f);
        for (int r = 0; r < rows; ++r) {
          for (int c = cols; c < ld; ++c) x[r * ld + c] = std::numeric_limits<float>::quiet_NaN();
        }
        for (bool with_bias : {false, true}) {
          Guarded y = x;
          SoftmaxColumns(rows, cols, y.data(), ld, with_bias ? bias.data() : nullptr);
          for (int c = 0; c < cols; ++c) {
            double mx = -1e300, sum = 0;
            auto v = [&](int r) { return double(x[r * ld + c]) + (with_bias ? double(bias[r]) : 0.0); };
            for (int r = 0; r < rows; ++r) mx = std::max(mx, v(r));
            for (int r = 0; r < rows; ++r) sum += std::exp(v(r) - mx);
            for (int r = 0; r < rows; ++r) {
              const double ref = std::exp(v(r) - mx) / sum;
              // exp of (x + bias - max): 3 roundings of |x| <= 9 before exp.
              CHECK(std::fabs(y[r * ld + c] - ref) <= (rows + 8 + 3 * 9) * kEps * ref + 1e-30);
            }
          }
          // The row padding is untouched (NaN stays NaN).
          for (int r = 0; r < rows; ++r) {
            for (int c = cols; c < ld; ++c) CHECK(std::isnan(y[r * ld + c]));
          }
          CHECK(y.GuardsIntact());
        }
      }
    }
    for (int k : SweepSizes()) {
      for (int n : {1, 3, 4}) {
        CAPTURE(k);
        CAPTURE(n);
        const int rows = 37, lda = k + 1, ldo = n + 2;
        Guarded a(rows * lda, 1), w(n * k, 0), out(rows * ldo, 1);
        a.FillUniform(rng, -1.0f, 1.0f);
        w.FillUniform(rng, -1.0f, 1.0f);
        SmallNProduct(rows, k, a.data(), lda, n, w.data(), out.data(), ldo);
        for (int r = 0; r < rows; ++r) {
          for (int j = 0; j < n; ++j) {
            double ref = 0, mag = 0;
            for (int c = 0; c < k; ++c) {
              ref += double(a[r * lda + c]) * w[j * k + c];
              mag += std::fabs(double(a[r * lda + c]) * w[j * k + c]);
            }
            CHECK(std::fabs(out[r * ldo + j] - ref) <= (k + 4) * kEps * mag + 1e-30);
          }
          for (int j = n; j < ldo && r + 1 < rows; ++j) CHECK(std::isnan(out[r * ldo + j]));
        }
        CHECK(out.GuardsIntact());
      }
    }
  });
}

TEST_CASE("LayerNormChannels matches a per-position reference (all targets)") {
  std::mt19937 rng(3);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    for (int channels : {1, 3, 16, 33}) {
      for (int positions : SweepSizes()) {
        CAPTURE(channels);
        CAPTURE(positions);
        Guarded x(channels * positions, 1), out(channels * positions, 2);
        Guarded gamma(channels, 0), beta(channels, 0);
        x.FillUniform(rng, -1.0f, 2.0f);
        gamma.FillUniform(rng, 0.5f, 1.5f);
        beta.FillUniform(rng, -1.0f, 1.0f);
        LayerNormChannels(channels, positions, x.data(), gamma.data(), beta.data(), 1e-6f,
                          out.data());
        for (int p = 0; p < positions; ++p) {
          double mean = 0, var = 0;
          for (int c = 0; c < channels; ++c) mean += x[c * positions + p];
          mean /= channels;
          for (int c = 0; c < channels; ++c) {
            const double dv = x[c * positions + p] - mean;
            var += dv * dv;
          }
          var /= channels;
          const double rstd = 1.0 / std::sqrt(var + 1e-6);
          for (int c = 0; c < channels; ++c) {
            const double ref = (x[c * positions + p] - mean) * rstd * gamma[c] + beta[c];
            const double tol = (2 * channels + 8) * kEps * (2.0 * rstd * 1.5 + 1.0);
            CHECK(std::fabs(out[c * positions + p] - ref) <= tol);
          }
        }
        CHECK(out.GuardsIntact());
      }
    }
  });
}

}  // namespace
}  // namespace persam::kernels
