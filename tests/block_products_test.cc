// kernels/block_products.h against double-precision references on every
// compiled Highway target: GemmStrided over both A layouts, both B forms,
// the row-count and half-width tiles and the epilogues; the strided-group
// softmax; the streaming column softmax against a whole-column one.
#include "tests/kernels_test_util.h"  // first: target policy

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/block_products.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"

namespace persam::kernels {
namespace {

using testing_kernels::ForEachTarget;
using testing_kernels::Guarded;
using testing_kernels::kEps;

TEST_CASE("GemmStrided matches a double reference (all targets)") {
  std::mt19937 rng(5);
  ForEachTarget([&](const char* target_name) {
    const std::string target = target_name;
    for (int m : {1, 4, 5, 8, 9, 12, 13, 56}) {
      for (int n : {1, 7, 16, 17, 24, 25, 32, 40, 56, 64}) {
        for (int k : {1, 16, 56, 130}) {
          for (int variant = 0; variant < 4; ++variant) {
            const bool a_transposed = variant & 1;
            const bool b_packed = variant & 2;
            CAPTURE(target);
            CAPTURE(m);
            CAPTURE(n);
            CAPTURE(k);
            CAPTURE(variant);
            // A: row-major [m, k] (lda = k + 3) or given as [k, m] (ld = m + 5).
            const int lda = a_transposed ? m + 5 : k + 3;
            Guarded a(static_cast<size_t>(a_transposed ? k : m) * lda, 1);
            a.FillUniform(rng, -1.0f, 1.0f);
            auto a_at = [&](int i, int p) {
              return a_transposed ? a[static_cast<size_t>(p) * lda + i] : a[static_cast<size_t>(i) * lda + p];
            };
            // B: row-major [k, n] with whole 32-column panels readable
            // (padding finite: its products are discarded), or packed from
            // its transpose [n, k].
            const int ldb = (n + 31) / 32 * 32;
            std::vector<float> b(static_cast<size_t>(k) * ldb);
            std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
            for (float& v : b) v = dist(rng);
            std::vector<float> bt(static_cast<size_t>(n) * k);
            for (int j = 0; j < n; ++j) {
              for (int p = 0; p < k; ++p) bt[static_cast<size_t>(j) * k + p] = b[static_cast<size_t>(p) * ldb + j];
            }
            const PackedWeights packed = PackedWeights::Pack(bt.data(), n, k, k);
            const StridedB sb = b_packed ? PackedB(packed) : StridedB{b.data(), ldb, 32};
            const StridedA sa = a_transposed ? StridedA{a.data(), 1, lda} : StridedA{a.data(), lda, 1};
            // Epilogues: plain; bias + residual aliasing C; ReLU + bias.
            for (int ep_kind = 0; ep_kind < 3; ++ep_kind) {
              const int ldc = n + 2;
              Guarded c(static_cast<size_t>(m) * ldc, 3);
              std::vector<float> bias(n), init(static_cast<size_t>(m) * ldc);
              for (float& v : bias) v = dist(rng);
              for (int i = 0; i < m; ++i) {
                for (int j = 0; j < n; ++j) {
                  init[static_cast<size_t>(i) * ldc + j] = dist(rng);
                  if (ep_kind == 1) c[static_cast<size_t>(i) * ldc + j] = init[static_cast<size_t>(i) * ldc + j];
                }
              }
              GemmEpilogue ep;
              if (ep_kind >= 1) ep.bias = bias.data();
              if (ep_kind == 1) {
                ep.residual = c.data();
                ep.ldr = ldc;
              }
              if (ep_kind == 2) ep.activation = Epilogue::kRelu;
              GemmStrided(m, n, k, sa, sb, ep, c.data(), ldc);
              double worst = 0.0;
              for (int i = 0; i < m; ++i) {
                for (int j = 0; j < n; ++j) {
                  double want = 0.0, mag = 0.0;
                  for (int p = 0; p < k; ++p) {
                    const double t = double(a_at(i, p)) * b[static_cast<size_t>(p) * ldb + j];
                    want += t;
                    mag += std::fabs(t);
                  }
                  if (ep_kind >= 1) {
                    want += bias[j];
                    mag += std::fabs(bias[j]);
                  }
                  if (ep_kind == 1) {
                    want += init[static_cast<size_t>(i) * ldc + j];
                    mag += std::fabs(init[static_cast<size_t>(i) * ldc + j]);
                  }
                  if (ep_kind == 2) want = std::max(want, 0.0);
                  const double got = c[static_cast<size_t>(i) * ldc + j];
                  const double err = std::fabs(got - want) / ((k + 3) * kEps * mag + 1e-30);
                  worst = std::max(worst, err);
                }
                // Columns n .. ldc - 1 are never written.
                for (int j = n; j < ldc; ++j) REQUIRE(std::isnan(c[static_cast<size_t>(i) * ldc + j]));
              }
              CHECK(worst <= 1.0);
              CHECK(c.GuardsIntact());
            }
          }
        }
      }
    }
  });
}

TEST_CASE("SoftmaxStrided: one softmax per (row, lane) over the groups (all targets)") {
  std::mt19937 rng(7);
  ForEachTarget([&](const char* target_name) {
    const std::string target = target_name;
    for (int groups : {1, 2, 7, 9}) {
      for (int width : {1, 3, 8, 9, 16, 20}) {
        for (bool with_bias : {false, true}) {
          CAPTURE(target);
          CAPTURE(groups);
          CAPTURE(width);
          const int rows = 5, ldx = groups * width + 3;
          Guarded x(static_cast<size_t>(rows) * ldx, 1);
          x.FillUniform(rng, -8.0f, 8.0f);
          // The gaps between rows must survive: set them to NaN again.
          for (int r = 0; r < rows; ++r) {
            for (int j = groups * width; j < ldx; ++j) x[static_cast<size_t>(r) * ldx + j] = NAN;
          }
          std::vector<float> in(x.data(), x.data() + x.size());
          Guarded bias(static_cast<size_t>(groups) * width, 2);
          bias.FillUniform(rng, -2.0f, 2.0f);
          SoftmaxStrided(rows, groups, width, x.data(), ldx, with_bias ? bias.data() : nullptr);
          for (int r = 0; r < rows; ++r) {
            for (int j = 0; j < width; ++j) {
              double mx = -1e300, sum = 0.0;
              auto v = [&](int g) {
                return double(in[static_cast<size_t>(r) * ldx + g * width + j]) +
                       (with_bias ? double(bias[static_cast<size_t>(g) * width + j]) : 0.0);
              };
              for (int g = 0; g < groups; ++g) mx = std::max(mx, v(g));
              for (int g = 0; g < groups; ++g) sum += std::exp(v(g) - mx);
              for (int g = 0; g < groups; ++g) {
                const double want = std::exp(v(g) - mx) / sum;
                const double got = x[static_cast<size_t>(r) * ldx + g * width + j];
                // exp's ~2 ulp, the float rounding of its argument (v - max,
                // v with its bias) and the float sum over the groups.
                const double tol = want * ((groups + 8) * kEps + 2 * kEps * (std::fabs(v(g)) + std::fabs(mx)));
                CHECK(std::fabs(got - want) <= tol);
              }
            }
            for (int j = groups * width; j < ldx; ++j) CHECK(std::isnan(x[static_cast<size_t>(r) * ldx + j]));
          }
          CHECK(x.GuardsIntact());
          CHECK(bias.GuardsIntact());
        }
      }
    }
  });
}

TEST_CASE("SoftmaxColumnsOnline + ScaleRows give whole-column softmax sums (all targets)") {
  std::mt19937 rng(9);
  ForEachTarget([&](const char* target_name) {
    const std::string target = target_name;
    for (int cols : {1, 5, 8, 17, 56}) {
      for (int block : {1, 7, 32}) {
        CAPTURE(target);
        CAPTURE(cols);
        CAPTURE(block);
        const int keys = 100, dim = 19;
        std::uniform_real_distribution<float> dist(-10.0f, 10.0f);
        std::vector<float> logits(static_cast<size_t>(keys) * cols), values(static_cast<size_t>(keys) * dim);
        for (float& v : logits) v = dist(rng);
        for (float& v : values) v = dist(rng) * 0.1f;
        std::vector<float> run_max(cols, -HUGE_VALF), run_sum(cols, 0.0f), rescale(cols);
        std::vector<float> acc(static_cast<size_t>(cols) * dim, 0.0f);
        for (int k0 = 0; k0 < keys; k0 += block) {
          const int nb = std::min(block, keys - k0);
          std::vector<float> x(logits.begin() + static_cast<size_t>(k0) * cols,
                               logits.begin() + static_cast<size_t>(k0 + nb) * cols);
          SoftmaxColumnsOnline(nb, cols, x.data(), cols, run_max.data(), run_sum.data(), rescale.data());
          ScaleRows(cols, dim, acc.data(), dim, rescale.data());
          for (int c = 0; c < cols; ++c) {
            for (int r = 0; r < nb; ++r) {
              for (int e = 0; e < dim; ++e) {
                acc[static_cast<size_t>(c) * dim + e] +=
                    x[static_cast<size_t>(r) * cols + c] * values[static_cast<size_t>(k0 + r) * dim + e];
              }
            }
          }
        }
        for (int c = 0; c < cols; ++c) {
          double mx = -1e300, sum = 0.0;
          for (int r = 0; r < keys; ++r) mx = std::max(mx, double(logits[static_cast<size_t>(r) * cols + c]));
          CHECK(run_max[c] == static_cast<float>(mx));
          for (int r = 0; r < keys; ++r) sum += std::exp(logits[static_cast<size_t>(r) * cols + c] - mx);
          CHECK(std::fabs(run_sum[c] - sum) <= 1e-5 * sum);
          for (int e = 0; e < dim; ++e) {
            double want = 0.0, mag = 0.0;
            for (int r = 0; r < keys; ++r) {
              const double p = std::exp(logits[static_cast<size_t>(r) * cols + c] - mx) / sum;
              want += p * values[static_cast<size_t>(r) * dim + e];
              mag += p * std::fabs(values[static_cast<size_t>(r) * dim + e]);
            }
            const double got = acc[static_cast<size_t>(c) * dim + e] / run_sum[c];
            CHECK(std::fabs(got - want) <= 1e-5 * mag + 1e-12);
          }
        }
      }
    }
  });
}

TEST_CASE("LayerNormRowsPlus is LayerNormRows then Add, bit for bit (all targets)") {
  std::mt19937 rng(11);
  ForEachTarget([&](const char* target_name) {
    const std::string target = target_name;
    for (int cols : {1, 7, 16, 17, 33, 256}) {
      CAPTURE(target);
      CAPTURE(cols);
      const int rows = 3, ld = cols + 5;
      Guarded x(static_cast<size_t>(rows) * ld, 1), add(static_cast<size_t>(rows) * ld, 2);
      x.FillUniform(rng, -3.0f, 5.0f);
      add.FillUniform(rng, -1.0f, 1.0f);
      std::vector<float> gamma(cols), beta(cols);
      std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
      for (int c = 0; c < cols; ++c) {
        gamma[c] = dist(rng);
        beta[c] = dist(rng);
      }
      std::vector<float> want(static_cast<size_t>(rows) * ld), want_plus(want.size());
      LayerNormRows(rows, cols, x.data(), ld, gamma.data(), beta.data(), 1e-5f, want.data(), ld);
      for (int r = 0; r < rows; ++r) {
        Add(want.data() + r * ld, add.data() + r * ld, want_plus.data() + r * ld, cols);
      }
      Guarded out(static_cast<size_t>(rows) * ld, 3), plus(static_cast<size_t>(rows) * ld, 0);
      LayerNormRowsPlus(rows, cols, x.data(), ld, gamma.data(), beta.data(), 1e-5f, out.data(), ld, add.data(), ld,
                        plus.data(), ld);
      for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < cols; ++c) {
          CHECK(out[static_cast<size_t>(r) * ld + c] == want[static_cast<size_t>(r) * ld + c]);
          CHECK(plus[static_cast<size_t>(r) * ld + c] == want_plus[static_cast<size_t>(r) * ld + c]);
        }
      }
      CHECK(out.GuardsIntact());
      CHECK(plus.GuardsIntact());
    }
  });
}

}  // namespace
}  // namespace persam::kernels
