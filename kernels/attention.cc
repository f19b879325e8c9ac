// Flash-style attention (kernels/attention.h).
//
// Per head and per block of BQ queries we keep O [BQ, D], the running row
// max m and row sum l, and walk the keys in tiles of <= kMaxKeyTile:
//   S = (scale q) K_tile^T (+ rel-pos / full bias)      QKTile micro-kernel
//   m' = max(m, rowmax S); P = exp(S - m'); c = exp(m - m'); l = c l + rowsum P
//   (exp by ExpNonPositive, kernels/exp-inl.h: its argument is <= 0)
//   O = c O + P V_tile                                  PVTile micro-kernel
// and finally out = O / l. No nq x nk matrix exists; S is one BQ x
// kMaxKeyTile tile that stays in L1.
//
// Measured (bench/kernels_bench.cc BM_AttentionHead, one thread, AVX3_DL on
// the 2-core Zen4 VM whose measured f32 FMA peak is ~105-110 GFLOP/s per core:
// 512-bit FMAs issue as two 256-bit halves): global 4096 tokens, D = 64:
// ~84 GFLOP/s (~78% of peak); D = 80: ~80; 14x14 windows: ~72-75. ~82% of
// the time is in the two micro-kernels, ~12% in the online softmax.
//
// Operand layouts (packed once per head, zero-padded so the micro-kernels
// have no edge cases): Qs [BQ_pad, D] (scaled, the reference computes
// (q * scale) @ k^T), Kt [D, nk_pad] (keys along lanes: S rows are vectors),
// Vp [nk, Dp] (head dim along lanes, Dp = D rounded up to the vector width).
//
// Register arithmetic (AVX-512, 32 zmm): QKTile is 6 query rows x 4 vectors
// of keys = 24 accumulators + 4 K loads + 1 broadcast (10 loads per 24 FMAs,
// within Zen4's 2-3 loads per cycle); PVTile is kRows x kDV
// with kRows * kDV <= 24 (D = 64: 6 x 4, D = 80: 4 x 5, D = 32: 6 x 2).
// AVX2/SSE4 (16 registers): 6 x 2 and kRows * kDV <= 12. NEON and SVE (32
// registers, v0-v31 / z0-z31) as AVX-512, with the vector width N of the
// target (NEON 4, SVE 4-16 floats; capped at 16 lanes): QKTile covers 4 N
// keys, PVTile kDV * N head-dim columns.
//
// bf16 operands (AttentionBatchBF16, the bf16 / int8 ViT encoders): the same
// online softmax, with the two products through GemmBF16's micro-kernels
// (kernels/gemm_lowp-inl.h: 12 x 32 tiles of vdpbf16ps, or its widening
// float32 kernel): K and V packed once per item as its B panels, the scaled
// queries once per block as A micro-panels, P read as written by the exp
// pass. Key tiles are whole 32-key panels. Measured (BM_AttentionBatchVitB,
// one thread, CPU time on the shared 2-core VM): ViT-B global layer 568 ->
// 381 ms (1.49x), windowed 44.6 -> 34.3 ms (1.30x; per-item packing and the
// q / out memory traffic weigh more there); in the global case ~55% of the
// time is in the micro-kernel (~2x the float32 FMA peak), the rest mostly
// the exp pass.
#include "kernels/attention.h"

#include <string.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "base/error.h"

#include "kernels/hwy_target.h"  // first: target policy

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"
#include "kernels/hwy_target.h"
#include "kernels/ops-inl.h"
#include "kernels/exp-inl.h"
#include "kernels/gemm_lowp-inl.h"

#ifndef PERSAM_KERNELS_ATTENTION_CC_ONCE_
#define PERSAM_KERNELS_ATTENTION_CC_ONCE_
namespace persam::kernels {
// Distinguishes AttentionBatch calls so that a thread's packed K/V of an
// item is never reused by a later call (shared by all targets).
inline std::atomic<uint64_t> g_batch_generation{1};
}  // namespace persam::kernels
#endif

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace {

// At most 16 lanes (as the GEMM's tile): SVE vectors wider than 512 bits
// would otherwise exceed the 32-key / 32-column bf16 panels.
using DF = hn::CappedTag<float, 16>;
using VF = hn::Vec<DF>;

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_ARCH_ARM_A64
constexpr int kAccRegs = 24;  // of 32 (zmm; NEON / SVE v0-v31): the rest hold loads and broadcasts
constexpr int kQKVecs = 4;
#else
constexpr int kAccRegs = 12;  // of 16
constexpr int kQKVecs = 2;
#endif
constexpr int kQKRows = 6;
// Keys per online-softmax step, at most: S (kQueryBlock x kMaxKeyTile
// floats = 24 KiB) stays in L1 next to the streamed K/V rows. The actual
// tile is nk split evenly in whole vectors (a 196-token window is one tile
// of 13 vectors, not 64 + 64 + 64 + 4 keys).
constexpr int kMaxKeyTile = 128;
constexpr int kQueryBlock = 48;   // queries per task (multiple of 6, 4, 3)

// PV rows per register tile for kDV vectors of the head dim.
constexpr int PVRows(int dv) {
  return dv * 6 <= kAccRegs ? 6 : (dv * 4 <= kAccRegs ? 4 : (dv * 3 <= kAccRegs ? 3 : 2));
}
constexpr int kMaxDV = kAccRegs / 3;  // widest PV chunk (8 or 4 vectors)

// (ExpNonPositive: kernels/exp-inl.h.)

// The register tiles below are named variables acc<r><v> (rows r < 6,
// vectors v < 8), not arrays: SVE vectors cannot be array elements. The
// instances outside a tile are discarded at compile time (if constexpr).
#define PERSAM_ATT_V8(X, r) X(r, 0) X(r, 1) X(r, 2) X(r, 3) X(r, 4) X(r, 5) X(r, 6) X(r, 7)
#define PERSAM_ATT_R6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define PERSAM_ATT_V(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define PERSAM_ATT_RV(X)                                                             \
  PERSAM_ATT_V8(X, 0) PERSAM_ATT_V8(X, 1) PERSAM_ATT_V8(X, 2) PERSAM_ATT_V8(X, 3) \
  PERSAM_ATT_V8(X, 4) PERSAM_ATT_V8(X, 5)

// S[kQKRows, kNV * N] = Qs[kQKRows, D] * Kt[D, kNV * N] for one key slice.
template <int kNV>
HWY_INLINE void QKTile(const float* HWY_RESTRICT qs, int dim,
                       const float* HWY_RESTRICT kt, int64_t ldk, float* HWY_RESTRICT s,
                       int lds) {
  static_assert(kQKRows <= 6 && kNV <= 8, "tile exceeds the named accumulators");
  const DF d;
  const size_t N = hn::Lanes(d);
#define PERSAM_ATT_DECL(r, v) HWY_MAYBE_UNUSED VF acc##r##v = hn::Zero(d);
  PERSAM_ATT_RV(PERSAM_ATT_DECL)
#undef PERSAM_ATT_DECL
  for (int k = 0; k < dim; ++k) {
#define PERSAM_ATT_LOAD(v) \
  HWY_MAYBE_UNUSED const VF kv##v = v < kNV ? hn::Load(d, kt + k * ldk + v * N) : hn::Zero(d);
    PERSAM_ATT_V(PERSAM_ATT_LOAD)
#undef PERSAM_ATT_LOAD
#define PERSAM_ATT_FMA(r, v) \
  if constexpr (v < kNV) acc##r##v = hn::MulAdd(q, kv##v, acc##r##v);
#define PERSAM_ATT_ROW(r)                              \
  if constexpr (r < kQKRows) {                         \
    const VF q = hn::Set(d, qs[r * dim + k]);          \
    PERSAM_ATT_V8(PERSAM_ATT_FMA, r)                   \
  }
    PERSAM_ATT_R6(PERSAM_ATT_ROW)
#undef PERSAM_ATT_ROW
#undef PERSAM_ATT_FMA
  }
#define PERSAM_ATT_STORE(r, v) \
  if constexpr (r < kQKRows && v < kNV) hn::Store(acc##r##v, d, s + r * lds + v * N);
  PERSAM_ATT_RV(PERSAM_ATT_STORE)
#undef PERSAM_ATT_STORE
}

// O[kRows, kDV * N] = corr * O + P[kRows, kv] * V[kv, kDV * N].
template <int kRows, int kDV>
HWY_INLINE void PVTile(const float* HWY_RESTRICT p, int ldp, int kv,
                       const float* HWY_RESTRICT vp, int64_t ldv,
                       const float* HWY_RESTRICT corr, float* HWY_RESTRICT o, int ldo) {
  static_assert(kRows <= 6 && kDV <= 8, "tile exceeds the named accumulators");
  const DF d;
  const size_t N = hn::Lanes(d);
#define PERSAM_ATT_DECL(r, v)                                                      \
  HWY_MAYBE_UNUSED VF acc##r##v =                                                  \
      (r < kRows && v < kDV) ? hn::Mul(hn::Load(d, o + r * ldo + v * N), hn::Set(d, corr[r])) \
                             : hn::Zero(d);
  PERSAM_ATT_RV(PERSAM_ATT_DECL)
#undef PERSAM_ATT_DECL
  for (int j = 0; j < kv; ++j) {
#define PERSAM_ATT_LOAD(v) \
  HWY_MAYBE_UNUSED const VF vv##v = v < kDV ? hn::Load(d, vp + j * ldv + v * N) : hn::Zero(d);
    PERSAM_ATT_V(PERSAM_ATT_LOAD)
#undef PERSAM_ATT_LOAD
#define PERSAM_ATT_FMA(r, v) \
  if constexpr (v < kDV) acc##r##v = hn::MulAdd(pj, vv##v, acc##r##v);
#define PERSAM_ATT_ROW(r)                              \
  if constexpr (r < kRows) {                           \
    const VF pj = hn::Set(d, p[r * ldp + j]);          \
    PERSAM_ATT_V8(PERSAM_ATT_FMA, r)                   \
  }
    PERSAM_ATT_R6(PERSAM_ATT_ROW)
#undef PERSAM_ATT_ROW
#undef PERSAM_ATT_FMA
  }
#define PERSAM_ATT_STORE(r, v) \
  if constexpr (r < kRows && v < kDV) hn::Store(acc##r##v, d, o + r * ldo + v * N);
  PERSAM_ATT_RV(PERSAM_ATT_STORE)
#undef PERSAM_ATT_STORE
}
#undef PERSAM_ATT_RV
#undef PERSAM_ATT_V
#undef PERSAM_ATT_R6
#undef PERSAM_ATT_V8

// All rows [0, rows_pad) (a multiple of PVRows(kDV)) of one head-dim chunk.
template <int kDV>
void PVChunk(const float* p, int ldp, int kv, const float* vp, int64_t ldv,
             const float* corr, float* o, int ldo, int rows_pad) {
  constexpr int R = PVRows(kDV);
  for (int r = 0; r < rows_pad; r += R) {
    PVTile<R, kDV>(p + r * ldp, ldp, kv, vp, ldv, corr + r, o + r * ldo, ldo);
  }
}

void PVAll(int dv_total, const float* p, int ldp, int kv, const float* vp, int64_t ldv,
           const float* corr, float* o, int ldo, int rows_pad) {
  const size_t N = hn::Lanes(DF());
  for (int v0 = 0; v0 < dv_total; v0 += kMaxDV) {
    const int dv = std::min(kMaxDV, dv_total - v0);
    const float* vpc = vp + v0 * N;
    float* oc = o + v0 * N;
    switch (dv) {
#define PERSAM_PV_CASE(X)                                          \
  case X:                                                          \
    if constexpr (X <= kMaxDV) {                                   \
      PVChunk<X>(p, ldp, kv, vpc, ldv, corr, oc, ldo, rows_pad);   \
    }                                                              \
    break;
      PERSAM_PV_CASE(1)
      PERSAM_PV_CASE(2)
      PERSAM_PV_CASE(3)
      PERSAM_PV_CASE(4)
      PERSAM_PV_CASE(5)
      PERSAM_PV_CASE(6)
      PERSAM_PV_CASE(7)
      PERSAM_PV_CASE(8)
#undef PERSAM_PV_CASE
      default:
        break;
    }
  }
}

// Least multiple of the row groups of both micro-kernels for this head dim.
// kQKRows = 6 and PV rows in {6, 4, 3, 2}: the lcm is 12 when a chunk of the
// head dim uses 4 rows, else 6.
int RowGroup(int dv_total) {
  const bool full = dv_total >= kMaxDV;
  const int rest = dv_total % kMaxDV;
  const bool four = (full && PVRows(kMaxDV) == 4) || (rest != 0 && PVRows(rest) == 4);
  return four ? 12 : 6;
}

// Per-thread buffers, grown on demand and reused across calls.
struct Scratch {
  hwy::AlignedFreeUniquePtr<float[]> buf;
  size_t size = 0;
  // Packed K/V of one item (see PackKV), tagged by (generation, item).
  uint64_t packed_generation = 0;
  int packed_item = -1;

  float* Get(size_t floats) {
    if (floats > size) {
      buf = hwy::AllocateAligned<float>(floats);
      size = floats;
      packed_generation = 0;  // K/V lived in the old buffer
    }
    return buf.get();
  }
};

Scratch& ThreadScratch() {
  static thread_local Scratch scratch;
  return scratch;
}

// bf16 operands (AttentionBatchBF16) reuse GemmBF16's machinery
// (kernels/gemm_lowp-inl.h): its B-panel layout for the packed K and V, its
// A micro-panel packing (PackRowBF16) for the scaled queries and for P, and
// its micro-kernels (vdpbf16ps, or the widening float32 one) with a plain
// TileOut store as the epilogue.
namespace lp = lowp_detail;
using lp::kMR;  // rows of the bf16 register tile (12 on AVX-512, else 6)

struct Geometry {
  int dim, dp, dv_total, nk_pad, row_group, block_pad, cols_pad;
  size_t kt_size, vp_size, block_floats;
  int kpd = 0;  // bf16: pairs of the head dim
};

Geometry MakeGeometry(const AttentionArgs& a) {
  const int N = static_cast<int>(hn::Lanes(DF()));
  Geometry g;
  g.dim = a.head_dim;
  g.dv_total = (a.head_dim + N - 1) / N;
  g.dp = g.dv_total * N;
  g.nk_pad = (a.num_keys + N - 1) / N * N;
  g.row_group = RowGroup(g.dv_total);
  g.block_pad = (kQueryBlock + g.row_group - 1) / g.row_group * g.row_group;
  g.cols_pad = a.rel_w ? a.key_cols + N : 0;
  g.kt_size = static_cast<size_t>(g.dim) * g.nk_pad;
  g.vp_size = static_cast<size_t>(g.nk_pad) * g.dp;
  // Qs, S, O, m, l, corr, bias row, padded rel_w rows.
  g.block_floats = static_cast<size_t>(g.block_pad) * g.dim +
                   static_cast<size_t>(g.block_pad) * kMaxKeyTile +
                   static_cast<size_t>(g.block_pad) * g.dp + 3 * g.block_pad +
                   (kMaxKeyTile + 2 * N) + static_cast<size_t>(g.block_pad) * g.cols_pad +
                   8 * N;
  return g;
}

// bf16: keys padded to whole 32-key panels, the head dim (O's width, V's
// panels) to whole 32-column panels; kt_size / vp_size count u32 words:
// Kb [nk_pad / 32][kpd][32] and Vb [dp / 32][nk_pad / 2][32].
Geometry MakeGeometryBF16(const AttentionArgs& a) {
  const int N = static_cast<int>(hn::Lanes(DF()));
  const int P = static_cast<int>(kGemmNR);
  Geometry g;
  g.dim = a.head_dim;
  g.kpd = (a.head_dim + 1) / 2;
  g.dp = (a.head_dim + P - 1) / P * P;
  g.dv_total = g.dp / N;
  g.nk_pad = (a.num_keys + P - 1) / P * P;
  g.row_group = static_cast<int>(kMR);
  g.block_pad = (kQueryBlock + g.row_group - 1) / g.row_group * g.row_group;
  g.cols_pad = a.rel_w ? a.key_cols + N : 0;
  g.kt_size = static_cast<size_t>(g.nk_pad) * g.kpd;
  g.vp_size = static_cast<size_t>(g.dp) * g.nk_pad / 2;
  // Q panels (widening layout: 2 floats per pair), S, O, m, l, corr, bias
  // row, padded rel_w rows, P panels, one scaled query row, alignment.
  g.block_floats = static_cast<size_t>(g.block_pad) * 2 * g.kpd +
                   static_cast<size_t>(g.block_pad) * kMaxKeyTile +
                   static_cast<size_t>(g.block_pad) * g.dp + 3 * g.block_pad +
                   (kMaxKeyTile + 2 * N) + static_cast<size_t>(g.block_pad) * g.cols_pad +
                   static_cast<size_t>(g.block_pad) * kMaxKeyTile + 2 * g.kpd + 16 * N;
  return g;
}

// Kt [dim, nk_pad] and Vp [nk_pad, dp], zero padded.
void PackKV(const AttentionArgs& a, const Geometry& g, float* kt, float* vp) {
  memset(kt, 0, g.kt_size * sizeof(float));
  memset(vp, 0, g.vp_size * sizeof(float));
  for (int j = 0; j < a.num_keys; ++j) {
    const float* krow = a.k + j * a.k_stride;
    for (int k = 0; k < g.dim; ++k) kt[static_cast<size_t>(k) * g.nk_pad + j] = krow[k];
    memcpy(vp + static_cast<size_t>(j) * g.dp, a.v + j * a.v_stride, sizeof(float) * g.dim);
  }
}

// bf16 (RNE) K and V in GemmBF16's B-panel layout, zero padded: K as the
// weight of S = Q K^T (n = keys, k = head dim), V as the weight of O = P V
// (n = head dim, k = keys: each u32 holds keys 2p and 2p + 1 of a column).
void PackKVBF16(const AttentionArgs& a, const Geometry& g, uint32_t* kb, uint32_t* vb) {
  const lp::DF d;
  const hn::RebindToUnsigned<lp::DF> du;
  const size_t n = hn::Lanes(d);  // divides kGemmNR
  memset(kb, 0, g.kt_size * sizeof(uint32_t));
  for (int j = 0; j < a.num_keys; ++j) {
    lp::PackRowBF16(a.k + j * a.k_stride, g.dim, g.kpd, /*native=*/true,
                    kb + static_cast<size_t>(j / kGemmNR) * g.kpd * kGemmNR + j % kGemmNR,
                    kGemmNR);
  }
  const size_t pairs = static_cast<size_t>(g.nk_pad) / 2;
  const auto hi = hn::Set(du, 0xFFFF0000u);
  for (size_t p = 0; p < pairs; ++p) {
    const int j0 = static_cast<int>(2 * p), j1 = j0 + 1;
    const float* v0 = a.v + j0 * a.v_stride;
    const float* v1 = a.v + j1 * a.v_stride;
    const size_t k0 = j0 < a.num_keys ? g.dim : 0;  // padded keys: zeros
    const size_t k1 = j1 < a.num_keys ? g.dim : 0;
    for (size_t c = 0; c < static_cast<size_t>(g.dp); c += n) {
      const auto h0 = lp::RoundToBF16High(d, lp::LoadRowPart(d, k0 ? v0 : a.v, c, k0));
      const auto h1 = lp::RoundToBF16High(d, lp::LoadRowPart(d, k1 ? v1 : a.v, c, k1));
      const auto w = hn::Or(hn::ShiftRight<16>(h0), hn::And(h1, hi));
      hn::Store(w, du, vb + (c / kGemmNR) * pairs * kGemmNR + p * kGemmNR + c % kGemmNR);
    }
  }
}

HWY_INLINE float* AlignUp(float* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const uintptr_t al = HWY_ALIGNMENT;
  return reinterpret_cast<float*>((a + al - 1) / al * al);
}

// One bf16 product tile through GemmBF16's micro-kernels: C[kMR, cols] =
// (first ? 0 : C) + A B for kp pairs; a: A micro-panel, or kRowMajorA kMR
// rows of stride lda (u32 pairs if native, else bf16 values as floats);
// b: B sub-panel (stride kGemmNR per pair).
template <bool kRowMajorA>
HWY_INLINE void ProductTileBF16(bool native, size_t kp, const uint32_t* a, size_t lda,
                                const uint32_t* b, size_t cols, bool first, float* c,
                                size_t ldc) {
  const lp::TileOut o = lp::MakeTile(0, 0, kMR, cols, first, /*last=*/true, nullptr,
                                     Epilogue::kNone, nullptr, 0, c, ldc);
#if HWY_TARGET == HWY_AVX3_DL
  if (native) {
    lp::KernelBF16Dot<kRowMajorA>(kp, a, b, o, lda);
    return;
  }
#else
  (void)native;
#endif
  lp::KernelBF16Widen<lp::DF, kRowMajorA>(lp::DF(), kp, reinterpret_cast<const float*>(a), b,
                                          o, lda);
}

// Queries [q0, q0 + rows) of one head, given packed K/V (kt, vp: float32
// Kt / Vp, or for kBF16 the u32 panels of PackKVBF16). kBF16: S = Q K^T and
// O += P V with bf16 operands (P rounded to bf16 in the softmax pass, so l
// sums exactly the weights that multiply V), float32 accumulation; biases,
// softmax and the rescaling stay float32. !kBF16 is the float32 path.
// The bf16 P is the PV micro-kernel's A operand as written by the exp pass
// (row-major: native, u32 pairs in pa, stride kMaxKeyTile / 2; widening, the
// rounded floats in S), with the padded keys' weights zeroed there.
template <bool kBF16>
void AttendBlock(const AttentionArgs& a, const Geometry& g, const float* kt,
                 const float* vp, int q0, int rows, float* block_buf, bool native) {
  const DF d;
  const int N = static_cast<int>(hn::Lanes(d));
  const int dim = g.dim;
  const int rows_pad = (rows + g.row_group - 1) / g.row_group * g.row_group;
  const int lds = kMaxKeyTile;
  // Q operand: float32 Qs [block_pad, dim], or bf16 A micro-panels
  // (kMR rows each, qa_words u32 per panel).
  const size_t qa_words = kBF16 ? g.kpd * kMR * (native ? 1 : 2) : 0;
  const size_t qs_floats = kBF16 ? g.block_pad / kMR * qa_words : size_t(g.block_pad) * dim;
  float* qs = AlignUp(block_buf);
  float* s = AlignUp(qs + qs_floats);
  float* o = AlignUp(s + static_cast<size_t>(g.block_pad) * lds);
  float* m = o + static_cast<size_t>(g.block_pad) * g.dp;
  float* l = m + g.block_pad;
  float* corr = l + g.block_pad;
  float* brow = corr + g.block_pad;
  float* rw = brow + kMaxKeyTile + 2 * N;
  // bf16 only: P rows (u32 pairs) and one scaled query row.
  uint32_t* pa = nullptr;
  float* qrow = nullptr;
  if constexpr (kBF16) {
    pa = reinterpret_cast<uint32_t*>(AlignUp(rw + static_cast<size_t>(g.block_pad) * g.cols_pad));
    qrow = reinterpret_cast<float*>(pa) + static_cast<size_t>(g.block_pad) * kMaxKeyTile;
  }

  // Scaled queries, zero rows for the padding.
  for (int r = 0; r < rows_pad; ++r) {
    float* dst = kBF16 ? qrow : qs + r * dim;
    if (r < rows) {
      const float* src = a.q + static_cast<int64_t>(q0 + r) * a.q_stride;
      for (int k = 0; k < dim; ++k) dst[k] = src[k] * a.scale;
    } else {
      memset(dst, 0, sizeof(float) * dim);
    }
    if constexpr (kBF16) {
      lp::PackRowBF16(qrow, dim, g.kpd, native,
                      reinterpret_cast<uint32_t*>(qs) + r / kMR * qa_words + r % kMR);
    }
  }
  if constexpr (!kBF16) memset(o, 0, sizeof(float) * rows_pad * g.dp);
  for (int r = 0; r < rows_pad; ++r) {
    m[r] = -HUGE_VALF;
    l[r] = 0.0f;
  }
  if (a.rel_w) {  // rel_w rows copied with N floats of slack for full-vector loads
    for (int r = 0; r < rows; ++r) {
      memcpy(rw + r * g.cols_pad, a.rel_w + static_cast<int64_t>(q0 + r) * a.key_cols,
             sizeof(float) * a.key_cols);
      memset(rw + r * g.cols_pad + a.key_cols, 0, sizeof(float) * N);
    }
  }

  const VF neg_inf = hn::Set(d, -HUGE_VALF);
  // Key tiles: whole vectors (float32) or whole 32-key panels (bf16).
  const int unit = kBF16 ? static_cast<int>(kGemmNR) : N;
  const int key_vecs = (a.num_keys + unit - 1) / unit;
  const int max_tile_vecs = kMaxKeyTile / unit;
  const int num_tiles = (key_vecs + max_tile_vecs - 1) / max_tile_vecs;
  const int key_tile = (key_vecs + num_tiles - 1) / num_tiles * unit;
  const size_t tile_cols = 2 * hn::Lanes(lp::DF());  // bf16 register tile width
  for (int key0 = 0; key0 < a.num_keys; key0 += key_tile) {
    const int kv = std::min(key_tile, a.num_keys - key0);
    const int kv_vecs = (kv + N - 1) / N;
    const int kv_pad = kv_vecs * N;
    if constexpr (kBF16) {
      // S = Qs K^T over whole 32-key panels (the padded keys are zero).
      const int kv_cols = (kv + unit - 1) / unit * unit;
      const uint32_t* kb = reinterpret_cast<const uint32_t*>(kt);
      for (int r = 0; r < rows_pad; r += static_cast<int>(kMR)) {
        const uint32_t* ap = reinterpret_cast<const uint32_t*>(qs) + r / kMR * qa_words;
        for (size_t j = 0; j < size_t(kv_cols); j += tile_cols) {
          const size_t key = key0 + j;
          const uint32_t* bp = kb + key / kGemmNR * g.kpd * kGemmNR + key % kGemmNR;
          ProductTileBF16<false>(native, g.kpd, ap, 0, bp, tile_cols, true, s + r * lds + j,
                                 lds);
        }
      }
    } else {
      // S = Qs Kt (only the key vectors that hold valid keys).
      for (int r = 0; r < rows_pad; r += kQKRows) {
        int v = 0;
        for (; v + kQKVecs <= kv_vecs; v += kQKVecs) {
          QKTile<kQKVecs>(qs + r * dim, dim, kt + key0 + v * N, g.nk_pad, s + r * lds + v * N,
                          lds);
        }
        float* sr = s + r * lds + v * N;
        const float* kv0 = kt + key0 + v * N;
        switch (kv_vecs - v) {  // remainder < kQKVecs
          case 1: QKTile<1>(qs + r * dim, dim, kv0, g.nk_pad, sr, lds); break;
          case 2: QKTile<2>(qs + r * dim, dim, kv0, g.nk_pad, sr, lds); break;
          case 3: QKTile<3>(qs + r * dim, dim, kv0, g.nk_pad, sr, lds); break;
          default: break;
        }
      }
    }
    // Biases, masking of the padded keys, online softmax.
    for (int r = 0; r < rows_pad; ++r) {
      float* srow = s + r * lds;
      bool have_brow = false;
      if (r < rows) {
        const int64_t qi = q0 + r;
        if (a.rel_h) {
          // brow[j] = rel_h[qi, row(j)] + rel_w[qi, col(j)], written run by
          // run with full vectors (a run's overshoot is overwritten by the
          // next run; the final one lands in brow's slack).
          const float* rh = a.rel_h + qi * a.key_rows;
          const float* rwr = rw + r * g.cols_pad;
          int kr = key0 / a.key_cols, kc = key0 % a.key_cols;
          for (int j = 0; j < kv;) {
            const int run = std::min(a.key_cols - kc, kv - j);
            const VF h = hn::Set(d, rh[kr]);
            for (int t = 0; t < run; t += N) {
              hn::StoreU(hn::Add(h, hn::LoadU(d, rwr + kc + t)), d, brow + j + t);
            }
            j += run;
            ++kr;
            kc = 0;
          }
          have_brow = true;  // added in the max pass below
        }
        if (a.bias) {
          const float* b = a.bias + qi * a.bias_stride + key0;
          int j = 0;
          for (; j + N <= kv; j += N) {
            hn::Store(hn::Add(hn::Load(d, srow + j), hn::LoadU(d, b + j)), d, srow + j);
          }
          if (j < kv) {
            hn::Store(hn::Add(hn::Load(d, srow + j), LoadN(d, b + j, kv - j)), d, srow + j);
          }
        }
      }
      // One pass: + rel-pos bias row, row max; then mask the padded keys.
      VF vmax = neg_inf;
      if (have_brow) {
        for (int j = 0; j < kv_pad; j += N) {
          const VF v = hn::Add(hn::Load(d, srow + j), hn::LoadU(d, brow + j));
          hn::Store(v, d, srow + j);
          vmax = hn::Max(vmax, v);
        }
      } else {
        for (int j = 0; j < kv_pad; j += N) vmax = hn::Max(vmax, hn::Load(d, srow + j));
      }
      if (kv < kv_pad) {  // recompute the max of the last vector without padding
        const int j = kv_pad - N;
        const auto valid = hn::FirstN(d, static_cast<size_t>(kv - j));
        const VF last = hn::IfThenElse(valid, hn::Load(d, srow + j), neg_inf);
        hn::Store(last, d, srow + j);
        VF m2 = neg_inf;
        for (int t = 0; t < j; t += N) m2 = hn::Max(m2, hn::Load(d, srow + t));
        vmax = hn::Max(m2, last);
      }
      const float tile_max = hn::GetLane(hn::MaxOfLanes(d, vmax));
      const float m_new = std::max(m[r], tile_max);
      // A row that is -inf so far (cannot happen with finite inputs) keeps
      // corr = 1 and P = 0 instead of NaN.
      const float m_use = m_new == -HUGE_VALF ? 0.0f : m_new;
      corr[r] = std::exp(m[r] - m_use);
      const VF vm = hn::Set(d, m_use);
      VF sum = hn::Zero(d);
      if constexpr (kBF16) {
        const hn::RebindToUnsigned<DF> du;
        const hn::RebindToSigned<DF> di;
        const hn::Rebind<uint16_t, DF> du16;
        uint16_t* prow = reinterpret_cast<uint16_t*>(pa + static_cast<size_t>(r) * (lds / 2));
        for (int j = 0; j < kv_pad; j += N) {
          VF p = ExpNonPositive(d, hn::Sub(hn::Load(d, srow + j), vm));
          if (j + N > kv) p = hn::IfThenElseZero(hn::FirstN(d, size_t(kv - j)), p);
          const auto high = lp::RoundToBF16High(d, p);  // RNE
          p = hn::BitCast(d, hn::And(high, hn::Set(du, 0xFFFF0000u)));
          if (native) {
            hn::StoreU(hn::DemoteTo(du16, hn::BitCast(di, hn::ShiftRight<16>(high))), du16,
                       prow + j);
          } else {
            hn::Store(p, d, srow + j);
          }
          sum = hn::Add(sum, p);
        }
      } else {
        for (int j = 0; j < kv_pad; j += N) {
          const VF p = ExpNonPositive(d, hn::Sub(hn::Load(d, srow + j), vm));
          hn::Store(p, d, srow + j);
          sum = hn::Add(sum, p);
        }
        if (kv < kv_pad) {  // ExpNonPositive(-inf) is 1.2e-38, not 0: drop the padding
          const int j = kv_pad - N;
          const auto valid = hn::FirstN(d, static_cast<size_t>(kv - j));
          sum = hn::Sub(sum, hn::IfThenZeroElse(valid, hn::Load(d, srow + j)));
        }
      }
      l[r] = l[r] * corr[r] + ReduceSum(d, sum);
      m[r] = m_new;
    }
    if constexpr (kBF16) {
      // O = corr O + P V: rescale, then accumulate the bf16 product (the
      // first key tile stores it).
      const bool first = key0 == 0;
      if (!first) {
        for (int r = 0; r < rows_pad; ++r) {
          const VF c = hn::Set(d, corr[r]);
          float* orow = o + static_cast<size_t>(r) * g.dp;
          for (int t = 0; t < g.dp; t += N) hn::Store(hn::Mul(hn::Load(d, orow + t), c), d, orow + t);
        }
      }
      const size_t kp = (static_cast<size_t>(kv) + 1) / 2;  // < kv_pad / 2 + 1
      const uint32_t* vb = reinterpret_cast<const uint32_t*>(vp);
      const size_t pairs = static_cast<size_t>(g.nk_pad) / 2;
      for (int r = 0; r < rows_pad; r += static_cast<int>(kMR)) {
        const uint32_t* ap = native ? pa + static_cast<size_t>(r) * (lds / 2)
                                    : reinterpret_cast<const uint32_t*>(s + r * lds);
        const size_t lda = native ? lds / 2 : lds;
        for (size_t c = 0; c < size_t(g.dp); c += tile_cols) {
          const uint32_t* bp =
              vb + c / kGemmNR * pairs * kGemmNR + static_cast<size_t>(key0) / 2 * kGemmNR +
              c % kGemmNR;
          ProductTileBF16<true>(native, kp, ap, lda, bp, tile_cols, first, o + r * g.dp + c,
                                g.dp);
        }
      }
    } else {
      PVAll(g.dv_total, s, lds, kv, vp + static_cast<size_t>(key0) * g.dp, g.dp, corr, o,
            g.dp, rows_pad);
    }
  }
  for (int r = 0; r < rows; ++r) {
    const float inv = 1.0f / l[r];
    float* dst = a.out + static_cast<int64_t>(q0 + r) * a.out_stride;
    const float* src = o + r * g.dp;
    for (int k = 0; k < dim; ++k) dst[k] = src[k] * inv;
  }
}

// bf16: operands rounded to bf16, native vdpbf16ps when `has_bf16` on the
// AVX3_DL target, else GemmBF16's widening micro-kernel.
void AttentionBatchT(const AttentionArgs* items, int count, bool parallel, bool bf16,
                     bool has_bf16) {
  if (count <= 0) return;
#if HWY_TARGET == HWY_AVX3_DL
  const bool native = bf16 && has_bf16;
#else
  (void)has_bf16;
  const bool native = false;
#endif
  // Tasks: (item, first query); consecutive tasks of one item share its
  // packed K/V in the thread's scratch.
  std::vector<std::pair<int, int>> tasks;
  for (int i = 0; i < count; ++i) {
    for (int q0 = 0; q0 < items[i].num_queries; q0 += kQueryBlock) tasks.emplace_back(i, q0);
  }
  const uint64_t generation = g_batch_generation.fetch_add(1) + 1;
  const int num_tasks = static_cast<int>(tasks.size());
#pragma omp parallel for schedule(static) if (parallel && num_tasks > 1)
  for (int t = 0; t < num_tasks; ++t) {
    const int item = tasks[t].first;
    const int q0 = tasks[t].second;
    const AttentionArgs& a = items[item];
    const Geometry g = bf16 ? MakeGeometryBF16(a) : MakeGeometry(a);
    Scratch& scratch = ThreadScratch();
    float* base = scratch.Get(g.kt_size + g.vp_size + g.block_floats + 16);
    float* kt = base;
    float* vp = base + g.kt_size;
    if (scratch.packed_generation != generation || scratch.packed_item != item) {
      if (bf16) {
        PackKVBF16(a, g, reinterpret_cast<uint32_t*>(kt), reinterpret_cast<uint32_t*>(vp));
      } else {
        PackKV(a, g, kt, vp);
      }
      scratch.packed_generation = generation;
      scratch.packed_item = item;
    }
    const int rows = std::min(kQueryBlock, a.num_queries - q0);
    if (bf16) {
      AttendBlock<true>(a, g, kt, vp, q0, rows, vp + g.vp_size, native);
    } else {
      AttendBlock<false>(a, g, kt, vp, q0, rows, vp + g.vp_size, false);
    }
  }
}
// Decoder attention: few queries or few keys, so each query's whole score
// row [nk] is materialised (PerSAM's post-softmax bias needs the full first
// softmax). Scores are scale * <q, k> (the decoder divides after the
// product: ref: segment_anything/modeling/transformer.py Attention.forward).
void SmallAttentionT(const AttentionArgs& a, const float* post_bias) {
  const DF d;
  const int N = static_cast<int>(hn::Lanes(d));
  const int dim = a.head_dim;
  std::vector<float> srow(a.num_keys);
  std::vector<float> acc(static_cast<size_t>((dim + N - 1) / N * N));
  for (int i = 0; i < a.num_queries; ++i) {
    const float* q = a.q + static_cast<int64_t>(i) * a.q_stride;
    for (int j = 0; j < a.num_keys; ++j) {
      const float* k = a.k + static_cast<int64_t>(j) * a.k_stride;
      VF sum = hn::Zero(d);
      int t = 0;
      for (; t + N <= dim; t += N) sum = hn::MulAdd(hn::LoadU(d, q + t), hn::LoadU(d, k + t), sum);
      if (t < dim) sum = hn::MulAdd(LoadN(d, q + t, dim - t), LoadN(d, k + t, dim - t), sum);
      float sc = ReduceSum(d, sum) * a.scale;
      if (a.rel_h) {
        sc += a.rel_h[static_cast<int64_t>(i) * a.key_rows + j / a.key_cols] +
              a.rel_w[static_cast<int64_t>(i) * a.key_cols + j % a.key_cols];
      }
      if (a.bias) sc += a.bias[static_cast<int64_t>(i) * a.bias_stride + j];
      srow[j] = sc;
    }
    SoftmaxRow(srow.data(), srow.size());
    if (post_bias) {
      for (int j = 0; j < a.num_keys; ++j) srow[j] += post_bias[j];
      SoftmaxRow(srow.data(), srow.size());
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int j = 0; j < a.num_keys; ++j) {
      const float* v = a.v + static_cast<int64_t>(j) * a.v_stride;
      const VF p = hn::Set(d, srow[j]);
      int t = 0;
      for (; t + N <= dim; t += N) {
        hn::StoreU(hn::MulAdd(p, hn::LoadU(d, v + t), hn::LoadU(d, acc.data() + t)), d,
                  acc.data() + t);
      }
      if (t < dim) {
        hn::StoreU(hn::MulAdd(p, LoadN(d, v + t, dim - t), hn::LoadU(d, acc.data() + t)), d,
                  acc.data() + t);
      }
    }
    memcpy(a.out + static_cast<int64_t>(i) * a.out_stride, acc.data(), sizeof(float) * dim);
  }
}

}  // namespace
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam::kernels {
namespace {

void CheckArgs(const char* what, const AttentionArgs& a) {
  auto fail = [&](const std::string& msg) { throw Error(std::string(what) + ": " + msg); };
  if (a.num_queries < 0 || a.num_keys <= 0 || a.head_dim <= 0) {
    fail("need num_queries >= 0, num_keys > 0, head_dim > 0; got " +
         std::to_string(a.num_queries) + ", " + std::to_string(a.num_keys) + ", " +
         std::to_string(a.head_dim));
  }
  if (!a.q || !a.k || !a.v || !a.out) fail("q, k, v and out must be non-null");
  if (a.q_stride < a.head_dim || a.k_stride < a.head_dim || a.v_stride < a.head_dim ||
      a.out_stride < a.head_dim) {
    fail("row strides must be >= head_dim (" + std::to_string(a.head_dim) + ")");
  }
  if ((a.rel_h == nullptr) != (a.rel_w == nullptr)) fail("rel_h and rel_w go together");
  if (a.rel_h && (a.key_rows <= 0 || a.key_cols <= 0 ||
                  static_cast<int64_t>(a.key_rows) * a.key_cols != a.num_keys)) {
    fail("key_rows x key_cols (" + std::to_string(a.key_rows) + " x " +
         std::to_string(a.key_cols) + ") must equal num_keys (" + std::to_string(a.num_keys) +
         ")");
  }
  if (a.bias && a.bias_stride < a.num_keys) fail("bias_stride must be >= num_keys");
}

}  // namespace

HWY_EXPORT(AttentionBatchT);
HWY_EXPORT(SmallAttentionT);

void Attention(const AttentionArgs& args) {
  CheckArgs("Attention", args);
  HWY_DYNAMIC_DISPATCH(AttentionBatchT)(&args, 1, false, false, false);
}

void AttentionBatch(const AttentionArgs* items, int count) {
  for (int i = 0; i < count; ++i) CheckArgs("AttentionBatch", items[i]);
  HWY_DYNAMIC_DISPATCH(AttentionBatchT)(items, count, true, false, false);
}

void AttentionBatchBF16(const AttentionArgs* items, int count) {
  for (int i = 0; i < count; ++i) CheckArgs("AttentionBatchBF16", items[i]);
  HWY_DYNAMIC_DISPATCH(AttentionBatchT)(items, count, true, true, HasAvx512Bf16());
}

void SmallAttention(const AttentionArgs& args, const float* post_softmax_bias) {
  CheckArgs("SmallAttention", args);
  HWY_DYNAMIC_DISPATCH(SmallAttentionT)(args, post_softmax_bias);
}

}  // namespace persam::kernels
#endif  // HWY_ONCE
