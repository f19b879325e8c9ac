// The one place that holds the Highway target policy and the Highway 1.0.3
// compatibility shims of this engine.
//
// Usage in a kernel translation unit (hwy/examples/skeleton.cc shape):
//
//   #include "kernels/hwy_target.h"        // FIRST: sets the target policy
//   #undef HWY_TARGET_INCLUDE
//   #define HWY_TARGET_INCLUDE "kernels/foo.cc"
//   #include "hwy/foreach_target.h"  // IWYU pragma: keep
//   #include "hwy/highway.h"
//   #include "kernels/hwy_target.h"        // again: per-target shims
//
// The shims section only activates once hwy/foreach_target.h has been
// included (it is re-included per target with a toggle guard, like any
// -inl.h); before that, this header only sets the policy macros. Tests must
// include this header before hwy/targets.h so that
// hwy::SupportedAndGeneratedTargets() lists the same targets as the kernels.
//
// Policy (Debian libhwy-dev 1.0.3, GCC 12):
// - x86: the build baseline is -march=x86-64-v2 (root meson.build), so the
//   targets are SSSE3 (the static fallback: 1.0.3's SSE4 target also requires
//   AES+PCLMUL, which x86-64-v2 lacks), SSE4, AVX2, AVX3 and AVX3_DL.
//   HWY_SCALAR is never built: it cannot compile the widening bf16 code.
// - AVX3_DL (Ice Lake / Zen4: VNNI, VBMI2, ...) is opted in here for every
//   kernel TU, so that the bf16/int8 GEMM can use vpdpbusd/vdpbf16ps through
//   raw intrinsics in that target's code. 1.0.3 has no AVX3_ZEN4/SPR target and
//   its AVX3_DL does not imply AVX512_BF16: the bf16 code checks that bit at
//   run time (HasAvx512Bf16) and enables it with a function target attribute.
// - ARM (aarch64, baseline -march=armv8-a): NEON (static) and SVE, SVE_256,
//   SVE2, SVE2_128, compiled by Highway's default policy. The int8 GEMM uses
//   sdot (Armv8.2 dot product) on NEON and svdot on the SVE targets when
//   HasInt8Dot() (HWCAP_ASIMDDP) says the CPU has it, with a function target
//   attribute on NEON, as x86 does for VNNI.
#ifndef PERSAM_KERNELS_HWY_TARGET_H_
#define PERSAM_KERNELS_HWY_TARGET_H_

#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif

#include <cstdint>

namespace persam::kernels {

// Run-time CPU feature checks (cpuid + OS xsave support), cached. They are
// false on non-x86 hosts.
bool HasAvx512Bf16();  // vdpbf16ps (Cooper Lake, Sapphire Rapids, Zen4)
bool HasAvx512Vnni();  // vpdpbusd on zmm (Cascade Lake, Ice Lake, Zen4)

// Whether the int8 GEMM may use this CPU's int8 dot-product instruction:
// x86 HasAvx512Vnni(); aarch64 FEAT_DotProd (getauxval HWCAP_ASIMDDP: Cortex-A55/
// A76 and later, Neoverse, Apple M1 and later). False while disabled for a test.
bool HasInt8Dot();
// Tests: false makes HasInt8Dot() and NativeDotEnabled() false, so that the
// portable widening path runs on any target; true restores the CPU check.
void EnableNativeDotForTest(bool enabled);
// Whether a target's own int8 kernel may run (the AVX2 target's vpmaddwd
// kernel needs no CPU bit beyond AVX2 itself): true unless disabled for a test.
bool NativeDotEnabled();

// The Highway target the kernels dispatch to on this CPU (the best one both
// compiled and supported), e.g. "AVX3_DL", "NEON", "SVE2_128".
const char* DispatchedTargetName();

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_HWY_TARGET_H_

// ---------------------------------------------------------------------------
// Per-target shims (toggle include guard, see hwy/highway.h).
#if defined(HIGHWAY_HWY_FOREACH_TARGET_H_)

#include "hwy/highway.h"

#if defined(PERSAM_KERNELS_HWY_TARGET_TOGGLE) == defined(HWY_TARGET_TOGGLE)
#ifdef PERSAM_KERNELS_HWY_TARGET_TOGGLE
#undef PERSAM_KERNELS_HWY_TARGET_TOGGLE
#else
#define PERSAM_KERNELS_HWY_TARGET_TOGGLE
#endif

#include <cstddef>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace persam::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Loads lanes [0, n) from p (n <= Lanes(d)); the other lanes are zero.
// Replaces LoadN (not in 1.0.3). Never touches memory past p[n - 1]:
// 1.0.3's MaskedLoad reads the whole vector on SSE4/NEON, so we go through a
// stack copy (tails only, the cost does not matter).
template <class D>
HWY_INLINE hn::Vec<D> LoadN(D d, const hn::TFromD<D>* HWY_RESTRICT p,
                            size_t n) {
  using T = hn::TFromD<D>;
  HWY_ALIGN T buf[hn::MaxLanes(D())] = {};
  std::memcpy(buf, p, n * sizeof(T));
  return hn::Load(d, buf);
}

// Stores lanes [0, n) of v to p; replaces StoreN. Never writes past p[n - 1]
// (BlendedStore on SSE4 is a read-modify-write of the whole vector, which is
// a data race when another thread owns the next columns).
template <class D>
HWY_INLINE void StoreN(hn::Vec<D> v, D d, hn::TFromD<D>* HWY_RESTRICT p,
                       size_t n) {
  using T = hn::TFromD<D>;
  HWY_ALIGN T buf[hn::MaxLanes(D())];
  hn::Store(v, d, buf);
  std::memcpy(p, buf, n * sizeof(T));
}

// Sum of all lanes as a scalar; replaces ReduceSum (not in 1.0.3).
template <class D>
HWY_INLINE hn::TFromD<D> ReduceSum(D d, hn::Vec<D> v) {
  return hn::GetLane(hn::SumOfLanes(d, v));
}

}  // namespace HWY_NAMESPACE
}  // namespace persam::kernels
HWY_AFTER_NAMESPACE();

#endif  // PERSAM_KERNELS_HWY_TARGET_TOGGLE
#endif  // HIGHWAY_HWY_FOREACH_TARGET_H_
