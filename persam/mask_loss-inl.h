// Vector body of PerSAM-F's dice + focal loss pass (see mask_loss.h).
// Per-target code; include after hwy/highway.h inside a foreach_target TU.
//
// Lane type: float32. Per pixel, with y = c + w1 e1 + w2 e2:
//   e  = exp(-|y|)                       (ExpOfNegative, ~3 ULP)
//   q  = sigmoid(y), 1 - q               (1 / (1 + e) and e / (1 + e): no
//                                         cancellation)
//   s  = softplus(y) = max(y, 0) + log1p(e)  (Log1pUnit, abs. error 1.3e-7;
//        absolute error is what matters: the terms are summed)
//   focal term (without alpha)      f = s q^2
//   its derivative in y             g = q^2 (q + 2 (1 - q) s)
//   dice: d sigmoid / dy            q (1 - q)
// Valid for any finite y; a padding pixel (y = -200, e1 = e2 = 0) adds
// exp(-86) ~ 4.5e-38 to sum q and exactly 0 to every other sum.
// Accumulators: float lanes over one block (kMaskLossBlock pixels, <= 256
// additions per lane), then the caller widens them to double.

#if defined(PERSAM_PERSAM_MASK_LOSS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PERSAM_PERSAM_MASK_LOSS_INL_H_
#undef PERSAM_PERSAM_MASK_LOSS_INL_H_
#else
#define PERSAM_PERSAM_MASK_LOSS_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace persam {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// exp(-a) for a >= 0 (float32): a clamped to 86 (exp(-86) = 4.5e-38, the
// smallest result; the true value below that is irrelevant to any sum here),
// 2^-n * exp(r) with r = n ln2 - a in [-ln2/2, ln2/2], Taylor degree 6:
// relative error <= 1.3e-7 + rounding (~3 ULP). The 2^-n scaling subtracts
// n from the exponent field of exp(r) in [0.7, 1.42] (n <= 124: stays normal).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpOfNegative(D d, V a) {
  const hn::RebindToSigned<D> di;
  const V magic = hn::Set(d, 12582912.0f);  // 1.5 * 2^23: round to integer
  a = hn::Min(a, hn::Set(d, 86.0f));
  const V shifted = hn::MulAdd(a, hn::Set(d, 1.44269504088896341f), magic);
  const V n = hn::Sub(shifted, magic);
  // r = n ln2 - a, ln2 split in a high part exact in float and a low part.
  V r = hn::MulSub(n, hn::Set(d, 0.693359375f), a);
  r = hn::MulAdd(n, hn::Set(d, -2.12194440e-4f), r);
  V p = hn::Set(d, 1.0f / 720);
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 120));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 24));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 6));
  p = hn::MulAdd(p, r, hn::Set(d, 0.5f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f));
  // The low mantissa bits of `shifted` hold n; << 23 moves them to the
  // exponent field (the constant's bits shift out).
  const auto exponent = hn::ShiftLeft<23>(hn::BitCast(di, shifted));
  return hn::BitCast(d, hn::Sub(hn::BitCast(di, p), exponent));
}

// log1p(e) for e in [0, 1] (float32): e * P8(e), P8 a Chebyshev fit of
// log1p(e) / e; absolute error <= 1.3e-7, relative <= 2e-7, exactly 0 at 0.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Log1pUnit(D d, V e) {
  V p = hn::Set(d, 5.253457930e-03f);
  p = hn::MulAdd(p, e, hn::Set(d, -2.958850749e-02f));
  p = hn::MulAdd(p, e, hn::Set(d, 7.836166769e-02f));
  p = hn::MulAdd(p, e, hn::Set(d, -1.367477030e-01f));
  p = hn::MulAdd(p, e, hn::Set(d, 1.911143064e-01f));
  p = hn::MulAdd(p, e, hn::Set(d, -2.484436929e-01f));
  p = hn::MulAdd(p, e, hn::Set(d, 3.331927061e-01f));
  p = hn::MulAdd(p, e, hn::Set(d, -4.999950230e-01f));
  p = hn::MulAdd(p, e, hn::Set(d, 1.0f));
  return hn::Mul(p, e);
}

// Sums of one block of `count` pixels (count a multiple of Lanes(d)) into
// out[0..5] = {sum q, sum f, sum q(1-q) e1, sum q(1-q) e2, sum g e1, sum g e2}.
template <class D>
HWY_INLINE void MaskLossBlockSums(D d, const float* HWY_RESTRICT c,
                                  const float* HWY_RESTRICT e1,
                                  const float* HWY_RESTRICT e2, int64_t count,
                                  float w1, float w2, double* out) {
  using V = hn::Vec<D>;
  const V vw1 = hn::Set(d, w1);
  const V vw2 = hn::Set(d, w2);
  const V zero = hn::Zero(d);
  const V one = hn::Set(d, 1.0f);
  const V two = hn::Set(d, 2.0f);
  const V saturated = hn::Set(d, 17.0f);
  V sum_q = zero, sum_f = zero, dice1 = zero, dice2 = zero, focal1 = zero,
    focal2 = zero;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t i = 0; i < count; i += n) {
    const V ve1 = hn::LoadU(d, e1 + i);
    const V ve2 = hn::LoadU(d, e2 + i);
    const V y = hn::MulAdd(vw2, ve2, hn::MulAdd(vw1, ve1, hn::LoadU(d, c + i)));
    const V a = hn::Abs(y);
    const V e = ExpOfNegative(d, a);
    const auto positive = hn::Ge(y, zero);
    V q, omq, s;
    if (hn::AllTrue(d, hn::Ge(a, saturated))) {
      // |y| >= 17: e < 4.2e-8, so in float32 1 + e == 1 and log1p(e) == e:
      // the general path below would compute exactly these values. Large
      // uniform regions (far background, object interior) take this path.
      q = hn::IfThenElse(positive, one, e);
      omq = hn::IfThenElse(positive, e, one);
      s = hn::Add(hn::Max(y, zero), e);
    } else {
      const V u = hn::Add(one, e);
      // 1 / u, u in [1, 2]: reciprocal estimate + one Newton step (relative
      // error ~1e-7 with AVX-512's 14-bit estimate, ~5e-7 with 12-bit AVX2/SSE4).
      const V r0 = hn::ApproximateReciprocal(u);
      const V r = hn::Mul(r0, hn::NegMulAdd(u, r0, two));
      const V er = hn::Mul(e, r);
      q = hn::IfThenElse(positive, r, er);
      omq = hn::IfThenElse(positive, er, r);
      s = hn::Add(hn::Max(y, zero), Log1pUnit(d, e));
    }
    const V q2 = hn::Mul(q, q);
    sum_q = hn::Add(sum_q, q);
    sum_f = hn::MulAdd(s, q2, sum_f);
    const V g = hn::Mul(q2, hn::MulAdd(two, hn::Mul(omq, s), q));
    const V sd = hn::Mul(q, omq);
    dice1 = hn::MulAdd(sd, ve1, dice1);
    dice2 = hn::MulAdd(sd, ve2, dice2);
    focal1 = hn::MulAdd(g, ve1, focal1);
    focal2 = hn::MulAdd(g, ve2, focal2);
  }
  out[0] = hn::GetLane(hn::SumOfLanes(d, sum_q));
  out[1] = hn::GetLane(hn::SumOfLanes(d, sum_f));
  out[2] = hn::GetLane(hn::SumOfLanes(d, dice1));
  out[3] = hn::GetLane(hn::SumOfLanes(d, dice2));
  out[4] = hn::GetLane(hn::SumOfLanes(d, focal1));
  out[5] = hn::GetLane(hn::SumOfLanes(d, focal2));
}

}  // namespace HWY_NAMESPACE
}  // namespace persam
HWY_AFTER_NAMESPACE();

#endif  // PERSAM_PERSAM_MASK_LOSS_INL_H_
