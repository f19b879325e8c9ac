// Helpers for the GEMM tests: NaN-padded, deliberately misaligned matrices,
// a double-precision reference with a per-element error scale, and the
// every-Highway-target loop (hwy/tests/hwy_gtest.h without gtest).
#ifndef PERSAM_TESTS_GEMM_TEST_UTIL_H_
#define PERSAM_TESTS_GEMM_TEST_UTIL_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "hwy/targets.h"
#include "kernels/gemm.h"

namespace persam::kernels::testing_gemm {

// rows x cols floats with row stride ld >= cols, starting `offset` floats
// past a 64-byte aligned base; everything outside the valid part is NaN.
struct Matrix {
  int rows, cols, ld, offset;
  std::vector<float> storage;

  Matrix(int r, int c, int ld_, int off)
      : rows(r), cols(c), ld(ld_), offset(off),
        storage(size_t(r) * ld_ + off + 16,
                std::numeric_limits<float>::quiet_NaN()) {}
  // Random values in [-1, 1) in the valid part.
  Matrix(int r, int c, int ld_, int off, std::mt19937& rng)
      : Matrix(r, c, ld_, off) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < c; ++j) at(i, j) = dist(rng);
  }
  float* data() { return storage.data() + offset; }
  const float* data() const { return storage.data() + offset; }
  float& at(int i, int j) { return data()[size_t(i) * ld + j]; }
  float at(int i, int j) const { return data()[size_t(i) * ld + j]; }
  void CopyValidFrom(const Matrix& other) {
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) at(i, j) = other.at(i, j);
  }
};

struct RefResult {
  std::vector<double> value;  // [m, n]
  // Per element: the float32 rounding error scale. |got - value| must be
  // <= bound * rel_eps (+ a relative allowance for the epilogue's own error).
  std::vector<double> bound;
};

inline double GeluRef(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }

// C = act(alpha * A W^T + bias) + residual in double. eps = unit roundoff
// 2^-24 (round to nearest). bound = (k + 2) eps *
// (sum |alpha a w| + |bias|) * max|act'| + eps |residual| + eps |C|.
inline RefResult RefGemm(const Matrix& a, const Matrix& w, const float* bias,
                         Epilogue act, const Matrix* residual, double alpha,
                         double eps = 1.0 / (1 << 24)) {
  const int m = a.rows, n = w.rows, k = a.cols;
  RefResult r;
  r.value.resize(size_t(m) * n);
  r.bound.resize(size_t(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double sum = 0.0, sum_abs = 0.0;
      for (int p = 0; p < k; ++p) {
        const double prod = double(a.at(i, p)) * double(w.at(j, p)) * alpha;
        sum += prod;
        sum_abs += std::fabs(prod);
      }
      if (bias) {
        sum += bias[j];
        sum_abs += std::fabs(bias[j]);
      }
      double err = (k + 2) * eps * sum_abs;
      double out = sum;
      if (act == Epilogue::kGelu) {
        out = GeluRef(sum);
        // GELU's slope is at most 1.13; its own approximation error is a
        // few ulp of |x| near its zero crossing.
        err = 1.13 * err + 4 * eps * std::fabs(sum);
      } else if (act == Epilogue::kRelu) {
        out = sum > 0 ? sum : 0;
      }
      if (residual) {
        const double res = residual->at(i, j);
        out += res;
        err += eps * std::fabs(res);
      }
      err += eps * std::fabs(out);
      r.value[size_t(i) * n + j] = out;
      r.bound[size_t(i) * n + j] = err;
    }
  }
  return r;
}

// Runs f(target_name) once per Highway target compiled into the kernels and
// supported by this CPU, with dispatch forced to that target.
template <class F>
void ForEachTarget(const F& f) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    f(hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace persam::kernels::testing_gemm

#endif  // PERSAM_TESTS_GEMM_TEST_UTIL_H_
