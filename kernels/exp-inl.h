// e^x for x <= 0, the softmax's exp (scores minus their row max), shared by
// the attention kernels (kernels/attention.cc, kernels/window_attention.cc).
// Per-target code: include inside a foreach_target TU after hwy/highway.h.
//
// ExpNonPositive(d, x): cheaper than hn::Exp: no range reduction of the
// exponent (x is clamped at -87.3, where e^x = 1.2e-38 is the smallest
// normal float: below that it returns 1.2e-38 instead of ~0, harmless next
// to the row's largest term 1), round-to-nearest of x log2(e) by the
// 1.5 * 2^23 shifter, Cody-Waite reduction and a degree-6 polynomial
// (Cephes expf coefficients). Lane type float32. Max error 2 ULP; NaN is
// not propagated (scores are finite). -inf gives 1.2e-38 (callers zero
// masked keys themselves).
#if defined(PERSAM_KERNELS_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PERSAM_KERNELS_EXP_INL_H_
#undef PERSAM_KERNELS_EXP_INL_H_
#else
#define PERSAM_KERNELS_EXP_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNonPositive(D d, V x) {
  const hn::RebindToSigned<D> di;
  x = hn::Max(x, hn::Set(d, -87.33654f));
  const V shifter = hn::Set(d, 12582912.0f);  // 1.5 * 2^23
  const V t = hn::MulAdd(x, hn::Set(d, 1.44269504088896341f), shifter);
  const V n = hn::Sub(t, shifter);
  V r = hn::NegMulAdd(n, hn::Set(d, 0.693359375f), x);
  r = hn::NegMulAdd(n, hn::Set(d, -2.12194440e-4f), r);
  V p = hn::Set(d, 1.9875691500e-4f);
  p = hn::MulAdd(p, r, hn::Set(d, 1.3981999507e-3f));
  p = hn::MulAdd(p, r, hn::Set(d, 8.3334519073e-3f));
  p = hn::MulAdd(p, r, hn::Set(d, 4.1665795894e-2f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.6666665459e-1f));
  p = hn::MulAdd(p, r, hn::Set(d, 5.0000001201e-1f));
  p = hn::MulAdd(p, hn::Mul(r, r), hn::Add(r, hn::Set(d, 1.0f)));
  // 2^n: the low bits of t hold n; shifting them into the exponent field
  // drops the shifter's own bits.
  const auto scale = hn::ShiftLeft<23>(hn::BitCast(di, t));
  return hn::BitCast(d, hn::Add(hn::BitCast(di, p), scale));
}

}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PERSAM_KERNELS_EXP_INL_H_ toggle
