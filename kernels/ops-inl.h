// Row and elementwise float32 operations: vector functions and array drivers
// (gemma.cpp ops-inl.h habit). Per-target code: include inside a
// foreach_target TU (or from other -inl.h files) after hwy/highway.h.
//
// Common contract of the array drivers:
//   Lane types: float32. Any length n >= 0, any alignment; tails go through a
//   stack buffer, so nothing outside [p, p + n) is read or written (Highway
//   1.0.3's SSE4 MaskedLoad reads a full aligned vector, BlendedStore writes
//   one: unusable for tails). In place (out == in) is allowed.
#if defined(PERSAM_KERNELS_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PERSAM_KERNELS_OPS_INL_H_
#undef PERSAM_KERNELS_OPS_INL_H_
#else
#define PERSAM_KERNELS_OPS_INL_H_
#endif

#include <stddef.h>
#include <string.h>

#include <cmath>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/gelu-inl.h"
#include "kernels/hwy_target.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// LoadN with the lanes [n, Lanes) set to `fill` (e.g. -inf for a max).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V LoadNOr(D d, const float* p, size_t n, float fill) {
  return hn::IfThenElse(hn::FirstN(d, n), LoadN(d, p, n), hn::Set(d, fill));
}

// Applies `func(d, v)` to x[0, n) and writes out[0, n).
template <class Func>
HWY_INLINE void MapArray(const float* x, float* out, size_t n, const Func& func) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto v0 = func(d, hn::LoadU(d, x + i));
    const auto v1 = func(d, hn::LoadU(d, x + i + N));
    hn::StoreU(v0, d, out + i);
    hn::StoreU(v1, d, out + i + N);
  }
  for (; i + N <= n; i += N) hn::StoreU(func(d, hn::LoadU(d, x + i)), d, out + i);
  if (i < n) StoreN(func(d, LoadN(d, x + i, n - i)), d, out + i, n - i);
}

// Sum of x[0, n) with 4 vector accumulators (float; pairwise by lanes).
HWY_INLINE float SumArray(const float* x, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::Add(s0, hn::LoadU(d, x + i));
    s1 = hn::Add(s1, hn::LoadU(d, x + i + N));
    s2 = hn::Add(s2, hn::LoadU(d, x + i + 2 * N));
    s3 = hn::Add(s3, hn::LoadU(d, x + i + 3 * N));
  }
  for (; i + N <= n; i += N) s0 = hn::Add(s0, hn::LoadU(d, x + i));
  if (i < n) s1 = hn::Add(s1, LoadN(d, x + i, n - i));
  s0 = hn::Add(hn::Add(s0, s1), hn::Add(s2, s3));
  return hn::GetLane(hn::SumOfLanes(d, s0));
}

// Sum of (x - c)^2 over x[0, n).
HWY_INLINE float SumSquaredDeviation(const float* x, size_t n, float c) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vc = hn::Set(d, c);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::Sub(hn::LoadU(d, x + i), vc);
    const auto b = hn::Sub(hn::LoadU(d, x + i + N), vc);
    s0 = hn::MulAdd(a, a, s0);
    s1 = hn::MulAdd(b, b, s1);
  }
  for (; i + N <= n; i += N) {
    const auto a = hn::Sub(hn::LoadU(d, x + i), vc);
    s0 = hn::MulAdd(a, a, s0);
  }
  if (i < n) {
    const auto a = hn::Sub(LoadNOr(d, x + i, n - i, c), vc);  // pad with c: 0
    s1 = hn::MulAdd(a, a, s1);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
}

// out = LayerNorm(x) for one row given its mean and rstd = 1 / sqrt(var +
// eps): the affine half of LayerNormRow, also run on its own by fused
// kernels that compute a group's row statistics first (gelu_ops.cc).
HWY_INLINE void LayerNormApplyRow(const float* x, size_t cols, const float* gamma, const float* beta, float mean,
                                  float rstd, float* out) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vmean = hn::Set(d, mean), vrstd = hn::Set(d, rstd);
  const auto one = hn::Set(d, 1.0f);
  auto row = [&](auto v, auto g, auto b) { return hn::MulAdd(hn::Mul(hn::Sub(v, vmean), vrstd), g, b); };
  size_t i = 0;
  for (; i + N <= cols; i += N) {
    const auto g = gamma ? hn::LoadU(d, gamma + i) : one;
    const auto b = beta ? hn::LoadU(d, beta + i) : hn::Zero(d);
    hn::StoreU(row(hn::LoadU(d, x + i), g, b), d, out + i);
  }
  if (i < cols) {
    const size_t r = cols - i;
    const auto g = gamma ? LoadN(d, gamma + i, r) : one;
    const auto b = beta ? LoadN(d, beta + i, r) : hn::Zero(d);
    StoreN(row(LoadN(d, x + i, r), g, b), d, out + i, r);
  }
}

// LayerNorm of one row, two-pass (mean, then biased variance of deviations)
// as PyTorch's CPU layer_norm. Max error: a few ULP of the output plus
// cols * eps_f32 * |x - mean| / std from the float sums. gamma/beta may be
// null (identity affine).
HWY_INLINE void LayerNormRow(const float* x, size_t cols, const float* gamma,
                             const float* beta, float eps, float* out) {
  if (cols == 0) return;
  const float mean = SumArray(x, cols) / static_cast<float>(cols);
  const float var = SumSquaredDeviation(x, cols, mean) / static_cast<float>(cols);
  const float rstd = 1.0f / std::sqrt(var + eps);
  LayerNormApplyRow(x, cols, gamma, beta, mean, rstd, out);
}

// Max of x[0, n), n >= 1.
HWY_INLINE float MaxArray(const float* x, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto m = hn::Set(d, -HUGE_VALF);
  size_t i = 0;
  for (; i + N <= n; i += N) m = hn::Max(m, hn::LoadU(d, x + i));
  if (i < n) m = hn::Max(m, LoadNOr(d, x + i, n - i, -HUGE_VALF));
  return hn::GetLane(hn::MaxOfLanes(d, m));
}

// In-place softmax of one row (max-subtracted, as PyTorch). Max error: 2 ULP
// of exp + n * eps_f32 relative from the float sum. A row of all -inf gives
// NaN like PyTorch.
HWY_INLINE void SoftmaxRow(float* x, size_t n) {
  if (n == 0) return;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vmax = hn::Set(d, MaxArray(x, n));
  auto s0 = hn::Zero(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmax));
    hn::StoreU(e, d, x + i);
    s0 = hn::Add(s0, e);
  }
  if (i < n) {
    const auto e = hn::Exp(d, hn::Sub(LoadNOr(d, x + i, n - i, -HUGE_VALF), vmax));
    StoreN(e, d, x + i, n - i);
    s0 = hn::Add(s0, e);  // padded lanes are exp(-inf) = 0
  }
  const float inv = 1.0f / hn::GetLane(hn::SumOfLanes(d, s0));
  // The scalar is captured, not its vector: SVE vectors cannot be.
  MapArray(x, x, n, [inv](auto dv, auto v) { return hn::Mul(v, hn::Set(dv, inv)); });
}

// Scales x[0, n) to unit L2 norm; a zero row stays zero.
HWY_INLINE void L2NormalizeRow(float* x, size_t n) {
  const float ss = SumSquaredDeviation(x, n, 0.0f);
  if (!(ss > 0.0f)) return;
  const float inv = 1.0f / std::sqrt(ss);
  MapArray(x, x, n, [inv](auto dv, auto v) { return hn::Mul(v, hn::Set(dv, inv)); });
}

// Vector functions for MapArray.
struct GeluFunc {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V v) const { return Gelu(d, v); }
};
struct ReluFunc {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V v) const { return hn::Max(v, hn::Zero(d)); }
};
// sigmoid(x) = 1 / (1 + exp(-x)); Max error 3 ULP; +-inf -> 1 / 0.
struct SigmoidFunc {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V v) const {
    const auto one = hn::Set(d, 1.0f);
    // Exp is valid up to +104; beyond that 1 / (1 + inf) = 0 is the answer.
    const auto e = hn::Exp(d, hn::Min(hn::Neg(v), hn::Set(d, 88.0f)));
    const auto r = hn::Div(one, hn::Add(one, e));
    const auto big = hn::Gt(hn::Neg(v), hn::Set(d, 88.0f));
    return hn::IfThenElse(hn::Eq(v, v), hn::IfThenZeroElse(big, r), v);
  }
};

}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PERSAM_KERNELS_OPS_INL_H_ toggle
