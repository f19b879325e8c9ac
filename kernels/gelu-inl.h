// Vector erf and exact-erf GELU for float32 lanes (Highway 1.0.3 has no Erf).
// Per-target code: include after hwy/highway.h inside a foreach_target TU.
//
// Erf(d, x)
//   Lane types: float32. Valid range: all floats (NaN propagates, erf(+-inf)
//   = +-1, tiny and subnormal x give 2/sqrt(pi) x).
//   Max error: 2 ULP over [-8, 8] (measured by kernels_test's sweep against
//   std::erf: see "Erf ULP sweep"), exact +-1 beyond |x| > 3.92.
//   Method: |x| < 1: x * P(x^2), P a degree-6 minimax fit of erf(x)/x
//   (relative fit error 1.2e-9); |x| >= 1: 1 - exp(-x^2) R(|x|), R a degree-11
//   fit of erfc(x) e^(x^2) on [1, 4] in (x - 2.5) (relative fit error 2.8e-8).
//   Coefficients were fitted with Lawson-weighted least squares in mpmath
//   (scratch script, not part of the build) and rounded to float.
//
// Gelu(d, x) = x/2 (1 + erf(x / sqrt(2))) as PyTorch's gelu(approximate=
//   "none"). The negative side is computed as x/2 erfc(|x|/sqrt(2)) without
//   the cancellation of 1 + erf, so it is relatively accurate where
//   PyTorch's float formula is not:
//   Max error: 4 ULP for x >= 0; for -5.6 <= x < 0 relative error
//   <= (16 + 1.5 x^2) eps_f32 (16: 1 - erf cancels for |x| near sqrt(2);
//   1.5 x^2: exp(-x^2/2) inherits the rounding of x/sqrt(2) and of its
//   square); for x < -5.6 (|result| < 5e-8) relative error <= 4%
//   (the erfc tail uses R(4) * 4/|x|).
//   Gelu(+inf) = +inf, Gelu(-inf) = -0, NaN propagates.
#if defined(PERSAM_KERNELS_GELU_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PERSAM_KERNELS_GELU_INL_H_
#undef PERSAM_KERNELS_GELU_INL_H_
#else
#define PERSAM_KERNELS_GELU_INL_H_
#endif

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace gelu_detail {

// erf(a) / a for a in [0, 1], as a polynomial in t = a^2.
template <class D, class V>
HWY_INLINE V ErfOverXPoly(D d, V t) {
  V p = hn::Set(d, 7.854026626e-05f);
  p = hn::MulAdd(p, t, hn::Set(d, -8.010247839e-04f));
  p = hn::MulAdd(p, t, hn::Set(d, 5.188334733e-03f));
  p = hn::MulAdd(p, t, hn::Set(d, -2.685381658e-02f));
  p = hn::MulAdd(p, t, hn::Set(d, 1.128358543e-01f));
  p = hn::MulAdd(p, t, hn::Set(d, -3.761262596e-01f));
  return hn::MulAdd(p, t, hn::Set(d, 1.128379107e+00f));
}

// erfc(a) * exp(a^2) for a in [1, 4] (a is clamped there by the caller).
template <class D, class V>
HWY_INLINE V ErfcScaledPoly(D d, V a) {
  const V s = hn::Sub(a, hn::Set(d, 2.5f));
  V p = hn::Set(d, -3.972067759e-07f);
  p = hn::MulAdd(p, s, hn::Set(d, 1.664511842e-06f));
  p = hn::MulAdd(p, s, hn::Set(d, -3.926730187e-06f));
  p = hn::MulAdd(p, s, hn::Set(d, 1.439432344e-05f));
  p = hn::MulAdd(p, s, hn::Set(d, -5.912389679e-05f));
  p = hn::MulAdd(p, s, hn::Set(d, 2.128928900e-04f));
  p = hn::MulAdd(p, s, hn::Set(d, -7.335403934e-04f));
  p = hn::MulAdd(p, s, hn::Set(d, 2.466045087e-03f));
  p = hn::MulAdd(p, s, hn::Set(d, -8.001540788e-03f));
  p = hn::MulAdd(p, s, hn::Set(d, 2.493818663e-02f));
  p = hn::MulAdd(p, s, hn::Set(d, -7.434735447e-02f));
  return hn::MulAdd(p, s, hn::Set(d, 2.108063549e-01f));
}

// erfc(a) for a >= 1 (any a >= 1, including +inf).
template <class D, class V>
HWY_INLINE V ErfcLarge(D d, V a) {
  const V k4 = hn::Set(d, 4.0f);
  const V a_clamped = hn::Min(a, k4);
  // Beyond 4, erfc(a) e^(a^2) ~ 1 / (a sqrt(pi)): scale R(4) by 4 / a.
  V r = ErfcScaledPoly(d, a_clamped);
  r = hn::Mul(r, hn::Div(k4, hn::Max(a, k4)));
  const V e = hn::Exp(d, hn::Neg(hn::Mul(a, a)));
  return hn::Mul(e, r);
}

}  // namespace gelu_detail

template <class D, class V = hn::Vec<D>>
HWY_INLINE V Erf(D d, V x) {
  const V one = hn::Set(d, 1.0f);
  const V a = hn::Abs(x);
  const V small = hn::Mul(a, gelu_detail::ErfOverXPoly(d, hn::Mul(a, a)));
  const V large = hn::Sub(one, gelu_detail::ErfcLarge(d, hn::Max(a, one)));
  const V r = hn::IfThenElse(hn::Lt(a, one), small, large);
  // Exact for x = +-0 via CopySign; NaN propagates through the last blend.
  return hn::IfThenElse(hn::Eq(x, x), hn::CopySignToAbs(r, x), x);
}

template <class D, class V = hn::Vec<D>>
HWY_INLINE V Gelu(D d, V x) {
  const V one = hn::Set(d, 1.0f);
  const V z = hn::Mul(x, hn::Set(d, 0.7071067811865475f));
  const V a = hn::Abs(z);
  const auto is_small = hn::Lt(a, one);
  const V erf_small = hn::Mul(a, gelu_detail::ErfOverXPoly(d, hn::Mul(a, a)));
  const V erfc_large = gelu_detail::ErfcLarge(d, hn::Max(a, one));
  // erfc(a) and erf(a) for a = |z|.
  const V erfc_a = hn::IfThenElse(is_small, hn::Sub(one, erf_small), erfc_large);
  const V erf_a = hn::IfThenElse(is_small, erf_small, hn::Sub(one, erfc_large));
  // 1 + erf(z): 1 + erf(a) for z >= 0, erfc(a) for z < 0.
  const V factor =
      hn::IfThenElse(hn::Lt(z, hn::Zero(d)), erfc_a, hn::Add(one, erf_a));
  // Clamp so that -inf * 0 gives -0 instead of NaN (factor is 0 there).
  const V xc = hn::Max(x, hn::Set(d, -64.0f));
  const V r = hn::Mul(hn::Mul(hn::Set(d, 0.5f), xc), factor);
  return hn::IfThenElse(hn::Eq(x, x), r, x);
}

}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PERSAM_KERNELS_GELU_INL_H_ toggle
