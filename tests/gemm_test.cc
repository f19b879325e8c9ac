// GEMM kernels against a double-precision reference, on every compiled
// Highway target, over sizes around the vector width, the register tile and
// the cache blocks, with misaligned operands and NaN padding.
#include "kernels/hwy_target.h"  // first: same target list as the kernels

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "hwy/targets.h"
#include "kernels/gemm.h"
#include "kernels/gemm_lowp.h"
#include "tests/gemm_test_util.h"
#include "base/error.h"

namespace persam::kernels {
namespace {

using testing_gemm::Matrix;
using testing_gemm::ForEachTarget;
using testing_gemm::RefGemm;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Checks the valid part of C against the reference and that C's row padding
// (columns n .. ldc-1, pre-filled with NaN) was not written.
void ExpectClose(const Matrix& c, const testing_gemm::RefResult& ref,
                 double rel_eps, const char* what,
                 const std::vector<double>* extra = nullptr) {
  size_t bad = 0;
  for (int i = 0; i < c.rows; ++i) {
    for (int j = 0; j < c.cols; ++j) {
      const double got = c.at(i, j);
      const double want = ref.value[size_t(i) * c.cols + j];
      // Derived bound: FMA chain of length k -> k * eps * sum|a b| (plus the
      // bias/residual adds and the epilogue's relative error on |want|).
      double tol = ref.bound[size_t(i) * c.cols + j] * rel_eps +
                   4e-7 * std::fabs(want) + 1e-30;
      if (extra) tol += (*extra)[size_t(i) * c.cols + j];
      if (!(std::fabs(got - want) <= tol)) {
        if (++bad <= 3) {
          MESSAGE(what << ": C[" << i << "," << j << "] = " << got
                       << " want " << want << " tol " << tol);
        }
      }
    }
    for (int j = c.cols; j < c.ld; ++j) {
      if (!std::isnan(c.at(i, j)) && ++bad <= 3) {
        MESSAGE(what << ": padding C[" << i << "," << j << "] overwritten");
      }
    }
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " mismatches");
}

struct Case {
  int m, n, k;
};

std::vector<Case> Cases() {
  // N = 16 lanes (AVX-512 float), tile 12 x 32, KC <= 384, MC = 144:
  // sizes {1, N-1, N, N+1, 3N, 8N+2} and around the tile / block sizes.
  const int ms[] = {1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 145};  // every tile-row kernel
  const int ns[] = {1, 7, 15, 16, 17, 33, 48, 130};
  const int ks[] = {1, 3, 16, 17, 257};
  std::vector<Case> cases;
  for (int m : ms)
    for (int n : ns)
      for (int k : ks) cases.push_back({m, n, k});
  cases.push_back({290, 70, 520});  // several MC and KC blocks
  cases.push_back({20, 800, 1000});  // several NC chunks, 3 KC blocks
  return cases;
}

TEST_CASE("Gemm f32 matches double reference (all targets, epilogues)") {
  std::mt19937 rng(123);
  for (const Case& cs : Cases()) {
    const int m = cs.m, n = cs.n, k = cs.k;
    // Misaligned A (offset 1 float) with NaN padding beyond k.
    Matrix a(m, k, k + 3, /*offset=*/1, rng);
    Matrix w(n, k, k + 1, 0, rng);
    std::vector<float> bias(n);
    for (float& x : bias) x = std::uniform_real_distribution<float>(-1, 1)(rng);
    Matrix res(m, n, n + 2, 1, rng);
    const PackedWeights packed = PackedWeights::Pack(w.data(), n, k, w.ld);

    struct Variant {
      Epilogue act;
      bool bias, residual, alias;
      const char* name;
    };
    const Variant variants[] = {
        {Epilogue::kNone, false, false, false, "plain"},
        {Epilogue::kGelu, true, false, false, "bias+gelu"},
        {Epilogue::kRelu, true, true, false, "bias+relu+residual"},
        {Epilogue::kNone, true, true, true, "bias+residual aliasing C"},
        {Epilogue::kGelu, false, true, true, "gelu+residual aliasing C"},
    };
    for (const Variant& v : variants) {
      // Small sizes get every variant; large ones only two, to stay fast.
      if (size_t(m) * n * k > 100000 && v.act == Epilogue::kRelu) continue;
      const testing_gemm::RefResult ref =
          RefGemm(a, w, v.bias ? bias.data() : nullptr, v.act,
                  v.residual ? &res : nullptr, 1.0);
      ForEachTarget([&](const char* target) {
        Matrix c(m, n, n + 3, 1);  // all NaN: beta = 0 must not read C
        GemmEpilogue ep;
        ep.bias = v.bias ? bias.data() : nullptr;
        ep.activation = v.act;
        if (v.residual && v.alias) {
          c.CopyValidFrom(res);
          ep.residual = c.data();
          ep.ldr = c.ld;
        } else if (v.residual) {
          ep.residual = res.data();
          ep.ldr = res.ld;
        }
        Gemm(m, a.data(), a.ld, packed, ep, c.data(), c.ld);
        CAPTURE(target);
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        ExpectClose(c, ref, 1.0, v.name);
      });
    }
  }
}

TEST_CASE("GemmABt f32 with alpha (all targets)") {
  std::mt19937 rng(7);
  const Case cases[] = {{1, 1, 1}, {13, 17, 9}, {37, 64, 64}, {100, 33, 300}};
  for (const Case& cs : cases) {
    Matrix a(cs.m, cs.k, cs.k + 1, 1, rng);
    Matrix b(cs.n, cs.k, cs.k + 2, 1, rng);
    const double alpha = 0.125;
    const testing_gemm::RefResult ref =
        RefGemm(a, b, nullptr, Epilogue::kNone, nullptr, alpha);
    ForEachTarget([&](const char* target) {
      Matrix c(cs.m, cs.n, cs.n + 1, 1);
      GemmABt(cs.m, cs.n, cs.k, float(alpha), a.data(), a.ld, b.data(), b.ld,
              c.data(), c.ld);
      CAPTURE(target);
      CAPTURE(cs.m);
      CAPTURE(cs.n);
      CAPTURE(cs.k);
      ExpectClose(c, ref, 1.0, "GemmABt");
    });
  }
}

TEST_CASE("Repack with an addend and RepackTransposed equal packing the explicit matrix") {
  std::mt19937 rng(11);
  // Reused storage: each case repacks the same two objects, growing and
  // shrinking, and must give exactly the products of freshly packed copies.
  PackedWeights sum_packed, t_packed;
  const Case cases[] = {{7, 70, 33}, {13, 5, 257}, {1, 129, 4}, {30, 33, 1}, {12, 64, 16}};
  for (const Case& cs : cases) {
    const int m = cs.m, n = cs.n, k = cs.k;
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    Matrix a(m, k, k + 2, 1, rng);
    Matrix w(n, k, k + 3, 1, rng), add(n, k, k + 3, 1, rng);
    Matrix sum(n, k, k, 0), wt(k, n, n + 1, 1, rng), wt_t(n, k, k, 0);
    for (int j = 0; j < n; ++j) {
      for (int p = 0; p < k; ++p) {
        sum.at(j, p) = w.at(j, p) + add.at(j, p);
        wt_t.at(j, p) = wt.at(p, j);
      }
    }
    const PackedWeights add_packed = PackedWeights::Pack(add.data(), n, k, add.ld);
    sum_packed.Repack(w.data(), n, k, w.ld, &add_packed);
    t_packed.RepackTransposed(wt.data(), k, n, wt.ld);
    const PackedWeights sum_ref = PackedWeights::Pack(sum.data(), n, k, sum.ld);
    const PackedWeights t_ref = PackedWeights::Pack(wt_t.data(), n, k, wt_t.ld);
    Matrix c(m, n, n, 0), c_ref(m, n, n, 0);
    Gemm(m, a.data(), a.ld, sum_packed, GemmEpilogue{}, c.data(), c.ld);
    Gemm(m, a.data(), a.ld, sum_ref, GemmEpilogue{}, c_ref.data(), c_ref.ld);
    CHECK(std::memcmp(c.data(), c_ref.data(), sizeof(float) * m * n) == 0);
    Gemm(m, a.data(), a.ld, t_packed, GemmEpilogue{}, c.data(), c.ld);
    Gemm(m, a.data(), a.ld, t_ref, GemmEpilogue{}, c_ref.data(), c_ref.ld);
    CHECK(std::memcmp(c.data(), c_ref.data(), sizeof(float) * m * n) == 0);
  }
  // A copy shares the panels: repacking the original must not change it.
  PackedWeights original;
  Matrix w(4, 8, 8, 0, rng), other(4, 8, 8, 0, rng), a(2, 8, 8, 0, rng);
  original.Repack(w.data(), 4, 8, 8);
  const PackedWeights copy = original;
  Matrix before(2, 4, 4, 0), after(2, 4, 4, 0);
  Gemm(2, a.data(), 8, copy, GemmEpilogue{}, before.data(), 4);
  original.Repack(other.data(), 4, 8, 8);
  Gemm(2, a.data(), 8, copy, GemmEpilogue{}, after.data(), 4);
  CHECK(std::memcmp(before.data(), after.data(), sizeof(float) * 8) == 0);
}

TEST_CASE("RepackRows and RepackTransposedRows in blocks equal the whole-matrix packing") {
  std::mt19937 rng(12);
  PackedWeights rows_packed, t_rows_packed;
  const Case cases[] = {{5, 70, 33}, {3, 96, 8}, {2, 31, 5}, {4, 130, 1}};
  for (const Case& cs : cases) {
    const int m = cs.m, n = cs.n, k = cs.k;
    CAPTURE(n);
    CAPTURE(k);
    Matrix a(m, k, k + 1, 1, rng), a_t(m, n, n, 1, rng);
    Matrix w(n, k, k + 3, 1, rng), add(n, k, k + 3, 1, rng), wt(n, k, k + 2, 1, rng);
    const PackedWeights add_packed = PackedWeights::Pack(add.data(), n, k, add.ld);
    PackedWeights whole, t_whole;
    whole.Repack(w.data(), n, k, w.ld, &add_packed);
    t_whole.RepackTransposed(wt.data(), n, k, wt.ld);  // B [k, n] = wt^T
    // Whole 32-row panels for RepackRows, uneven ranges for the transposed
    // form, filled last block first and from several threads.
    rows_packed.Resize(n, k);
    t_rows_packed.Resize(k, n);
    const int panels = (n + 31) / 32;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = panels - 1; i >= 0; --i) {
      rows_packed.RepackRows(w.data(), w.ld, 32 * i, std::min(n, 32 * i + 32), &add_packed);
    }
    for (int p0 = n; p0 > 0;) {
      const int p1 = p0;
      p0 = std::max(0, p0 - 7);
      t_rows_packed.RepackTransposedRows(wt.data(), wt.ld, p0, p1);
    }
    Matrix c(m, n, n, 0), c_ref(m, n, n, 0);
    Gemm(m, a.data(), a.ld, rows_packed, GemmEpilogue{}, c.data(), c.ld);
    Gemm(m, a.data(), a.ld, whole, GemmEpilogue{}, c_ref.data(), c_ref.ld);
    CHECK(std::memcmp(c.data(), c_ref.data(), sizeof(float) * m * n) == 0);
    Matrix ct(m, k, k, 0), ct_ref(m, k, k, 0);
    Gemm(m, a_t.data(), a_t.ld, t_rows_packed, GemmEpilogue{}, ct.data(), ct.ld);
    Gemm(m, a_t.data(), a_t.ld, t_whole, GemmEpilogue{}, ct_ref.data(), ct_ref.ld);
    CHECK(std::memcmp(ct.data(), ct_ref.data(), sizeof(float) * m * k) == 0);
  }
  // Ranges that are not whole panels, or outside the resized shape, throw.
  Matrix w(64, 8, 8, 0, rng);
  PackedWeights p;
  p.Resize(64, 8);
  CHECK_THROWS_AS(p.RepackRows(w.data(), 8, 16, 48), Error);
  CHECK_THROWS_AS(p.RepackRows(w.data(), 8, 32, 65), Error);
  CHECK_THROWS_AS(p.RepackTransposedRows(w.data(), 64, 0, 9), Error);
}

// Rounds to bfloat16 (8 significant bits, ties to even) by scaling the
// mantissa, independently of the kernels' bit manipulation.
float RoundBF16(float x) {
  int e;
  const double m = std::frexp(double(x), &e);  // [0.5, 1)
  return float(std::ldexp(std::nearbyint(std::ldexp(m, 8)), e - 8));
}

Matrix RoundedBF16(const Matrix& x) {
  Matrix r(x.rows, x.cols, x.ld, x.offset);
  for (int i = 0; i < x.rows; ++i)
    for (int j = 0; j < x.cols; ++j) r.at(i, j) = RoundBF16(x.at(i, j));
  return r;
}

// Worst-case error of the int8 path before the epilogue: per element
// |a - a_q| <= s_a / 2 and |w - w_q| <= s_w / 2 (kernels/gemm_lowp.h), so
// |sum a w - sum a_q w_q| <= sum_k (|w| s_a + |a| s_w + s_a s_w / 2) / 2;
// times GELU's maximum slope when it follows.
std::vector<double> QuantBound(const Matrix& a, const Matrix& w, Epilogue act) {
  const int m = a.rows, n = w.rows, k = a.cols;
  std::vector<double> sa(m), sw(n), out(size_t(m) * n);
  for (int i = 0; i < m; ++i) {
    double lo = 0, hi = 0;
    for (int p = 0; p < k; ++p) {
      lo = std::min(lo, double(a.at(i, p)));
      hi = std::max(hi, double(a.at(i, p)));
    }
    sa[i] = (hi - lo) / 255 * (1 + 1e-6);
  }
  for (int j = 0; j < n; ++j) {
    double amax = 0;
    for (int p = 0; p < k; ++p) amax = std::max(amax, std::fabs(double(w.at(j, p))));
    sw[j] = amax / 127 * (1 + 1e-6);
  }
  const double slope = act == Epilogue::kGelu ? 1.13 : 1.0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double b = 0;
      for (int p = 0; p < k; ++p) {
        b += std::fabs(w.at(j, p)) * sa[i] + std::fabs(a.at(i, p)) * sw[j] +
             sa[i] * sw[j] / 2;
      }
      out[size_t(i) * n + j] = slope * b / 2;
    }
  }
  return out;
}

TEST_CASE("GemmBF16 and GemmI8 match references (all targets, epilogues)") {
  std::mt19937 rng(99);
  const Case cases[] = {{1, 1, 1},    {5, 7, 2},     {12, 16, 3},
                        {13, 33, 5},  {7, 48, 17},   {25, 130, 64},
                        {145, 17, 31}, {30, 40, 1030}};
  for (const Case& cs : cases) {
    const int m = cs.m, n = cs.n, k = cs.k;
    Matrix a(m, k, k + 3, 1, rng);
    Matrix w(n, k, k + 1, 0, rng);
    std::vector<float> bias(n);
    for (float& x : bias) x = std::uniform_real_distribution<float>(-1, 1)(rng);
    Matrix res(m, n, n + 2, 1, rng);
    const PackedWeightsBF16 packed16 =
        PackedWeightsBF16::Pack(w.data(), n, k, w.ld);
    const PackedWeightsI8 packed8 = PackedWeightsI8::Pack(w.data(), n, k, w.ld);
    const Matrix a16 = RoundedBF16(a), w16 = RoundedBF16(w);
    struct Variant {
      Epilogue act;
      bool bias, residual, alias;
      const char* name;
    };
    const Variant variants[] = {
        {Epilogue::kNone, false, false, false, "plain"},
        {Epilogue::kGelu, true, false, false, "bias+gelu"},
        {Epilogue::kRelu, true, true, false, "bias+relu+residual"},
        {Epilogue::kNone, true, true, true, "bias+residual aliasing C"},
    };
    for (const Variant& v : variants) {
      const float* b = v.bias ? bias.data() : nullptr;
      const Matrix* r = v.residual ? &res : nullptr;
      // bf16: the operands rounded to bf16 are the exact inputs.
      const testing_gemm::RefResult ref16 = RefGemm(a16, w16, b, v.act, r, 1.0);
      // int8: float reference plus the derived quantisation bound.
      const testing_gemm::RefResult ref = RefGemm(a, w, b, v.act, r, 1.0);
      const std::vector<double> qbound = QuantBound(a, w, v.act);
      ForEachTarget([&](const char* target) {
        for (int variant = 0; variant < 2; ++variant) {
          Matrix c(m, n, n + 3, 1);
          GemmEpilogue ep;
          ep.bias = b;
          ep.activation = v.act;
          if (v.residual && v.alias) {
            c.CopyValidFrom(res);
            ep.residual = c.data();
            ep.ldr = c.ld;
          } else if (v.residual) {
            ep.residual = res.data();
            ep.ldr = res.ld;
          }
          CAPTURE(target);
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(k);
          if (variant == 0) {
            GemmBF16(m, a.data(), a.ld, packed16, ep, c.data(), c.ld);
            CAPTURE(GemmBF16PathName());
            ExpectClose(c, ref16, 1.0, v.name);
          } else {
            GemmI8(m, a.data(), a.ld, packed8, ep, c.data(), c.ld);
            CAPTURE(GemmI8PathName());
            ExpectClose(c, ref, 1.0, v.name, &qbound);
          }
        }
      });
    }
  }
}

// The int8 dot-product kernels (vpdpbusd; sdot / svdot on the top-bit-
// flipped activations) and the widening one compute the same integers, so
// their outputs must be equal bit for bit on every target; the native side
// is only exercised on CPUs that have it (HasInt8Dot).
TEST_CASE("GemmI8: dot-product and widening paths are equal bit for bit (all targets)") {
  std::mt19937 rng(31);
  for (const auto& [m, n, k] : std::vector<std::array<int, 3>>{{1, 1, 1}, {13, 37, 29}, {30, 70, 203}}) {
    Matrix a(m, k, k + 1, 1, rng);
    Matrix w(n, k, k, 0, rng);
    for (int j = 0; j < k; ++j) a.at(0, j) = std::fabs(a.at(0, j));  // a row without negatives
    const PackedWeightsI8 packed = PackedWeightsI8::Pack(w.data(), n, k, w.ld);
    ForEachTarget([&](const char* target) {
      CAPTURE(target);
      CAPTURE(GemmI8PathName());
      Matrix native(m, n, n, 0), widened(m, n, n, 0);
      GemmI8(m, a.data(), a.ld, packed, GemmEpilogue(), native.data(), native.ld);
      EnableNativeDotForTest(false);
      GemmI8(m, a.data(), a.ld, packed, GemmEpilogue(), widened.data(), widened.ld);
      EnableNativeDotForTest(true);
      CHECK(std::memcmp(native.data(), widened.data(), sizeof(float) * size_t(m) * n) == 0);
    });
  }
}

TEST_CASE("bf16 rounding is to nearest even; int8 handles zero rows") {
  // w values exactly halfway between two bf16 numbers: 1 + 2^-8 rounds down
  // to 1 (even), 1 + 3 * 2^-8 rounds up to 1 + 2^-6.
  const float w[2] = {1.0f + 1.0f / 256, 1.0f + 3.0f / 256};
  const float a[2] = {1.0f, 0.0f};
  const float a2[2] = {0.0f, 1.0f};
  float c[1];
  const PackedWeightsBF16 p16 = PackedWeightsBF16::Pack(w, 1, 2, 2);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    GemmBF16(1, a, 2, p16, GemmEpilogue(), c, 1);
    CHECK(c[0] == 1.0f);
    GemmBF16(1, a2, 2, p16, GemmEpilogue(), c, 1);
    CHECK(c[0] == 1.0f + 1.0f / 64);
  });
  const float zeros[4] = {0, 0, 0, 0};
  const float w8[4] = {0.5f, -1.0f, 0.25f, 1.0f};
  const PackedWeightsI8 p8 = PackedWeightsI8::Pack(w8, 1, 4, 4);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    c[0] = kNaN;
    GemmI8(1, zeros, 4, p8, GemmEpilogue(), c, 1);
    CHECK(c[0] == 0.0f);
  });
}

TEST_CASE("Gemm with k = 0 gives act(bias) + residual") {
  std::mt19937 rng(3);
  Matrix w(5, 0, 1, 0, rng);
  const PackedWeights packed = PackedWeights::Pack(w.data(), 5, 0, 1);
  const float bias[5] = {-2, -1, 0, 1, 2};
  float c[2 * 5];
  float a[2] = {kNaN, kNaN};
  GemmEpilogue ep;
  ep.bias = bias;
  ep.activation = Epilogue::kRelu;
  Gemm(2, a, 1, packed, ep, c, 5);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 5; ++j) CHECK(c[i * 5 + j] == std::max(bias[j], 0.0f));
}

TEST_CASE("Gemm rejects bad arguments") {
  float w[4] = {};
  CHECK_THROWS_AS(PackedWeights::Pack(w, 2, 2, 1), persam::Error);
  CHECK_THROWS_AS(PackedWeights::Pack(w, -1, 2, 2), persam::Error);
  const PackedWeights packed = PackedWeights::Pack(w, 2, 2, 2);
  float a[4] = {}, c[4] = {};
  CHECK_THROWS_AS(Gemm(2, a, 1, packed, GemmEpilogue(), c, 2), persam::Error);
  CHECK_THROWS_AS(Gemm(2, a, 2, packed, GemmEpilogue(), c, 1), persam::Error);
  CHECK_THROWS_AS(Gemm(2, a, 2, PackedWeights(), GemmEpilogue(), c, 2),
                  persam::Error);
  CHECK(std::string(GemmTargetName()).size() > 0);
}

}  // namespace
}  // namespace persam::kernels
