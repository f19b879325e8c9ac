// Vector body of PerSAM-F's dice + focal loss pass (see mask_loss.h).
// Per-target code; include after hwy/highway.h inside a foreach_target TU.
//
// Lane type: float32. The maps arrive in base-2 units (MaskMixtureProblem):
// y2 = c + w1 e1 + w2 e2 = y / ln2. Per pixel, with a = |y|:
//   e  = exp(-a) = 2^-|y2|               (Exp2OfNegative, relative error
//                                         <= 1.7e-7 = 1.4 ULP)
//   qn = sigmoid(-a) = e / (1 + e), l = log1p(e); then
//   q  = sigmoid(y) = 1 - qn or qn, 1 - q = qn or 1 - qn (by the sign of y:
//        the small one is always computed directly, no cancellation)
//   s  = softplus(y) = max(y, 0) + l
//   focal term (without alpha)      f = s q^2
//   its derivative in y             g = q^2 (q + 2 (1 - q) s)
//   dice: d sigmoid / dy            q (1 - q)
// qn and l are computed by one of three tiers, chosen per pair of vectors
// (all lanes must qualify; smooth maps give long runs of one tier):
//   deep     y <= -16.98 (e <= 4.3e-8): q = e, 1 - q = 1 (what float gives:
//            1 + e == 1); f <= e^3 < 1e-22 and g <= 3 e^3 are dropped (below
//            float32 resolution of any sum they would join).
//   series   a >= 5.545 (e <= 2^-8): qn = e (1 - e + e^2), relative error
//            <= e^3 = 6e-8; l = e (1 - e/2 + e^2/3), relative <= e^3/4;
//            a >= 4.159 (e <= 2^-6): one more term each, errors <= e^4 =
//            6e-8 and e^4/5.
//   general  qn = e / (1 + e) by reciprocal + Newton, l by Log1pUnit
//            (relative error 1.7e-7 with float32 rounding).
// Valid for any finite y; a padding pixel (y = -200, e1 = e2 = 0) adds
// 2^-124 ~ 4.7e-38 to sum q and exactly 0 to every other sum.
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

// 2^-a for a >= 0 (float32), i.e. exp(-a ln2): a clamped to 124 (2^-124 =
// 4.7e-38, the smallest result; the true value below that is irrelevant to
// any sum here), n = round(a), f = n - a in [-1/2, 1/2] (exact: Sterbenz),
// 2^-a = 2^-n 2^f. 2^f: degree-5 polynomial fitted for minimal relative
// error (9.1e-8; 1.68e-7 = 1.4 ULP with float32 Horner rounding, checked over
// a dense sweep). No FMA before the polynomial: taking the maps in base-2
// units (see MaskMixtureProblem) moved the 1/ln2 scaling to the preparation.
// The 2^-n scaling subtracts n from the exponent field of 2^f in [0.7, 1.42]
// (n <= 124: stays normal).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Exp2OfNegative(D d, V a) {
  const hn::RebindToSigned<D> di;
  const V magic = hn::Set(d, 12582912.0f);  // 1.5 * 2^23: round to integer
  a = hn::Min(a, hn::Set(d, 124.0f));
  const V shifted = hn::Add(a, magic);
  const V f = hn::Sub(hn::Sub(shifted, magic), a);
  V p = hn::Set(d, 1.326472731e-03f);
  p = hn::MulAdd(p, f, hn::Set(d, 9.671512991e-03f));
  p = hn::MulAdd(p, f, hn::Set(d, 5.550733581e-02f));
  p = hn::MulAdd(p, f, hn::Set(d, 2.402224243e-01f));
  p = hn::MulAdd(p, f, hn::Set(d, 6.931470037e-01f));
  p = hn::MulAdd(p, f, hn::Set(d, 1.0f));
  // The low mantissa bits of `shifted` hold n; << 23 moves them to the
  // exponent field (the constant's bits shift out).
  const auto exponent = hn::ShiftLeft<23>(hn::BitCast(di, shifted));
  return hn::BitCast(d, hn::Sub(hn::BitCast(di, p), exponent));
}

// log1p(e) for e in [0, 1] (float32): e * P8(e), P8 a Chebyshev fit of
// log1p(e) / e; with float32 rounding absolute error <= 1.1e-7, relative
// <= 1.7e-7 (dense sweep), exactly 0 at 0.
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

// Adds one vector of pixels given y2 = y / ln2 (base-2 units), qn =
// sigmoid(-|y|) and l = log1p(e). e1, e2 are in base-2 units too: the caller
// scales the gradient sums by ln2. kAllNegative: every lane has y < 0 (the
// correctly classified bulk of both groups), so q = qn, s = l, and
// q (1 - q) = q - q^2 (q <= 1/2: two roundings, as for the product).
// The six sums are separate references, not a struct: SVE vectors cannot be
// members.
template <bool kAllNegative, class D, class V = hn::Vec<D>>
HWY_INLINE void AddPixelTerms(D d, V y2, V qn, V l, V e1, V e2, V& sum_q, V& sum_f,
                              V& dice1, V& dice2, V& focal1, V& focal2) {
  const V one = hn::Set(d, 1.0f);
  V q, omq, s;
  if (kAllNegative) {
    q = qn;
    omq = hn::Sub(one, qn);
    s = l;
  } else {
    const auto positive = hn::Ge(y2, hn::Zero(d));
    const V big = hn::Sub(one, qn);
    q = hn::IfThenElse(positive, big, qn);
    omq = hn::IfThenElse(positive, qn, big);
    s = hn::MulAdd(hn::Max(y2, hn::Zero(d)), hn::Set(d, 0.693147180559945f), l);
  }
  const V q2 = hn::Mul(q, q);
  sum_q = hn::Add(sum_q, q);
  sum_f = hn::MulAdd(s, q2, sum_f);
  const V g = hn::Mul(q2, hn::MulAdd(hn::Set(d, 2.0f), hn::Mul(omq, s), q));
  const V sd = kAllNegative ? hn::Sub(q, q2) : hn::Mul(q, omq);
  dice1 = hn::MulAdd(sd, e1, dice1);
  dice2 = hn::MulAdd(sd, e2, dice2);
  focal1 = hn::MulAdd(g, e1, focal1);
  focal2 = hn::MulAdd(g, e2, focal2);
}

// qn = e / (1 + e) and l = log1p(e) for e in [0, 1]: reciprocal estimate + one
// Newton step (relative error ~1e-7 with AVX-512's 14-bit estimate, ~5e-7 with
// the 12-bit AVX2/SSE4 one), Log1pUnit. Arm's estimate (NEON / SVE frecpe)
// has 8 bits, 16 after one step (relative error ~8e-6, which failed the
// per-pixel test under qemu): a second step there.
template <class D, class V = hn::Vec<D>>
HWY_INLINE void GeneralTerms(D d, V e, V& qn, V& l) {
  const V u = hn::Add(hn::Set(d, 1.0f), e);
  const V two = hn::Set(d, 2.0f);
  const V r0 = hn::ApproximateReciprocal(u);
  V r = hn::Mul(r0, hn::NegMulAdd(u, r0, two));
#if HWY_ARCH_ARM
  r = hn::Mul(r, hn::NegMulAdd(u, r, two));
#endif
  qn = hn::Mul(e, r);
  l = Log1pUnit(d, e);
}

// The same for e <= 2^-8 = exp(-5.545) by their series (errors in the file
// comment).
template <class D, class V = hn::Vec<D>>
HWY_INLINE void SeriesTerms(D d, V e, V& qn, V& l) {
  const V one = hn::Set(d, 1.0f);
  qn = hn::Mul(e, hn::MulAdd(e, hn::Sub(e, one), one));
  l = hn::Mul(e, hn::MulAdd(e, hn::MulAdd(e, hn::Set(d, 1.0f / 3), hn::Set(d, -0.5f)), one));
}

// The same for e <= 2^-6 = exp(-4.159) with one more term each.
template <class D, class V = hn::Vec<D>>
HWY_INLINE void Series4Terms(D d, V e, V& qn, V& l) {
  const V one = hn::Set(d, 1.0f);
  qn = hn::Mul(e, hn::MulAdd(e, hn::MulAdd(e, hn::Sub(one, e), hn::Set(d, -1.0f)), one));
  V p = hn::MulAdd(e, hn::Set(d, -0.25f), hn::Set(d, 1.0f / 3));
  p = hn::MulAdd(e, p, hn::Set(d, -0.5f));
  l = hn::Mul(e, hn::MulAdd(e, p, one));
}

// Sums of one block of `count` pixels (count a multiple of 2 Lanes(d)) into
// out[0..5] = {sum q, sum f, sum q(1-q) e1, sum q(1-q) e2, sum g e1, sum g e2}.
// Two vectors per iteration: independent dependency chains side by side.
template <class D>
HWY_INLINE void MaskLossBlockSums(D d, const float* HWY_RESTRICT c,
                                  const float* HWY_RESTRICT e1,
                                  const float* HWY_RESTRICT e2, int64_t count,
                                  float w1, float w2, double* out) {
  using V = hn::Vec<D>;
  const V vw1 = hn::Set(d, w1);
  const V vw2 = hn::Set(d, w2);
  const V zero = hn::Zero(d);
  // Tier thresholds in base-2 units: y <= -24.5 ln2 = -16.98, |y| >= 8 ln2.
  const V deep = hn::Set(d, -24.5f);
  const V series = hn::Set(d, 8.0f);
  V sum_q = zero, sum_f = zero, dice1 = zero, dice2 = zero, focal1 = zero, focal2 = zero;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t i = 0; i < count; i += 2 * n) {
    const V ea1 = hn::LoadU(d, e1 + i), eb1 = hn::LoadU(d, e1 + i + n);
    const V ea2 = hn::LoadU(d, e2 + i), eb2 = hn::LoadU(d, e2 + i + n);
    const V ya = hn::MulAdd(vw2, ea2, hn::MulAdd(vw1, ea1, hn::LoadU(d, c + i)));
    const V yb = hn::MulAdd(vw2, eb2, hn::MulAdd(vw1, eb1, hn::LoadU(d, c + i + n)));
    const V aa = hn::Abs(ya), ab = hn::Abs(yb);
    const V xa = Exp2OfNegative(d, aa), xb = Exp2OfNegative(d, ab);
    if (hn::AllTrue(d, hn::Le(hn::Max(ya, yb), deep))) {
      // Far background: q = e, q (1 - q) = e, focal terms dropped.
      sum_q = hn::Add(sum_q, hn::Add(xa, xb));
      dice1 = hn::MulAdd(xa, ea1, hn::MulAdd(xb, eb1, dice1));
      dice2 = hn::MulAdd(xa, ea2, hn::MulAdd(xb, eb2, dice2));
      continue;
    }
    V qa, la, qb, lb;
    const V amin = hn::Min(aa, ab);
    if (hn::AllTrue(d, hn::Ge(amin, series))) {
      SeriesTerms(d, xa, qa, la);
      SeriesTerms(d, xb, qb, lb);
    } else if (hn::AllTrue(d, hn::Ge(amin, hn::Set(d, 6.0f)))) {
      Series4Terms(d, xa, qa, la);
      Series4Terms(d, xb, qb, lb);
    } else {
      GeneralTerms(d, xa, qa, la);
      GeneralTerms(d, xb, qb, lb);
    }
    if (hn::AllTrue(d, hn::Lt(hn::Max(ya, yb), zero))) {
      AddPixelTerms<true>(d, ya, qa, la, ea1, ea2, sum_q, sum_f, dice1, dice2, focal1, focal2);
      AddPixelTerms<true>(d, yb, qb, lb, eb1, eb2, sum_q, sum_f, dice1, dice2, focal1, focal2);
    } else {
      AddPixelTerms<false>(d, ya, qa, la, ea1, ea2, sum_q, sum_f, dice1, dice2, focal1, focal2);
      AddPixelTerms<false>(d, yb, qb, lb, eb1, eb2, sum_q, sum_f, dice1, dice2, focal1, focal2);
    }
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
