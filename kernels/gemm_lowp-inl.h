// bf16- and int8-weight GEMMs, per-target code (toggle include guard).
// Same blocking and epilogue as the float32 GEMM (gemm-inl.h, whose register
// and cache arithmetic applies); the differences:
//
// bf16: B panels hold k-pairs: for each pair, 32 columns x 2 bf16 (one u32
//   per column). A is converted to bf16 (RNE) once per call, for all rows,
//   into MR-row micro-panels.
//   - AVX3_DL + AVX512_BF16 at run time: A micro-panels hold u32 bf16 pairs;
//     vdpbf16ps does 2 k-steps per instruction: 12 x 32 tile = 24 zmm
//     accumulators, per k-pair 2 B loads + 12 broadcasts -> 24 vdpbf16ps.
//     KC = 512 (256 pairs): the B sub-panel is 256 x 128 B = 32 KiB, as f32.
//   - elsewhere: A micro-panels hold the bf16-rounded values as float32; B
//     pairs are widened in registers (shift / mask), then FMA.
// int8: B panels hold k-quads: for each quad, 32 columns x 4 s8 (one u32 per
//   column). A is quantised per row (u8 + zero point) once per call, packed
//   as u32 quads. int32 accumulation over the whole K (no KC blocking:
//   partial sums cannot be parked in the float32 C): the A micro-panel
//   (12 x K bytes <= 60 KiB at K = 5120) and B sub-panel (K x 32 bytes) are
//   read from L2.
//   - AVX3_DL and AVX512_VNNI at run time: vpdpbusd, 4 k-steps / instruction.
//   - NEON with the Armv8.2 dot product at run time: sdot; SVE: svdot (both
//     4 k-steps per instruction, on the top-bit-flipped A bytes).
//   - AVX2: A as int16 pairs, B bytes regrouped and widened to int16 pairs in
//     registers, vpmaddwd (2 k-steps per instruction) + vpaddd.
//   - elsewhere: bytes widened to int32 in registers, Mul + Add.
#if defined(PERSAM_KERNELS_GEMM_LOWP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PERSAM_KERNELS_GEMM_LOWP_INL_H_
#undef PERSAM_KERNELS_GEMM_LOWP_INL_H_
#else
#define PERSAM_KERNELS_GEMM_LOWP_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"
#include "kernels/gemm-inl.h"
#include "kernels/gemm_pack.h"
#include "kernels/hwy_target.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace lowp_detail {

using gemm_detail::DF;
using gemm_detail::GeluTile;
using gemm_detail::kMC;
using gemm_detail::kMR;
using gemm_detail::kNC;
using gemm_detail::MakeTile;
using gemm_detail::StoreRow;
using gemm_detail::TileOut;

constexpr size_t kKCPairs = 256;  // bf16 KC = 512 k-steps

// Per-calling-thread buffer for the packed A of one call (all rows).
template <typename T>
HWY_INLINE T* CallBuffer(size_t count) {
  static thread_local hwy::AlignedFreeUniquePtr<T[]> buf;
  static thread_local size_t capacity = 0;
  if (capacity < count) {
    buf = hwy::AllocateAligned<T>(count);
    capacity = count;
  }
  return buf.get();
}

// bf16 bits of x rounded to nearest even (quiet NaN stays NaN), as the high
// 16 bits of each u32 lane; the low 16 bits are garbage.
template <class D, class DU = hn::RebindToUnsigned<D>>
HWY_INLINE hn::Vec<DU> RoundToBF16High(D /*d*/, hn::Vec<D> v) {
  const DU du;
  const auto bits = hn::BitCast(du, v);
  const auto lsb = hn::And(hn::ShiftRight<16>(bits), hn::Set(du, 1u));
  const auto rounded = hn::Add(bits, hn::Add(lsb, hn::Set(du, 0x7FFFu)));
  const auto quiet_nan = hn::Or(bits, hn::Set(du, 0x00400000u));
  return hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), quiet_nan, rounded);
}

// Loads row[p, p + n) with zeros past k (k may be <= p).
template <class D>
HWY_INLINE hn::Vec<D> LoadRowPart(D d, const float* HWY_RESTRICT row,
                                  size_t p, size_t k) {
  const size_t n = hn::Lanes(d);
  if (p + n <= k) return hn::LoadU(d, row + p);
  return p < k ? LoadN(d, row + p, k - p) : hn::Zero(d);
}

// Writes one row (r) of a bf16 A micro-panel: row[0, k) rounded to bf16
// (RNE), zero past k. native: kp u32 pairs at out[p * stride]; otherwise 2 kp
// floats (the bf16 values widened back) at out[p * stride]. stride = kMR for
// an A micro-panel; kGemmNR writes one column of a B panel (native layout,
// which both paths read: kernels/attention.cc packs its keys that way).
HWY_INLINE void PackRowBF16(const float* HWY_RESTRICT row, size_t k, size_t kp,
                            bool native, uint32_t* HWY_RESTRICT out,
                            size_t stride = kMR) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const hn::RebindToUnsigned<DF> du;
  const hn::Rebind<uint16_t, DF> du16;
  const size_t n = hn::Lanes(d);  // even
  HWY_ALIGN uint32_t tmp[hn::MaxLanes(DF())];
  for (size_t p = 0; p < 2 * kp; p += n) {
    const auto high = RoundToBF16High(d, LoadRowPart(d, row, p, k));
    if (native) {
      // n bf16 -> n / 2 pairs; the vector store writes n / 2 u32 of tmp.
      const auto bf = hn::DemoteTo(du16, hn::BitCast(di, hn::ShiftRight<16>(high)));
      hn::StoreU(bf, du16, reinterpret_cast<uint16_t*>(tmp));
      const size_t words = HWY_MIN(n / 2, kp - p / 2);
      for (size_t w = 0; w < words; ++w) out[(p / 2 + w) * stride] = tmp[w];
    } else {
      hn::Store(hn::And(high, hn::Set(du, 0xFFFF0000u)), du, tmp);
      const size_t cnt = HWY_MIN(n, 2 * kp - p);
      for (size_t i = 0; i < cnt; ++i) out[(p + i) * stride] = tmp[i];
    }
  }
}

// Quantises row[0, k) to u8 with a zero point, q = clamp(round(a / s) + zp),
// and writes it as kq u32 quads at out[p * kMR] (one row of an A
// micro-panel). The range [min(0, lo), max(0, hi)] maps onto [0, 255] so
// that 0 is exact. Padding past k gets q = zp (it meets zero weights).
HWY_INLINE void PackRowU8(const float* HWY_RESTRICT row, size_t k, size_t kq,
                          uint32_t* HWY_RESTRICT out, float* scale,
                          int32_t* zero_point) {
  const DF d;
  const size_t n = hn::Lanes(d);  // multiple of 4
  auto vmin = hn::Zero(d);
  auto vmax = hn::Zero(d);
  for (size_t p = 0; p < k; p += n) {
    const auto v = LoadRowPart(d, row, p, k);  // zero-filled: 0 is in range
    vmin = hn::Min(vmin, v);
    vmax = hn::Max(vmax, v);
  }
  const float lo = hn::GetLane(hn::MinOfLanes(d, vmin));
  const float hi = hn::GetLane(hn::MaxOfLanes(d, vmax));
  float s = (hi - lo) / 255.0f;
  if (!(s > 0.0f) || !std::isfinite(s)) s = 1.0f;  // all-zero (or non-finite) row
  const float zp_f = std::nearbyint(-lo / s);
  const int32_t zp = int32_t(HWY_MIN(HWY_MAX(zp_f, 0.0f), 255.0f));
  *scale = s;
  *zero_point = zp;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint8_t, DF> du8;
  const auto inv = hn::Set(d, 1.0f / s);
  const auto vzp = hn::Set(di, zp);
  HWY_ALIGN uint32_t tmp[hn::MaxLanes(DF())];
  for (size_t p = 0; p < 4 * kq; p += n) {
    const auto v = LoadRowPart(d, row, p, k);
    const auto q = hn::Add(hn::NearestInt(hn::Mul(v, inv)), vzp);
    // DemoteTo saturates to [0, 255]; n bytes = n / 4 quads.
    hn::StoreU(hn::DemoteTo(du8, q), du8, reinterpret_cast<uint8_t*>(tmp));
    const size_t words = HWY_MIN(n / 4, kq - p / 4);
    for (size_t w = 0; w < words; ++w) out[(p / 4 + w) * kMR] = tmp[w];
  }
}

// ---------------------------------------------------------------------------
// bf16 micro-kernels. ap: A micro-panel at the first pair of the KC block;
// bp: B sub-panel (u32 pairs, stride kGemmNR per pair). kRowMajorA: A is
// instead kMR rows of stride lda (row r's pair p at ap[r * lda + p], or its
// two floats at ap[r * lda + 2 p]): the attention's P rows, which are
// written once and read once, are not worth a repacking.

// Portable: A as float32 [2 * kp][kMR], B pairs widened in registers.
template <class D, bool kRowMajorA = false>
HWY_INLINE void KernelBF16Widen(D d, size_t kp, const float* HWY_RESTRICT ap,
                                const uint32_t* HWY_RESTRICT bp,
                                const TileOut& o, size_t lda = 0) {
  using V = hn::Vec<D>;
  const hn::RebindToUnsigned<D> du;
  const size_t n = hn::Lanes(d);
  const auto hi_mask = hn::Set(du, 0xFFFF0000u);
  gemm_detail::PrefetchTile(n, o);
#define PERSAM_GEMM_DECL(r)                 \
  HWY_MAYBE_UNUSED V c##r##0 = hn::Zero(d); \
  HWY_MAYBE_UNUSED V c##r##1 = hn::Zero(d);
  PERSAM_GEMM_DECL(0)
  PERSAM_GEMM_DECL(1)
  PERSAM_GEMM_DECL(2)
  PERSAM_GEMM_DECL(3)
  PERSAM_GEMM_DECL(4)
  PERSAM_GEMM_DECL(5)
  PERSAM_GEMM_DECL(6)
  PERSAM_GEMM_DECL(7)
  PERSAM_GEMM_DECL(8)
  PERSAM_GEMM_DECL(9)
  PERSAM_GEMM_DECL(10)
  PERSAM_GEMM_DECL(11)
#undef PERSAM_GEMM_DECL
#define PERSAM_GEMM_STEP(r)                  \
  if constexpr (kMR > r) {                   \
    const V a = hn::Set(d, a_row[kRowMajorA ? r * lda : r]); \
    c##r##0 = hn::MulAdd(a, b0, c##r##0);    \
    c##r##1 = hn::MulAdd(a, b1, c##r##1);    \
  }
  for (size_t p = 0; p < kp; ++p) {
    const auto w0 = hn::LoadU(du, bp);
    const auto w1 = hn::LoadU(du, bp + n);
    for (size_t t = 0; t < 2; ++t) {
      // Even k: low half of each u32 (little endian); odd k: high half.
      const V b0 = hn::BitCast(d, t == 0 ? hn::ShiftLeft<16>(w0)
                                         : hn::And(w0, hi_mask));
      const V b1 = hn::BitCast(d, t == 0 ? hn::ShiftLeft<16>(w1)
                                         : hn::And(w1, hi_mask));
      const float* HWY_RESTRICT a_row = ap + t * (kRowMajorA ? 1 : kMR);
      PERSAM_GEMM_STEP(0)
      PERSAM_GEMM_STEP(1)
      PERSAM_GEMM_STEP(2)
      PERSAM_GEMM_STEP(3)
      PERSAM_GEMM_STEP(4)
      PERSAM_GEMM_STEP(5)
      PERSAM_GEMM_STEP(6)
      PERSAM_GEMM_STEP(7)
      PERSAM_GEMM_STEP(8)
      PERSAM_GEMM_STEP(9)
      PERSAM_GEMM_STEP(10)
      PERSAM_GEMM_STEP(11)
    }
    ap += kRowMajorA ? 2 : 2 * kMR;
    bp += kGemmNR;
  }
#undef PERSAM_GEMM_STEP
#define PERSAM_GEMM_STORE(r) \
  if (kMR > r && o.rows > r) StoreRow(d, r, c##r##0, c##r##1, o);
  PERSAM_GEMM_STORE(0)
  PERSAM_GEMM_STORE(1)
  PERSAM_GEMM_STORE(2)
  PERSAM_GEMM_STORE(3)
  PERSAM_GEMM_STORE(4)
  PERSAM_GEMM_STORE(5)
  PERSAM_GEMM_STORE(6)
  PERSAM_GEMM_STORE(7)
  PERSAM_GEMM_STORE(8)
  PERSAM_GEMM_STORE(9)
  PERSAM_GEMM_STORE(10)
  PERSAM_GEMM_STORE(11)
#undef PERSAM_GEMM_STORE
  if (o.last && o.act == Epilogue::kGelu) GeluTile(d, o);
}

#if HWY_TARGET == HWY_AVX3_DL
// Native: A as u32 bf16 pairs [kp][kMR]; vdpbf16ps (needs AVX512_BF16,
// checked at run time by the caller; 1.0.3's AVX3_DL does not include it).
// Not inlined: its target attribute is a superset of the caller's
// ("inline" only for the ODR: kernels/attention.cc includes this header too).
template <bool kRowMajorA = false>
__attribute__((target("avx512bf16"))) inline HWY_NOINLINE void KernelBF16Dot(
    size_t kp, const uint32_t* HWY_RESTRICT ap,
    const uint32_t* HWY_RESTRICT bp, const TileOut& o, size_t lda = 0) {
  static_assert(kMR == 12, "AVX-512 tile is 12 x 32");
  const DF d;
  using V = hn::Vec<DF>;
  gemm_detail::PrefetchTile(16, o);
#define PERSAM_GEMM_DECL(r)                   \
  __m512 c##r##0 = _mm512_setzero_ps(); \
  __m512 c##r##1 = _mm512_setzero_ps();
  PERSAM_GEMM_DECL(0)
  PERSAM_GEMM_DECL(1)
  PERSAM_GEMM_DECL(2)
  PERSAM_GEMM_DECL(3)
  PERSAM_GEMM_DECL(4)
  PERSAM_GEMM_DECL(5)
  PERSAM_GEMM_DECL(6)
  PERSAM_GEMM_DECL(7)
  PERSAM_GEMM_DECL(8)
  PERSAM_GEMM_DECL(9)
  PERSAM_GEMM_DECL(10)
  PERSAM_GEMM_DECL(11)
#undef PERSAM_GEMM_DECL
#define PERSAM_GEMM_STEP(r)                                          \
  {                                                                  \
    const __m512bh a =                                               \
        (__m512bh)_mm512_set1_epi32(int(ap[kRowMajorA ? r * lda : r])); \
    c##r##0 = _mm512_dpbf16_ps(c##r##0, a, b0);                      \
    c##r##1 = _mm512_dpbf16_ps(c##r##1, a, b1);                      \
  }
#pragma GCC unroll 2
  for (size_t p = 0; p < kp; ++p) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + 16);
    PERSAM_GEMM_STEP(0)
    PERSAM_GEMM_STEP(1)
    PERSAM_GEMM_STEP(2)
    PERSAM_GEMM_STEP(3)
    PERSAM_GEMM_STEP(4)
    PERSAM_GEMM_STEP(5)
    PERSAM_GEMM_STEP(6)
    PERSAM_GEMM_STEP(7)
    PERSAM_GEMM_STEP(8)
    PERSAM_GEMM_STEP(9)
    PERSAM_GEMM_STEP(10)
    PERSAM_GEMM_STEP(11)
    ap += kRowMajorA ? 1 : kMR;
    bp += kGemmNR;
  }
#undef PERSAM_GEMM_STEP
#define PERSAM_GEMM_STORE(r) \
  if (o.rows > r) StoreRow(d, r, V{c##r##0}, V{c##r##1}, o);
  PERSAM_GEMM_STORE(0)
  PERSAM_GEMM_STORE(1)
  PERSAM_GEMM_STORE(2)
  PERSAM_GEMM_STORE(3)
  PERSAM_GEMM_STORE(4)
  PERSAM_GEMM_STORE(5)
  PERSAM_GEMM_STORE(6)
  PERSAM_GEMM_STORE(7)
  PERSAM_GEMM_STORE(8)
  PERSAM_GEMM_STORE(9)
  PERSAM_GEMM_STORE(10)
  PERSAM_GEMM_STORE(11)
#undef PERSAM_GEMM_STORE
  if (o.last && o.act == Epilogue::kGelu) GeluTile(d, o);
}
#endif  // HWY_TARGET == HWY_AVX3_DL

// ---------------------------------------------------------------------------
// int8 micro-kernels: int32 sums over all kq quads, then dequantised:
// C = s_a[i] s_w[j] (acc - zp[i] colsum[j]), then the usual epilogue.
struct QuantArgs {
  const float* row_scale;     // [tile rows]
  const int32_t* row_zp;      // [tile rows]
  const float* col_scale;     // [tile cols], readable for 2 full vectors
  const int32_t* col_sum;     // [tile cols], idem
};

template <class D, class VI = hn::Vec<hn::RebindToSigned<D>>>
HWY_INLINE void DequantStoreRow(D d, size_t r, VI acc0, VI acc1,
                                const QuantArgs& q, const TileOut& o) {
  const hn::RebindToSigned<D> di;
  const size_t n = hn::Lanes(d);
  const auto zp = hn::Set(di, q.row_zp[r]);
  const auto sa = hn::Set(d, q.row_scale[r]);
  const auto v0 = hn::Mul(
      hn::ConvertTo(d, hn::Sub(acc0, hn::Mul(zp, hn::LoadU(di, q.col_sum)))),
      hn::Mul(sa, hn::LoadU(d, q.col_scale)));
  const auto v1 = hn::Mul(
      hn::ConvertTo(d,
                    hn::Sub(acc1, hn::Mul(zp, hn::LoadU(di, q.col_sum + n)))),
      hn::Mul(sa, hn::LoadU(d, q.col_scale + n)));
  StoreRow(d, r, v0, v1, o);
}

// Portable: bytes widened to int32 (A u8 zero-extended, B s8 sign-extended).
template <class D>
HWY_INLINE void KernelI8Widen(D d, size_t kq, const uint32_t* HWY_RESTRICT ap,
                              const uint32_t* HWY_RESTRICT bp,
                              const QuantArgs& qa, const TileOut& o) {
  const hn::RebindToSigned<D> di;
  using VI = hn::Vec<decltype(di)>;
  const size_t n = hn::Lanes(d);
#define PERSAM_GEMM_DECL(r)                   \
  HWY_MAYBE_UNUSED VI c##r##0 = hn::Zero(di); \
  HWY_MAYBE_UNUSED VI c##r##1 = hn::Zero(di);
  PERSAM_GEMM_DECL(0)
  PERSAM_GEMM_DECL(1)
  PERSAM_GEMM_DECL(2)
  PERSAM_GEMM_DECL(3)
  PERSAM_GEMM_DECL(4)
  PERSAM_GEMM_DECL(5)
  PERSAM_GEMM_DECL(6)
  PERSAM_GEMM_DECL(7)
  PERSAM_GEMM_DECL(8)
  PERSAM_GEMM_DECL(9)
  PERSAM_GEMM_DECL(10)
  PERSAM_GEMM_DECL(11)
#undef PERSAM_GEMM_DECL
#define PERSAM_GEMM_STEP(r)                                           \
  if constexpr (kMR > r) {                                            \
    const VI a = hn::Set(di, int32_t((ap[r] >> (8 * t)) & 0xFFu));    \
    c##r##0 = hn::Add(c##r##0, hn::Mul(a, b0));                       \
    c##r##1 = hn::Add(c##r##1, hn::Mul(a, b1));                       \
  }
  for (size_t p = 0; p < kq; ++p) {
    const VI w0 = hn::BitCast(di, hn::LoadU(hn::RebindToUnsigned<D>(), bp));
    const VI w1 =
        hn::BitCast(di, hn::LoadU(hn::RebindToUnsigned<D>(), bp + n));
    for (int t = 0; t < 4; ++t) {
      // Byte t of each u32, sign-extended: shift it to the top, then back.
      const VI b0 = hn::ShiftRight<24>(hn::ShiftLeftSame(w0, 24 - 8 * t));
      const VI b1 = hn::ShiftRight<24>(hn::ShiftLeftSame(w1, 24 - 8 * t));
      PERSAM_GEMM_STEP(0)
      PERSAM_GEMM_STEP(1)
      PERSAM_GEMM_STEP(2)
      PERSAM_GEMM_STEP(3)
      PERSAM_GEMM_STEP(4)
      PERSAM_GEMM_STEP(5)
      PERSAM_GEMM_STEP(6)
      PERSAM_GEMM_STEP(7)
      PERSAM_GEMM_STEP(8)
      PERSAM_GEMM_STEP(9)
      PERSAM_GEMM_STEP(10)
      PERSAM_GEMM_STEP(11)
    }
    ap += kMR;
    bp += kGemmNR;
  }
#undef PERSAM_GEMM_STEP
#define PERSAM_GEMM_STORE(r) \
  if (kMR > r && o.rows > r) DequantStoreRow(d, r, c##r##0, c##r##1, qa, o);
  PERSAM_GEMM_STORE(0)
  PERSAM_GEMM_STORE(1)
  PERSAM_GEMM_STORE(2)
  PERSAM_GEMM_STORE(3)
  PERSAM_GEMM_STORE(4)
  PERSAM_GEMM_STORE(5)
  PERSAM_GEMM_STORE(6)
  PERSAM_GEMM_STORE(7)
  PERSAM_GEMM_STORE(8)
  PERSAM_GEMM_STORE(9)
  PERSAM_GEMM_STORE(10)
  PERSAM_GEMM_STORE(11)
#undef PERSAM_GEMM_STORE
  if (o.last && o.act == Epilogue::kGelu) GeluTile(d, o);
}

#if HWY_TARGET == HWY_AVX3_DL
// Native: vpdpbusd (u8 x s8, 4 k-steps, int32 accumulate). 1.0.3's AVX3_DL
// target string names "avxvnni" but not "avx512vnni", so the attribute adds
// it; the caller checks the CPU bit at run time.
__attribute__((target("avx512vnni"))) inline HWY_NOINLINE void KernelI8Dot(size_t kq, const uint32_t* HWY_RESTRICT ap,
                              const uint32_t* HWY_RESTRICT bp,
                              const QuantArgs& qa, const TileOut& o) {
  static_assert(kMR == 12, "AVX-512 tile is 12 x 32");
  const DF d;
  using VI = hn::Vec<hn::RebindToSigned<DF>>;
#define PERSAM_GEMM_DECL(r)                     \
  __m512i c##r##0 = _mm512_setzero_si512(); \
  __m512i c##r##1 = _mm512_setzero_si512();
  PERSAM_GEMM_DECL(0)
  PERSAM_GEMM_DECL(1)
  PERSAM_GEMM_DECL(2)
  PERSAM_GEMM_DECL(3)
  PERSAM_GEMM_DECL(4)
  PERSAM_GEMM_DECL(5)
  PERSAM_GEMM_DECL(6)
  PERSAM_GEMM_DECL(7)
  PERSAM_GEMM_DECL(8)
  PERSAM_GEMM_DECL(9)
  PERSAM_GEMM_DECL(10)
  PERSAM_GEMM_DECL(11)
#undef PERSAM_GEMM_DECL
#define PERSAM_GEMM_STEP(r)                                  \
  {                                                          \
    const __m512i a = _mm512_set1_epi32(int(ap[r]));         \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, a, b0);           \
    c##r##1 = _mm512_dpbusd_epi32(c##r##1, a, b1);           \
  }
#pragma GCC unroll 2
  for (size_t p = 0; p < kq; ++p) {
    const __m512i b0 = _mm512_loadu_si512(bp);
    const __m512i b1 = _mm512_loadu_si512(bp + 16);
    PERSAM_GEMM_STEP(0)
    PERSAM_GEMM_STEP(1)
    PERSAM_GEMM_STEP(2)
    PERSAM_GEMM_STEP(3)
    PERSAM_GEMM_STEP(4)
    PERSAM_GEMM_STEP(5)
    PERSAM_GEMM_STEP(6)
    PERSAM_GEMM_STEP(7)
    PERSAM_GEMM_STEP(8)
    PERSAM_GEMM_STEP(9)
    PERSAM_GEMM_STEP(10)
    PERSAM_GEMM_STEP(11)
    ap += kMR;
    bp += kGemmNR;
  }
#undef PERSAM_GEMM_STEP
#define PERSAM_GEMM_STORE(r) \
  if (o.rows > r) DequantStoreRow(d, r, VI{c##r##0}, VI{c##r##1}, qa, o);
  PERSAM_GEMM_STORE(0)
  PERSAM_GEMM_STORE(1)
  PERSAM_GEMM_STORE(2)
  PERSAM_GEMM_STORE(3)
  PERSAM_GEMM_STORE(4)
  PERSAM_GEMM_STORE(5)
  PERSAM_GEMM_STORE(6)
  PERSAM_GEMM_STORE(7)
  PERSAM_GEMM_STORE(8)
  PERSAM_GEMM_STORE(9)
  PERSAM_GEMM_STORE(10)
  PERSAM_GEMM_STORE(11)
#undef PERSAM_GEMM_STORE
  if (o.last && o.act == Epilogue::kGelu) GeluTile(d, o);
}
#endif  // HWY_TARGET == HWY_AVX3_DL

#if HWY_TARGET == HWY_AVX2
// AVX2 without a byte dot product: vpmaddwd multiplies int16 pairs and adds
// each pair into one int32 lane (16 multiply-adds per instruction against
// vfmadd231ps's 8). Both operands are widened to int16, which is exact: a u8
// times an s8 is at most 32640 in magnitude and a pair's sum fits easily,
// so the int32 sums are the same integers as the widening kernel's (Zen 3:
// ~1.45 vpmaddwd + vpaddd pairs per cycle against 2 FMAs; the widening
// kernel's vpmulld made int8 half as fast as float32).
// ap: A as int16 pairs [kq][kMR][2] u32 (QuadsToPairsI16: (a_k0, a_k1), (a_k2,
// a_k3) of each quad); bp: the usual s8 quad panel, whose 8 columns x 4 bytes
// per vector are regrouped in registers into (k0, k1) and (k2, k3) int16
// pairs of 8 columns, so each product lands in its column's lane (no
// horizontal sums). Tile 6 x 16. A pairs are broadcast from memory (a load,
// no ALU work).
// In place: the kq x kMR quads at block[0, count) become the pairs at
// block[0, 2 count) (backwards, so no quad is overwritten before it is read).
inline void QuadsToPairsI16(size_t count, uint32_t* HWY_RESTRICT block) {
  for (size_t i = count; i-- > 0;) {
    const uint32_t q = block[i];
    block[2 * i] = (q & 0xFFu) | ((q & 0xFF00u) << 8);
    block[2 * i + 1] = ((q >> 16) & 0xFFu) | ((q >> 24) << 16);
  }
}

// b01 / b23: the (k0, k1) / (k2, k3) int16 pairs of the 8 columns at bp.
HWY_INLINE void WidenQuadPairs(const uint32_t* HWY_RESTRICT bp, __m256i& b01, __m256i& b23) {
  // Per 128-bit lane (4 columns): the k0 k1 bytes of each column, then k2 k3.
  const __m256i group = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                         0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  __m256i v = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp)), group);
  v = _mm256_permute4x64_epi64(v, 0xD8);  // [k01 c0-3, k01 c4-7, k23 c0-3, k23 c4-7]
  b01 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v));
  b23 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1));
}

inline HWY_NOINLINE void KernelI8Pairs(size_t kq, const uint32_t* HWY_RESTRICT ap, const uint32_t* HWY_RESTRICT bp,
                                       const QuantArgs& qa, const TileOut& o) {
  static_assert(kMR == 6, "AVX2 tile is 6 x 16");
  const DF d;
  using VI = hn::Vec<hn::RebindToSigned<DF>>;
#define PERSAM_AVX2_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define PERSAM_GEMM_DECL(r)                  \
  __m256i c##r##0 = _mm256_setzero_si256(); \
  __m256i c##r##1 = _mm256_setzero_si256();
  PERSAM_AVX2_ROWS(PERSAM_GEMM_DECL)
#undef PERSAM_GEMM_DECL
  // Columns 0-7 over every quad, then 8-15: 6 accumulators, 2 B and 1 A
  // register in the loop (both groups in one loop kept 12 accumulators and
  // 12 broadcasts live, and GCC put the accumulators on the stack). The A
  // micro-panel (kq x 48 bytes) is read twice, from L1.
  for (int col = 0; col < 2; ++col) {
    const uint32_t* HWY_RESTRICT ag = ap;
    const uint32_t* HWY_RESTRICT bg = bp + 8 * col;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0, acc4 = acc0, acc5 = acc0;
    for (size_t p = 0; p < kq; ++p) {
      __m256i b01, b23;
      WidenQuadPairs(bg, b01, b23);
#define PERSAM_GEMM_STEP(r)                                                                            \
  acc##r = _mm256_add_epi32(acc##r, _mm256_madd_epi16(_mm256_set1_epi32(int(ag[2 * (r)])), b01)); \
  acc##r = _mm256_add_epi32(acc##r, _mm256_madd_epi16(_mm256_set1_epi32(int(ag[2 * (r) + 1])), b23));
      PERSAM_AVX2_ROWS(PERSAM_GEMM_STEP)
#undef PERSAM_GEMM_STEP
      ag += 2 * kMR;
      bg += kGemmNR;
    }
#define PERSAM_GEMM_KEEP(r) (col == 0 ? c##r##0 : c##r##1) = acc##r;
    PERSAM_AVX2_ROWS(PERSAM_GEMM_KEEP)
#undef PERSAM_GEMM_KEEP
  }
#define PERSAM_GEMM_STORE(r) \
  if (o.rows > r) DequantStoreRow(d, r, VI{c##r##0}, VI{c##r##1}, qa, o);
  PERSAM_AVX2_ROWS(PERSAM_GEMM_STORE)
#undef PERSAM_GEMM_STORE
#undef PERSAM_AVX2_ROWS
  if (o.last && o.act == Epilogue::kGelu) GeluTile(d, o);
}
#endif  // HWY_TARGET == HWY_AVX2

// Arm: sdot / svdot multiply s8 by s8, A is u8 with a zero point. a - 128
// (its top bit flipped) is s8, and sum_k (a - 128) w = sum_k a w - 128
// colsum(w): the dot products run on the flipped bytes and the zero point
// zp - 128 takes the 128 back out in DequantStoreRow (exact integers). A
// micro-panel rows r = 4 g + l are lane l of the g-th 4 x u32 vector of A, the
// indexed forms (vdotq_laneq_s32 / svdot_lane_s32) broadcast them.
#undef PERSAM_LOWP_ARM_I8_DOT  // defined below for this target only
// The 12 rows of the Arm tiles, and row r's A word group g = r / 4 and lane
// l = r % 4, unrolled by name (SVE vectors cannot be array elements).
#ifndef PERSAM_LOWP_ROWS
#define PERSAM_LOWP_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PERSAM_LOWP_STEPS(X)                                                          \
  X(0, 0, 0) X(1, 0, 1) X(2, 0, 2) X(3, 0, 3) X(4, 1, 0) X(5, 1, 1) X(6, 1, 2) X(7, 1, 3) \
  X(8, 2, 0) X(9, 2, 1) X(10, 2, 2) X(11, 2, 3)
#endif
#if HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64
#define PERSAM_LOWP_ARM_I8_DOT 1
// Armv8.2 dot product (FEAT_DotProd), checked at run time by the caller
// (HasInt8Dot); tile 12 x 8 (2 vectors): 24 accumulators + 2 B + 3 A of the 32
// registers, per k-quad 5 loads feed 24 sdot (4 k-steps each).
__attribute__((target("arch=armv8.2-a+crypto+dotprod"))) inline HWY_NOINLINE void KernelI8Dot(
    size_t kq, const uint32_t* HWY_RESTRICT ap, const uint32_t* HWY_RESTRICT bp,
    const QuantArgs& qa_u8, const TileOut& o) {
  static_assert(kMR == 12, "NEON int8 tile is 12 x 8");
  const DF d;
  using VI = hn::Vec<hn::RebindToSigned<DF>>;
  int32_t zp[kMR];
  for (size_t r = 0; r < kMR; ++r) zp[r] = r < o.rows ? qa_u8.row_zp[r] - 128 : 0;
  QuantArgs qa = qa_u8;
  qa.row_zp = zp;
  const uint32x4_t flip = vdupq_n_u32(0x80808080u);
#define PERSAM_GEMM_DECL(r)          \
  int32x4_t c##r##0 = vdupq_n_s32(0); \
  int32x4_t c##r##1 = vdupq_n_s32(0);
  PERSAM_LOWP_ROWS(PERSAM_GEMM_DECL)
#undef PERSAM_GEMM_DECL
#define PERSAM_GEMM_STEP(r, g, l)                    \
  c##r##0 = vdotq_laneq_s32(c##r##0, b0, a##g, l); \
  c##r##1 = vdotq_laneq_s32(c##r##1, b1, a##g, l);
  for (size_t p = 0; p < kq; ++p) {
    const int8x16_t b0 = vreinterpretq_s8_u32(vld1q_u32(bp));
    const int8x16_t b1 = vreinterpretq_s8_u32(vld1q_u32(bp + 4));
    const int8x16_t a0 = vreinterpretq_s8_u32(veorq_u32(vld1q_u32(ap), flip));
    const int8x16_t a1 = vreinterpretq_s8_u32(veorq_u32(vld1q_u32(ap + 4), flip));
    const int8x16_t a2 = vreinterpretq_s8_u32(veorq_u32(vld1q_u32(ap + 8), flip));
    PERSAM_LOWP_STEPS(PERSAM_GEMM_STEP)
    ap += kMR;
    bp += kGemmNR;
  }
#undef PERSAM_GEMM_STEP
#define PERSAM_GEMM_STORE(r) \
  if (o.rows > r) DequantStoreRow(d, r, VI{c##r##0}, VI{c##r##1}, qa, o);
  PERSAM_LOWP_ROWS(PERSAM_GEMM_STORE)
#undef PERSAM_GEMM_STORE
  if (o.last && o.act == Epilogue::kGelu) GeluTile(d, o);
}
#elif HWY_TARGET == HWY_SVE || HWY_TARGET == HWY_SVE2 || \
    HWY_TARGET == HWY_SVE_256 || HWY_TARGET == HWY_SVE2_128
#define PERSAM_LOWP_ARM_I8_DOT 1
// SVE's own sdot (no extension needed; the caller still honours HasInt8Dot
// so that tests can force the widening path). Tile 12 x 2 vectors of
// Lanes(DF) <= 16 columns (the capped tag predicates the B loads: lanes past
// it are zero and never stored). svld1rq replicates the 4 A words into every
// 128-bit segment, which the indexed svdot reads.
HWY_NOINLINE inline void KernelI8Dot(size_t kq, const uint32_t* HWY_RESTRICT ap,
                                     const uint32_t* HWY_RESTRICT bp, const QuantArgs& qa_u8,
                                     const TileOut& o) {
  static_assert(kMR == 12, "SVE int8 tile is 12 x 2 vectors");
  const DF d;
  const hn::RebindToUnsigned<DF> du;
  const size_t n = hn::Lanes(d);
  int32_t zp[kMR];
  for (size_t r = 0; r < kMR; ++r) zp[r] = r < o.rows ? qa_u8.row_zp[r] - 128 : 0;
  QuantArgs qa = qa_u8;
  qa.row_zp = zp;
  const svbool_t all = svptrue_b32();
#define PERSAM_GEMM_DECL(r)            \
  svint32_t c##r##0 = svdup_n_s32(0); \
  svint32_t c##r##1 = svdup_n_s32(0);
  PERSAM_LOWP_ROWS(PERSAM_GEMM_DECL)
#undef PERSAM_GEMM_DECL
#define PERSAM_GEMM_STEP(r, g, l)                   \
  c##r##0 = svdot_lane_s32(c##r##0, b0, a##g, l); \
  c##r##1 = svdot_lane_s32(c##r##1, b1, a##g, l);
  for (size_t p = 0; p < kq; ++p) {
    const svint8_t b0 = svreinterpret_s8_u32(hn::LoadU(du, bp));
    const svint8_t b1 = svreinterpret_s8_u32(hn::LoadU(du, bp + n));
    const svint8_t a0 = svreinterpret_s8_u32(sveor_n_u32_x(all, svld1rq_u32(all, ap), 0x80808080u));
    const svint8_t a1 = svreinterpret_s8_u32(sveor_n_u32_x(all, svld1rq_u32(all, ap + 4), 0x80808080u));
    const svint8_t a2 = svreinterpret_s8_u32(sveor_n_u32_x(all, svld1rq_u32(all, ap + 8), 0x80808080u));
    PERSAM_LOWP_STEPS(PERSAM_GEMM_STEP)
    ap += kMR;
    bp += kGemmNR;
  }
#undef PERSAM_GEMM_STEP
#define PERSAM_GEMM_STORE(r) \
  if (o.rows > r) DequantStoreRow(d, r, c##r##0, c##r##1, qa, o);
  PERSAM_LOWP_ROWS(PERSAM_GEMM_STORE)
#undef PERSAM_GEMM_STORE
  if (o.last && o.act == Epilogue::kGelu) GeluTile(d, o);
}
#endif  // Arm int8 dot products

// Task grid shared by both drivers: (MC rows) x (<= NC columns) blocks, at
// least 4 tasks per thread when the matrix allows it.
struct TaskGrid {
  size_t mblocks, nsplit, panels_per_task;
  TaskGrid(size_t m, size_t n, int threads) {
    mblocks = (m + kMC - 1) / kMC;
    const size_t npanels = (n + kGemmNR - 1) / kGemmNR;
    nsplit = (npanels + kNC / kGemmNR - 1) / (kNC / kGemmNR);
    while (mblocks * nsplit < 4 * size_t(threads) && nsplit < npanels) ++nsplit;
    panels_per_task = (npanels + nsplit - 1) / nsplit;
    nsplit = (npanels + panels_per_task - 1) / panels_per_task;
  }
  int64_t tasks() const { return int64_t(mblocks * nsplit); }

  // Task t: rows [i0, i0 + mc) and columns [j_begin, j_end) of C [m, n].
  struct Range {
    size_t i0, mc, j_begin, j_end;
  };
  Range Task(int64_t t, size_t m, size_t n) const {
    const size_t ib = size_t(t) / nsplit, jb = size_t(t) % nsplit;
    const size_t i0 = ib * kMC, j_begin = jb * panels_per_task * kGemmNR;
    return {i0, HWY_MIN(kMC, m - i0), j_begin,
            HWY_MIN(n, j_begin + panels_per_task * kGemmNR)};
  }
};

}  // namespace lowp_detail

// C = act(A W^T + bias) + residual with W as bf16 pair panels (k-pairs kp =
// ceil(k / 2)). native: AVX3_DL target and the CPU has AVX512_BF16.
inline HWY_NOINLINE void GemmBF16Impl(size_t m, const float* a, size_t lda,
                                      const uint16_t* panels16, size_t n,
                                      size_t k, const float* bias,
                                      Epilogue act, const float* residual,
                                      size_t ldr, float* c, size_t ldc,
                                      int threads, bool has_bf16) {
  using namespace lowp_detail;
  if (m == 0 || n == 0) return;
  const DF d;
  const size_t tile_cols = 2 * hn::Lanes(d);
#if HWY_TARGET == HWY_AVX3_DL
  const bool native = has_bf16;
#else
  (void)has_bf16;
  const bool native = false;
#endif
  const size_t kp = (k + 1) / 2;
  const size_t mblk = (m + kMR - 1) / kMR;
  const uint32_t* panels = reinterpret_cast<const uint32_t*>(panels16);
  // Pack all of A once: per kMR-row block, kp pairs (native, u32) or 2 kp
  // floats (widening path) per row, k-major.
  const size_t block_words = kp * kMR * (native ? 1 : 2);
  uint32_t* apack = CallBuffer<uint32_t>(mblk * block_words + 1);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && m * k > 65536)
  for (int64_t ib = 0; ib < int64_t(mblk); ++ib) {
    uint32_t* block = apack + size_t(ib) * block_words;
    for (size_t r = 0; r < kMR; ++r) {
      const size_t i = size_t(ib) * kMR + r;
      // Rows past m: zeros (k = 0).
      PackRowBF16(i < m ? a + i * lda : a, i < m ? k : 0, kp, native,
                  block + r);
    }
  }

  const TaskGrid grid(m, n, threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && grid.tasks() > 1)
  for (int64_t t = 0; t < grid.tasks(); ++t) {
    const auto [i0, mc, j_begin, j_end] = grid.Task(t, m, n);
    size_t pc = 0;  // in pairs
    do {
      const size_t kpc = HWY_MIN(kKCPairs, kp - pc);
      const bool first = pc == 0;
      const bool last = pc + kpc >= kp;
      for (size_t j0 = j_begin; j0 < j_end; j0 += tile_cols) {
        const size_t cols = HWY_MIN(tile_cols, n - j0);
        const uint32_t* bp = panels + (j0 / kGemmNR) * kp * kGemmNR +
                             pc * kGemmNR + j0 % kGemmNR;
        for (size_t ir = 0; ir < mc; ir += kMR) {
          const size_t i = i0 + ir;
          const TileOut o = MakeTile(i, j0, m, cols, first, last, bias, act,
                                     residual, ldr, c, ldc);
          const uint32_t* block = apack + (i / kMR) * block_words;
#if HWY_TARGET == HWY_AVX3_DL
          if (native) {
            KernelBF16Dot(kpc, block + pc * kMR, bp, o);
            continue;
          }
#endif
          KernelBF16Widen(d, kpc,
                          reinterpret_cast<const float*>(block) + 2 * pc * kMR,
                          bp, o);
        }
      }
      pc += kpc;
    } while (pc < kp);
  }
}

// C = act(dequant(A_q W_q^T) + bias) + residual; W as s8 quad panels
// (kq = ceil(k / 4)) with per-column scales and sums (padded to 32 columns).
inline HWY_NOINLINE void GemmI8Impl(size_t m, const float* a, size_t lda,
                                    const int8_t* panels8,
                                    const float* col_scale,
                                    const int32_t* col_sum, size_t n, size_t k,
                                    const float* bias, Epilogue act,
                                    const float* residual, size_t ldr, float* c,
                                    size_t ldc, int threads, bool has_vnni,
                                    bool native_enabled) {
  using namespace lowp_detail;
  if (m == 0 || n == 0) return;
  const DF d;
  const size_t tile_cols = 2 * hn::Lanes(d);
#if HWY_TARGET != HWY_AVX3_DL && !defined(PERSAM_LOWP_ARM_I8_DOT)
  (void)has_vnni;
#endif
#if HWY_TARGET == HWY_AVX2
  const bool pairs = native_enabled;  // KernelI8Pairs (vpmaddwd is AVX2 itself)
#else
  (void)native_enabled;
  const bool pairs = false;
#endif
  const size_t kq = (k + 3) / 4;
  const size_t mblk = (m + kMR - 1) / kMR;
  const uint32_t* panels = reinterpret_cast<const uint32_t*>(panels8);
  const size_t block_words = kq * kMR * (pairs ? 2 : 1);
  // A quads, then per-row scales and zero points (rows padded to kMR).
  uint32_t* apack = CallBuffer<uint32_t>(mblk * block_words + 2 * mblk * kMR);
  float* row_scale = reinterpret_cast<float*>(apack + mblk * block_words);
  int32_t* row_zp = reinterpret_cast<int32_t*>(row_scale + mblk * kMR);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && m * k > 65536)
  for (int64_t ib = 0; ib < int64_t(mblk); ++ib) {
    uint32_t* block = apack + size_t(ib) * block_words;
    for (size_t r = 0; r < kMR; ++r) {
      const size_t i = size_t(ib) * kMR + r;
      // Rows past m: all-zero input (scale 1, zero point 0); never stored.
      PackRowU8(i < m ? a + i * lda : a, i < m ? k : 0, kq, block + r,
                &row_scale[i], &row_zp[i]);
    }
#if HWY_TARGET == HWY_AVX2
    if (pairs) QuadsToPairsI16(kq * kMR, block);
#endif
  }

  const TaskGrid grid(m, n, threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && grid.tasks() > 1)
  for (int64_t t = 0; t < grid.tasks(); ++t) {
    const auto [i0, mc, j_begin, j_end] = grid.Task(t, m, n);
    for (size_t j0 = j_begin; j0 < j_end; j0 += tile_cols) {
      const size_t cols = HWY_MIN(tile_cols, n - j0);
      const uint32_t* bp =
          panels + (j0 / kGemmNR) * kq * kGemmNR + j0 % kGemmNR;
      for (size_t ir = 0; ir < mc; ir += kMR) {
        const size_t i = i0 + ir;
        const TileOut o = MakeTile(i, j0, m, cols, /*first=*/true,
                                   /*last=*/true, bias, act, residual, ldr, c,
                                   ldc);
        QuantArgs qa;
        qa.row_scale = row_scale + i;
        qa.row_zp = row_zp + i;
        qa.col_scale = col_scale + j0;
        qa.col_sum = col_sum + j0;
        const uint32_t* block = apack + (i / kMR) * block_words;
#if HWY_TARGET == HWY_AVX3_DL || defined(PERSAM_LOWP_ARM_I8_DOT)
        if (has_vnni) {
          KernelI8Dot(kq, block, bp, qa, o);
          continue;
        }
#endif
#if HWY_TARGET == HWY_AVX2
        if (pairs) {
          KernelI8Pairs(kq, block, bp, qa, o);
          continue;
        }
#endif
        KernelI8Widen(d, kq, block, bp, qa, o);
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace persam::kernels
HWY_AFTER_NAMESPACE();

#endif  // PERSAM_KERNELS_GEMM_LOWP_INL_H_
