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
// Gelu(d, x) = x Phi(x) = x/2 (1 + erf(x / sqrt(2))) as PyTorch's
//   gelu(approximate="none"); Phi is the normal CDF.
//   Lane types: float32. Valid range: all floats; Gelu(+inf) = +inf,
//   Gelu(x <= -13) = +-0 (|exact| < 1e-37), NaN propagates.
//   Method: one formula for every x, no erf and no cancellation:
//   q = Phi(-|x|) = e^(-x^2/2) R(|x|), then x q for x < 0 and x - x q (one
//   FMA) for x >= 0. R(y) = erfc(y/sqrt(2)) e^(y^2/2) / 2 = t P(t - c) with
//   t = 1 / (1 + 0.3 y), P of degree 9 fitted on y in [0, 13] (relative fit
//   error 5e-9 after rounding the coefficients to float; same Lawson
//   mpmath fit as above). x^2/2 = h + l is split exactly (FMA; Dekker's
//   product without FMA) so that e^(-x^2/2) = e^(-h) (1 - l) does not
//   inherit the rounding of x^2 (the old erf-based GELU lost 1.5 x^2 eps
//   there); e^(-h): Cody-Waite reduction and a degree-6 fit.
//   Max error (kernels_test "Gelu sweep", every 127th float of [-16, 16]
//   against double): 3 ULP for x >= 0 (4 without FMA: SSSE3/SSE4);
//   relative 5.7 x 2^-24 for -13 <= x < 0 where the result is a normal
//   float (6.8 x 2^-24 without FMA); absolute < 1e-37 below that.
//   (The erf-based GELU it replaced: 2 ULP for x >= 0, (16 + 1.5 x^2)
//   2^-24 relative down to -5.6 and 4% beyond, at 1.33x the time.)
//   Cost per vector: ~27 FMAs and 4 multiplies, no division on AVX-512
//   (vrcp14ps, corrected together with the rounding of 1 + k y).
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

// GELU's t = 1 / (1 + kGeluK y) and the centre of its polynomial variable
// (t in [1 / (1 + 13 k), 1]).
constexpr float kGeluK = 0.3f;
constexpr float kGeluC = 0.600806474685669f;

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
  const hn::RebindToSigned<D> di;
  const V one = hn::Set(d, 1.0f);
  // q = Phi(-y), y = |x| (clamped: q is flushed to 0 beyond 13 below).
  const V y = hn::Abs(x);
  const V yc = hn::Min(y, hn::Set(d, 13.0f));
  // y^2 / 2 = h + l exactly (y / 2 is exact; l by FMA).
  const V half_y = hn::Mul(yc, hn::Set(d, 0.5f));
  const V h = hn::Mul(half_y, yc);
#if HWY_NATIVE_FMA
  const V l = hn::MulSub(half_y, yc, h);
#else
  // Without FMA, Dekker's product: yc = hi + lo with 12-bit halves.
  const V split = hn::Mul(yc, hn::Set(d, 4097.0f));
  const V hi = hn::Sub(split, hn::Sub(split, yc));
  const V lo = hn::Sub(yc, hi);
  const V half_hi = hn::Mul(hi, hn::Set(d, 0.5f));
  const V l = hn::Add(hn::Add(hn::Sub(hn::Mul(half_hi, hi), h), hn::Mul(hi, lo)),
                      hn::Mul(hn::Mul(lo, lo), hn::Set(d, 0.5f)));
#endif
  // R(y) = t P(t - c), t = 1 / (1 + k y). R's relative sensitivity to t is
  // up to 2.7 (near y = 0), so t and t - c are corrected for the rounding
  // of 1 + k y (rem, exact by FMA) and of the reciprocal (res): without it,
  // x >= 0 had 5 ULP instead of 3.
  const V den = hn::MulAdd(hn::Set(d, gelu_detail::kGeluK), yc, one);
  const V rem = hn::MulAdd(hn::Set(d, gelu_detail::kGeluK), yc, hn::Sub(one, den));
#if HWY_TARGET <= HWY_AVX3 && HWY_ARCH_X86
  // vrcp14ps (relative error < 2^-14): the correction below doubles as its
  // Newton step (cheaper than a division; t ends within 2^-27 of 1 / den).
  const V t0 = hn::ApproximateReciprocal(den);
#else
  const V t0 = hn::Div(one, den);
#endif
  // res = 1 - t0 (den + rem), the relative error of t0.
  const V res = hn::NegMulAdd(t0, rem, hn::NegMulAdd(den, t0, one));
  const V u = hn::MulAdd(t0, res, hn::Sub(t0, hn::Set(d, gelu_detail::kGeluC)));
  const V t = hn::MulAdd(t0, res, t0);
  V p = hn::Set(d, -2.002416737e-02f);
  p = hn::MulAdd(p, u, hn::Set(d, 1.009361586e-03f));
  p = hn::MulAdd(p, u, hn::Set(d, 4.400350899e-02f));
  p = hn::MulAdd(p, u, hn::Set(d, -7.333094254e-03f));
  p = hn::MulAdd(p, u, hn::Set(d, -9.106037766e-02f));
  p = hn::MulAdd(p, u, hn::Set(d, -1.418438181e-02f));
  p = hn::MulAdd(p, u, hn::Set(d, 2.253098637e-01f));
  p = hn::MulAdd(p, u, hn::Set(d, 4.142899215e-01f));
  p = hn::MulAdd(p, u, hn::Set(d, 4.058045447e-01f));
  p = hn::MulAdd(p, u, hn::Set(d, 2.588996887e-01f));
  // R (1 - l) ~ R e^-l.
  const V rt = hn::Mul(t, p);
  const V r_corr = hn::NegMulAdd(rt, l, rt);
  // e^-h, h in [0, 84.5]: n = round(h / ln 2) by the 1.5 * 2^23 shifter,
  // Cody-Waite reduction to |r| <= 0.35, a degree-6 fit of e^-r, and 2^-n
  // subtracted from the exponent field (n <= 122: the result stays normal).
  const V shifter = hn::Set(d, 12582912.0f);
  const V s = hn::MulAdd(h, hn::Set(d, 1.44269504088896341f), shifter);
  const V n = hn::Sub(s, shifter);
  V r = hn::NegMulAdd(n, hn::Set(d, 0.693359375f), h);
  r = hn::NegMulAdd(n, hn::Set(d, -2.12194440e-4f), r);
  V e = hn::Set(d, 1.382073388e-03f);
  e = hn::MulAdd(e, r, hn::Set(d, -8.368677460e-03f));
  e = hn::MulAdd(e, r, hn::Set(d, 4.166826606e-02f));
  e = hn::MulAdd(e, r, hn::Set(d, -1.666652113e-01f));
  e = hn::MulAdd(e, r, hn::Set(d, 4.999999404e-01f));
  e = hn::MulAdd(e, r, hn::Set(d, -1.0f));
  e = hn::MulAdd(e, r, one);
  // The low bits of s hold n; shifting them into the exponent field drops
  // the shifter's own bits.
  e = hn::BitCast(d, hn::Sub(hn::BitCast(di, e), hn::ShiftLeft<23>(hn::BitCast(di, s))));
  const V q = hn::IfThenZeroElse(hn::Gt(y, hn::Set(d, 13.0f)), hn::Mul(e, r_corr));
  // x < 0: x q; x >= 0: x - x q (one rounding). xc = +-yc keeps +-inf out
  // of the product (q is 0 there).
  const V xc = hn::CopySignToAbs(yc, x);
  const auto negative = hn::Lt(x, hn::Zero(d));
  const V gelu = hn::MulAdd(hn::IfThenElse(negative, q, hn::Neg(q)), xc, hn::ZeroIfNegative(x));
  // A NaN x is passed through explicitly: whether Min and ZeroIfNegative
  // keep a NaN differs by target (under qemu, the NEON and SVE targets
  // returned a number for Gelu(NaN) without this blend).
  return hn::IfThenElse(hn::Eq(x, x), gelu, x);
}

}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PERSAM_KERNELS_GELU_INL_H_ toggle
