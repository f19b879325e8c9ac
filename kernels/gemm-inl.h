// Float32 GEMM, per-target code: C = act(A * B^T + bias) + residual, BLIS-shaped.
// Include after hwy/foreach_target.h (toggle include guard).
//
// Layout
//   A [m, k] row-major (lda), packed per call into MR x KC micro-panels
//   (k-major: MR consecutive rows for each k), rows past m zero-padded.
//   B [n, k] (PyTorch Linear weight) packed once at load into kGemmNR = 32
//   column panels, each k x 32 (k-major), columns past n zero-padded
//   (kernels/gemm_pack.h). The packed layout is target-independent: a target
//   whose tile is narrower than 32 columns walks each panel in sub-panels.
//
// Register tile (per target, "MR x 2 vectors"):
//   AVX3/AVX3_DL (32 zmm): 12 x 32 floats = 24 accumulators + 2 B vectors +
//     1 broadcast A = 27 registers. Per k step: 2 loads + 12 broadcasts feed
//     24 FMAs. Zen4 runs a zmm FMA as 2 x 256 on its 2 FMA pipes (1 zmm FMA /
//     cycle, 4-cycle latency), so 24 independent chains hide the latency 6x.
//   AVX2 (16 ymm): 6 x 16 = 12 acc + 2 B + 1 A = 15 registers.
//   SSSE3/SSE4 (16 xmm, no FMA): 6 x 8, same register budget.
//   NEON/SVE (32 registers): 12 x 2 vectors (capped at 16 lanes).
// Cache blocking (Zen4: L1D 32 KiB, L2 1 MiB per core, L3 shared):
//   KC <= 384, split into equal blocks (K = 768: 2 x 384, 1280: 4 x 320): the
//   B sub-panel (KC x 32 x 4 B = 48 KiB) is reused by the MC / MR micro-tiles
//   of a block from L2 (L1 hit rate does not matter much on Zen4: a tile
//   needs 128 B of B per 24 FMA cycles); the A micro-panel (12 x 384 x 4 B =
//   18 KiB) stays in L1 during one micro-kernel call. Fewer KC passes mean
//   fewer re-reads of the C partial sums: KC = 384 beat 256 by ~5%.
//   MC = 144 (12 tiles): a task packs its A block (144 x K) once, then walks
//   its columns in NC = 768 chunks: the C block (144 x 768 x 4 B = 432 KiB)
//   stays in L2 across the KC passes (with NC = N = 2304 it spilled to L3:
//   -10%). The C rows of a tile are prefetched when its micro-kernel starts
//   (+3%). Packed B streams from L3 at < 1 byte per FMA cycle.
// Threads: OpenMP over a 2-D grid of (MC rows) x (NC columns) tasks; K is
// never split (each C tile is owned by one thread for its whole K loop).
// Numerics: each output is a float32 FMA chain over k in order, blocked by
// KC (partial sums stored to C in float32 between KC blocks): error <= k * eps
// * sum|a_i b_i| (first order).
#if defined(PERSAM_KERNELS_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PERSAM_KERNELS_GEMM_INL_H_
#undef PERSAM_KERNELS_GEMM_INL_H_
#else
#define PERSAM_KERNELS_GEMM_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "hwy/aligned_allocator.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/gelu-inl.h"
#include "kernels/gemm.h"
#include "kernels/gemm_pack.h"
#include "kernels/hwy_target.h"
#include "kernels/transpose_block.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace gemm_detail {

// Float tag of the register tile: at most 16 lanes so that a tile row
// (2 vectors) never exceeds one packed 32-column panel.
using DF = hn::CappedTag<float, 16>;

#if HWY_ARCH_X86 && HWY_TARGET > HWY_AVX3  // AVX2, SSE4, SSSE3: 16 registers
constexpr size_t kMR = 6;
#else  // AVX-512, NEON (aarch64), SVE: 32 registers
constexpr size_t kMR = 12;
#endif
constexpr size_t kKC = 384;  // maximum; GemmF32 splits K into equal blocks
constexpr size_t kMC = 12 * kMR;  // 144 rows on AVX-512, 72 on AVX2
constexpr size_t kNC = 768;       // C block 144 x 768 x 4 B = 432 KiB in L2

// Everything the store of one micro-tile needs. Pointers are at the tile's
// top-left element (row i0, column j0).
struct TileOut {
  float* c;
  size_t ldc;
  size_t rows;        // valid rows (<= kMR)
  size_t cols;        // valid columns (<= 2 vectors)
  bool first;         // first KC block: C is not read (beta = 0)
  bool last;          // last KC block: apply the epilogue
  const float* init;  // first block: added to the sum (residual folded
  size_t ld_init;     //   in early when the activation is linear)
  const float* bias;  // last block
  Epilogue act;
  const float* post;  // last block, after the activation (residual)
  size_t ld_post;
};

// The tile at row i, column j0 of C. A linear epilogue folds the residual
// into the first KC block (so that it may alias C); otherwise it is added
// after the activation.
HWY_INLINE TileOut MakeTile(size_t i, size_t j0, size_t m, size_t cols,
                            bool first, bool last, const float* bias,
                            Epilogue act, const float* residual, size_t ldr,
                            float* c, size_t ldc) {
  const bool residual_first = act == Epilogue::kNone;
  TileOut o;
  o.c = c + i * ldc + j0;
  o.ldc = ldc;
  o.rows = HWY_MIN(kMR, m - i);
  o.cols = cols;
  o.first = first;
  o.last = last;
  o.init = (residual && residual_first) ? residual + i * ldr + j0 : nullptr;
  o.ld_init = ldr;
  o.bias = bias ? bias + j0 : nullptr;
  o.act = act;
  o.post = (residual && !residual_first) ? residual + i * ldr + j0 : nullptr;
  o.ld_post = ldr;
  return o;
}

// Loads one tile row's two vectors from p (n0 + n1 valid lanes). A function,
// not a lambda: GCC once left a lambda here out of line, so that every row
// store went through a call with the vectors in memory and a vzeroupper
// (int8 GEMMs 1.3-2x slower; the "slower GELU" of an earlier session).
template <class D, class V = hn::Vec<D>>
HWY_INLINE void LoadTileRow(D d, const float* HWY_RESTRICT p, bool full, size_t n0,
                            size_t n1, V& x0, V& x1) {
  const size_t n = hn::Lanes(d);
  if (HWY_LIKELY(full)) {
    x0 = hn::LoadU(d, p);
    x1 = hn::LoadU(d, p + n);
  } else {
    x0 = LoadN(d, p, n0);
    x1 = n1 ? LoadN(d, p + n, n1) : hn::Zero(d);
  }
}

// Stores one tile row (two vectors v0, v1) with the epilogue.
template <class D, class V = hn::Vec<D>>
HWY_INLINE void StoreRow(D d, size_t r, V v0, V v1, const TileOut& o) {
  const size_t n = hn::Lanes(d);
  float* HWY_RESTRICT c = o.c + r * o.ldc;
  const bool full = o.cols == 2 * n;
  const size_t n0 = HWY_MIN(o.cols, n);
  const size_t n1 = o.cols > n ? o.cols - n : 0;
  V x0, x1;
  if (o.first) {
    if (o.init) {
      LoadTileRow(d, o.init + r * o.ld_init, full, n0, n1, x0, x1);
      v0 = hn::Add(v0, x0);
      v1 = hn::Add(v1, x1);
    }
  } else {
    LoadTileRow(d, c, full, n0, n1, x0, x1);
    v0 = hn::Add(v0, x0);
    v1 = hn::Add(v1, x1);
  }
  if (o.last) {
    if (o.bias) {
      LoadTileRow(d, o.bias, full, n0, n1, x0, x1);
      v0 = hn::Add(v0, x0);
      v1 = hn::Add(v1, x1);
    }
    // GELU and the residual after it are left to GeluTile.
    if (o.act == Epilogue::kRelu) {
      v0 = hn::ZeroIfNegative(v0);
      v1 = hn::ZeroIfNegative(v1);
    }
    if (o.post && o.act != Epilogue::kGelu) {
      LoadTileRow(d, o.post + r * o.ld_post, full, n0, n1, x0, x1);
      v0 = hn::Add(v0, x0);
      v1 = hn::Add(v1, x1);
    }
  }
  if (HWY_LIKELY(full)) {
    hn::StoreU(v0, d, c);
    hn::StoreU(v1, d, c + n);
  } else {
    StoreN(v0, d, c, n0);
    if (n1) StoreN(v1, d, c + n, n1);
  }
}

// GELU, then the residual, over a stored tile (o.last, o.act == kGelu).
// One loop, called once per tile, instead of GELU inlined into each of the
// micro-kernel's 2 * kMR row stores: 24 inlined copies of the ~35-op GELU
// bloated every kernel's epilogue (a cheaper GELU that way made the int8
// MLPs slower, not faster). The tile is still in L1.
template <class D>
HWY_NOINLINE void GeluTile(D d, const TileOut& o) {
  const size_t n = hn::Lanes(d);
  for (size_t r = 0; r < o.rows; ++r) {
    float* HWY_RESTRICT c = o.c + r * o.ldc;
    const float* HWY_RESTRICT post = o.post ? o.post + r * o.ld_post : nullptr;
    for (size_t j = 0; j < o.cols; j += n) {
      const size_t len = HWY_MIN(n, o.cols - j);
      const bool full = len == n;
      hn::Vec<D> v = Gelu(d, full ? hn::LoadU(d, c + j) : LoadN(d, c + j, len));
      if (post) v = hn::Add(v, full ? hn::LoadU(d, post + j) : LoadN(d, post + j, len));
      if (full) {
        hn::StoreU(v, d, c + j);
      } else {
        StoreN(v, d, c + j, len);
      }
    }
  }
}

// The tile's C rows (read back on all but the first KC pass) are scattered
// over kMR rows: request them when a micro-kernel starts so that they arrive
// during its k loop.
HWY_INLINE void PrefetchTile(size_t lanes, const TileOut& o) {
  for (size_t r = 0; r < o.rows; ++r) {
    hwy::Prefetch(o.c + r * o.ldc);
    hwy::Prefetch(o.c + r * o.ldc + lanes);
  }
}

// The micro-kernel: kMR x (2 vectors) tile over kc steps.
// ap: packed A micro-panel, kc x kMR. bp: B sub-panel, kc rows of stride
// kGemmNR floats (only the first 2 vectors of each row are used).
// Named accumulators rather than an array: SVE vectors are sizeless.
// MR <= kMR rows are computed (the A micro-panel keeps its kMR-row stride):
// a partial last tile (e.g. the M = 1 products of the mask decoder's
// hypernetwork MLPs and IoU head) runs 2 MR instead of 2 kMR FMAs per k step.
// Each output's FMA chain is the same whatever MR.
template <size_t MR, class D>
HWY_INLINE void MicroKernel(D d, size_t kc, const float* HWY_RESTRICT ap,
                            const float* HWY_RESTRICT bp, const TileOut& o) {
  static_assert(MR >= 1 && MR <= kMR, "tile rows");
  using V = hn::Vec<D>;
  const size_t n = hn::Lanes(d);
  PrefetchTile(n, o);
#define PERSAM_GEMM_DECL(r)                       \
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

#define PERSAM_GEMM_STEP(r)                         \
  if constexpr (MR > r) {                          \
    const V a = hn::Set(d, ap[r]);                  \
    c##r##0 = hn::MulAdd(a, b0, c##r##0);           \
    c##r##1 = hn::MulAdd(a, b1, c##r##1);           \
  }
#pragma GCC unroll 4
  for (size_t p = 0; p < kc; ++p) {
    const V b0 = hn::LoadU(d, bp);
    const V b1 = hn::LoadU(d, bp + n);
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
  if (MR > r && o.rows > r) StoreRow(d, r, c##r##0, c##r##1, o);
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

// Packs A[rows, kc] (row stride lda) into kMR-row micro-panels, k-major,
// zero-padding rows up to a multiple of kMR. 4 x 4 blocks are transposed in
// registers (TransposeBlock4): four row loads and four 16-byte stores instead
// of one scalar store per element, which made packing ~10% of a K = 256 GEMM.
HWY_INLINE void PackA(const float* HWY_RESTRICT a, size_t lda, size_t rows,
                      size_t kc, float* HWY_RESTRICT out) {
  const size_t kc4 = kc & ~size_t{3};
  for (size_t i0 = 0; i0 < rows; i0 += kMR) {
    const size_t mr = HWY_MIN(kMR, rows - i0);
    size_t r = 0;
    for (; r + 4 <= mr; r += 4) {
      const float* HWY_RESTRICT src = a + (i0 + r) * lda;
      for (size_t p = 0; p < kc4; p += 4) {
        TransposeBlock4(src + p, static_cast<int64_t>(lda), out + p * kMR + r, kMR);
      }
      for (size_t p = kc4; p < kc; ++p) {
        for (size_t i = 0; i < 4; ++i) out[p * kMR + r + i] = src[i * lda + p];
      }
    }
    for (; r < kMR; ++r) {
      if (r < mr) {
        const float* HWY_RESTRICT row = a + (i0 + r) * lda;
        for (size_t p = 0; p < kc; ++p) out[p * kMR + r] = row[p];
      } else {
        for (size_t p = 0; p < kc; ++p) out[p * kMR + r] = 0.0f;
      }
    }
    out += kc * kMR;
  }
}

// Per-thread A packing buffer, grown on demand and reused across calls
// (OpenMP keeps its worker threads).
HWY_INLINE float* PackBuffer(size_t floats) {
  static thread_local hwy::AlignedFreeUniquePtr<float[]> buf;
  static thread_local size_t capacity = 0;
  if (capacity < floats) {
    buf = hwy::AllocateAligned<float>(floats);
    capacity = floats;
  }
  return buf.get();
}

}  // namespace gemm_detail

// C[m, n] = act(A B^T + bias) + residual, B packed as kGemmNR panels.
// residual may alias c (same pointer and stride) when act is kNone; the
// caller (gemm.cc) copies an aliased residual when the activation is not.
inline HWY_NOINLINE void GemmF32(size_t m, const float* a, size_t lda,
                          const float* panels, size_t n, size_t k,
                          const float* bias, Epilogue act,
                          const float* residual, size_t ldr, float* c,
                          size_t ldc, int threads) {
  using namespace gemm_detail;
  const DF d;
  const size_t tile_cols = 2 * hn::Lanes(d);
  if (m == 0 || n == 0) return;
  // k == 0 is valid: one pass with kc = 0 stores act(bias) + residual.
  const size_t mblocks = (m + kMC - 1) / kMC;
  // Tasks: MC-row blocks, split by columns only as far as needed for >= 4
  // tasks per thread (small m). Each task packs its A block (mc x k) once and
  // walks its columns in NC chunks (C block in L2), each over all KC passes.
  const size_t npanels = (n + kGemmNR - 1) / kGemmNR;
  // One thread (e.g. per-block GEMMs inside a caller's parallel loop): no
  // split, which only feeds threads; A is then packed into the reused
  // per-thread buffer instead of a fresh shared one per call (e.g. the mask
  // decoder's 144 x 256 blocks: 147 KB, an mmap + page faults + munmap per
  // call in glibc).
  size_t nsplit = 1;
  while (threads > 1 && mblocks * nsplit < 4 * static_cast<size_t>(threads) &&
         nsplit < npanels) {
    ++nsplit;
  }
  const size_t panels_per_task = (npanels + nsplit - 1) / nsplit;
  nsplit = (npanels + panels_per_task - 1) / panels_per_task;
  const int64_t tasks = static_cast<int64_t>(mblocks * nsplit);
  // Equal KC blocks of at most kKC (K = 1280: 4 x 320, not 3 x 384 + 128).
  const size_t kpasses = HWY_MAX((k + kKC - 1) / kKC, size_t{1});
  const size_t kc_blk = ((k + kpasses - 1) / kpasses + 7) / 8 * 8;
  // A block ib packed: KC block pc of it starts at pc * mc_padded.
  auto pack_block = [&](size_t ib, float* apack) {
    const size_t i0 = ib * kMC;
    const size_t mc = HWY_MIN(kMC, m - i0);
    const size_t mc_padded = (mc + kMR - 1) / kMR * kMR;
    for (size_t pc = 0; pc < k; pc += kc_blk) {
      PackA(a + i0 * lda + pc, lda, mc, HWY_MIN(kc_blk, k - pc),
            apack + pc * mc_padded);
    }
  };
  // Split columns (small m, e.g. 56 attention rows x K = 4096): the tasks
  // of one row block would each pack the same A block, so pack all of A
  // once up front instead, by (row block, KC block) units split over the
  // threads (one thread packed e.g. the decoder's 56 x 4096 attention
  // weights while the others waited).
  hwy::AlignedFreeUniquePtr<float[]> shared_apack;
  const size_t kblocks = kc_blk == 0 ? 0 : (k + kc_blk - 1) / kc_blk;
  const int64_t pack_units = nsplit > 1 ? static_cast<int64_t>(mblocks * kblocks) : 0;
  auto pack_unit = [&](int64_t u) {
    const size_t ib = static_cast<size_t>(u) / kblocks;
    const size_t pc = static_cast<size_t>(u) % kblocks * kc_blk;
    const size_t i0 = ib * kMC;
    const size_t mc = HWY_MIN(kMC, m - i0);
    const size_t mc_padded = (mc + kMR - 1) / kMR * kMR;
    PackA(a + i0 * lda + pc, lda, mc, HWY_MIN(kc_blk, k - pc),
          shared_apack.get() + ib * kMC * k + pc * mc_padded);
  };
  if (nsplit > 1) {
    shared_apack = hwy::AllocateAligned<float>(mblocks * kMC * HWY_MAX(k, size_t{1}));
  }
  const bool team = threads > 1 && tasks > 1;
  if (!team) {
    for (int64_t u = 0; u < pack_units; ++u) pack_unit(u);
  }

  auto run_task = [&](int64_t t) {
    const size_t ib = static_cast<size_t>(t) / nsplit;
    const size_t jb = static_cast<size_t>(t) % nsplit;
    const size_t i0 = ib * kMC;
    const size_t mc = HWY_MIN(kMC, m - i0);
    const size_t mc_padded = (mc + kMR - 1) / kMR * kMR;
    const size_t j_begin = jb * panels_per_task * kGemmNR;
    const size_t j_end = HWY_MIN(n, j_begin + panels_per_task * kGemmNR);
    float* apack;
    if (shared_apack != nullptr) {
      apack = shared_apack.get() + ib * kMC * k;
    } else {
      apack = PackBuffer(HWY_MAX(mc_padded * k, size_t{1}));
      pack_block(ib, apack);
    }

    for (size_t jc = j_begin; jc < j_end; jc += kNC) {
      const size_t jc_end = HWY_MIN(j_end, jc + kNC);
      size_t pc = 0;
      do {
        const size_t kc = HWY_MIN(kc_blk, k - pc);
        const bool first = pc == 0;
        const bool last = pc + kc >= k;
        const float* ablock = apack + pc * mc_padded;
        for (size_t j0 = jc; j0 < jc_end; j0 += tile_cols) {
          const size_t cols = HWY_MIN(tile_cols, n - j0);
          const float* bp = panels + (j0 / kGemmNR) * k * kGemmNR +
                            pc * kGemmNR + j0 % kGemmNR;
          for (size_t ir = 0; ir < mc; ir += kMR) {
            const TileOut o = MakeTile(i0 + ir, j0, m, cols, first, last, bias,
                                       act, residual, ldr, c, ldc);
            const size_t rows = o.rows;
            if (HWY_LIKELY(rows == kMR)) {
              MicroKernel<kMR>(d, kc, ablock + ir * kc, bp, o);
            } else if (rows <= 1) {
              MicroKernel<1>(d, kc, ablock + ir * kc, bp, o);
            } else if (rows <= 2) {
              MicroKernel<2>(d, kc, ablock + ir * kc, bp, o);
            } else if (rows <= 4) {
              MicroKernel<HWY_MIN(size_t{4}, kMR)>(d, kc, ablock + ir * kc, bp, o);
            } else if (rows <= 8 && kMR > 8) {
              MicroKernel<HWY_MIN(size_t{8}, kMR)>(d, kc, ablock + ir * kc, bp, o);
            } else {
              MicroKernel<kMR>(d, kc, ablock + ir * kc, bp, o);
            }
          }
        }
        pc += kc;
      } while (pc < k);
    }
  };
  // One thread (threads == 1 inside a caller's parallel region): no
  // `omp parallel if (false)`, which still opens a one-thread team (~1.5 us
  // nested; the decoder runs thousands of per-block GEMMs per call).
  if (team) {
#pragma omp parallel num_threads(threads)
    {
      // The implicit barrier after the packing: a task reads its whole A block.
#pragma omp for schedule(static)
      for (int64_t u = 0; u < pack_units; ++u) pack_unit(u);
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < tasks; ++t) run_task(t);
    }
  } else {
    for (int64_t t = 0; t < tasks; ++t) run_task(t);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace persam::kernels
HWY_AFTER_NAMESPACE();

#endif  // PERSAM_KERNELS_GEMM_INL_H_
