// Dispatching entry points of kernels/block_products.h; the register tile
// and its epilogue come from kernels/gemm-inl.h.
#include "kernels/block_products.h"

#include <cmath>

#include "kernels/hwy_target.h"  // first: target policy

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/block_products.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/gemm-inl.h"
#include "kernels/hwy_target.h"
#include "kernels/ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace {

using gemm_detail::kMR;
using gemm_detail::TileOut;

// gemm-inl.h's MicroKernel with A read in place: row r of the tile at
// a + r * rs, step p at + p * cs. The row pointers are set up once per tile
// (rows past the valid ones repeat the last valid row: never read past m,
// and those accumulators are not stored). kRows: rows computed (kMR, or
// fewer for the last row tile: 128 = 10 x 12 + 8 rows, 56 = 4 x 12 + 8;
// AVX2's 6-row tiles leave 2).
// D1: tag of the tile's second column vector: D (32 columns on AVX-512) or
// Half<D> (24 columns, e.g. 56 = 32 + 24 attention rows; Zen 4 runs a
// 256-bit FMA at half the cost of a 512-bit one). The Half form stores
// plainly (callers pass no epilogue).
// kTwo = false: the tile has at most Lanes(d) columns and the second vector
// is not computed (e.g. the last 8 of 56 attention rows on AVX2, where it
// doubled that tile's FMAs).
template <size_t kRows, bool kTwo, class D, class D1>
HWY_INLINE void StridedMicroKernel(D d, D1 d1, size_t kc, const float* HWY_RESTRICT a, int64_t rs, int64_t cs,
                                   const float* HWY_RESTRICT bp, int64_t ldb, const TileOut& o) {
  using V = hn::Vec<D>;
  using V1 = hn::Vec<D1>;
  constexpr bool kFull = hn::MaxLanes(D1()) == hn::MaxLanes(D());
  const size_t n = hn::Lanes(d);
  const int64_t last = static_cast<int64_t>(o.rows) - 1;
#define PERSAM_SK_DECL(r)                                                                 \
  HWY_MAYBE_UNUSED const float* HWY_RESTRICT a##r = a + HWY_MIN(int64_t{r}, last) * rs; \
  HWY_MAYBE_UNUSED V c##r##0 = hn::Zero(d);                                               \
  HWY_MAYBE_UNUSED V1 c##r##1 = hn::Zero(d1);
  PERSAM_SK_DECL(0)
  PERSAM_SK_DECL(1)
  PERSAM_SK_DECL(2)
  PERSAM_SK_DECL(3)
  PERSAM_SK_DECL(4)
  PERSAM_SK_DECL(5)
  PERSAM_SK_DECL(6)
  PERSAM_SK_DECL(7)
  PERSAM_SK_DECL(8)
  PERSAM_SK_DECL(9)
  PERSAM_SK_DECL(10)
  PERSAM_SK_DECL(11)
#undef PERSAM_SK_DECL
#define PERSAM_SK_STEP(r)                                        \
  if constexpr (kRows > r) {                                     \
    const float av = a##r[off];                                  \
    c##r##0 = hn::MulAdd(hn::Set(d, av), b0, c##r##0);           \
    if constexpr (kTwo) c##r##1 = hn::MulAdd(hn::Set(d1, av), b1, c##r##1); \
  }
  int64_t off = 0;
#pragma GCC unroll 4
  for (size_t p = 0; p < kc; ++p) {
    const V b0 = hn::LoadU(d, bp);
    HWY_MAYBE_UNUSED const V1 b1 = kTwo ? hn::LoadU(d1, bp + n) : hn::Zero(d1);
    PERSAM_SK_STEP(0)
    PERSAM_SK_STEP(1)
    PERSAM_SK_STEP(2)
    PERSAM_SK_STEP(3)
    PERSAM_SK_STEP(4)
    PERSAM_SK_STEP(5)
    PERSAM_SK_STEP(6)
    PERSAM_SK_STEP(7)
    PERSAM_SK_STEP(8)
    PERSAM_SK_STEP(9)
    PERSAM_SK_STEP(10)
    PERSAM_SK_STEP(11)
    off += cs;
    bp += ldb;
  }
#undef PERSAM_SK_STEP
  if constexpr (kFull) {
#define PERSAM_SK_STORE(r) \
  if (kRows > r && o.rows > r) gemm_detail::StoreRow(d, r, c##r##0, c##r##1, o);
    PERSAM_SK_STORE(0)
    PERSAM_SK_STORE(1)
    PERSAM_SK_STORE(2)
    PERSAM_SK_STORE(3)
    PERSAM_SK_STORE(4)
    PERSAM_SK_STORE(5)
    PERSAM_SK_STORE(6)
    PERSAM_SK_STORE(7)
    PERSAM_SK_STORE(8)
    PERSAM_SK_STORE(9)
    PERSAM_SK_STORE(10)
    PERSAM_SK_STORE(11)
#undef PERSAM_SK_STORE
    if (o.act == Epilogue::kGelu) gemm_detail::GeluTile(d, o);
  } else {
    const size_t n1 = o.cols - n;  // 1 .. Lanes(d1) columns in the second vector
#define PERSAM_SK_STORE(r)                                                   \
  if (kRows > r && o.rows > r) {                                             \
    float* HWY_RESTRICT row = o.c + r * o.ldc;                               \
    hn::StoreU(c##r##0, d, row);                                             \
    if (n1 == hn::Lanes(d1)) {                                               \
      hn::StoreU(c##r##1, d1, row + n);                                      \
    } else {                                                                 \
      StoreN(c##r##1, d1, row + n, n1);                                      \
    }                                                                        \
  }
    PERSAM_SK_STORE(0)
    PERSAM_SK_STORE(1)
    PERSAM_SK_STORE(2)
    PERSAM_SK_STORE(3)
    PERSAM_SK_STORE(4)
    PERSAM_SK_STORE(5)
    PERSAM_SK_STORE(6)
    PERSAM_SK_STORE(7)
    PERSAM_SK_STORE(8)
    PERSAM_SK_STORE(9)
    PERSAM_SK_STORE(10)
    PERSAM_SK_STORE(11)
#undef PERSAM_SK_STORE
  }
}

// One tile: the row count picks the kernel's kRows.
template <bool kTwo, class D, class D1>
HWY_INLINE void StridedTile(D d, D1 d1, size_t kc, const float* a, int64_t rs, int64_t cs, const float* bp,
                            int64_t ldb, const TileOut& o) {
  if (o.rows <= 2) {  // e.g. 56 = 9 x 6 + 2 and 128 = 21 x 6 + 2 rows on AVX2
    StridedMicroKernel<2, kTwo>(d, d1, kc, a, rs, cs, bp, ldb, o);
  } else if (o.rows <= 4) {
    StridedMicroKernel<4, kTwo>(d, d1, kc, a, rs, cs, bp, ldb, o);
  } else if (kMR > 8 && o.rows <= 8) {
    StridedMicroKernel<HWY_MIN(kMR, 8), kTwo>(d, d1, kc, a, rs, cs, bp, ldb, o);
  } else {
    StridedMicroKernel<kMR, kTwo>(d, d1, kc, a, rs, cs, bp, ldb, o);
  }
}

void GemmStridedT(int m, int n, int k, const StridedA& a, const StridedB& b, const GemmEpilogue& ep, float* c,
                  int64_t ldc) {
  const gemm_detail::DF d;
  const hn::Half<gemm_detail::DF> dh;
  const size_t lanes = hn::Lanes(d);
  const size_t tile_cols = 2 * lanes;
  const bool plain = ep.bias == nullptr && ep.residual == nullptr && ep.activation == Epilogue::kNone;
  // Column tiles outer: a tile's B sub-panel (k x 32) is reused by every row
  // tile from L1/L2.
  for (size_t j0 = 0; j0 < static_cast<size_t>(n); j0 += tile_cols) {
    const size_t cols = HWY_MIN(tile_cols, static_cast<size_t>(n) - j0);
    const bool half = plain && cols > lanes && cols <= lanes + hn::Lanes(dh);
    const float* bp = b.b + static_cast<int64_t>(j0 / kGemmNR) * b.panel_stride + static_cast<int64_t>(j0 % kGemmNR);
    for (size_t i0 = 0; i0 < static_cast<size_t>(m); i0 += kMR) {
      const TileOut o = gemm_detail::MakeTile(i0, j0, static_cast<size_t>(m), cols, true, true, ep.bias,
                                              ep.activation, ep.residual, static_cast<size_t>(ep.ldr), c,
                                              static_cast<size_t>(ldc));
      const float* at = a.a + static_cast<int64_t>(i0) * a.row_stride;
      if (cols <= lanes) {
        StridedTile<false>(d, d, static_cast<size_t>(k), at, a.row_stride, a.col_stride, bp, b.ld, o);
      } else if (half) {
        StridedTile<true>(d, dh, static_cast<size_t>(k), at, a.row_stride, a.col_stride, bp, b.ld, o);
      } else {
        StridedTile<true>(d, d, static_cast<size_t>(k), at, a.row_stride, a.col_stride, bp, b.ld, o);
      }
    }
  }
}

// 8 lanes: the decoder's groups are 8 heads wide and its column counts
// multiples of 8 (32, 56), so no tails on any x86 target (on AVX-512 a
// 256-bit op costs half a 512-bit one on Zen 4: no lanes wasted).
using D8 = hn::CappedTag<float, 8>;

// Softmax over g < groups of load(g) (8 lanes at a time): the exps are
// stored, then scaled by 1 / sum in a second sweep (any number of groups).
template <class Load, class Store, class Reload>
HWY_INLINE void SoftmaxGroupsLanes(int groups, const Load& load, const Store& store, const Reload& reload) {
  const D8 d;
  auto vmax = load(0);
  for (int g = 1; g < groups; ++g) vmax = hn::Max(vmax, load(g));
  auto sum = hn::Zero(d);
  for (int g = 0; g < groups; ++g) {
    const auto e = hn::Exp(d, hn::Sub(load(g), vmax));
    sum = hn::Add(sum, e);
    store(g, e);
  }
  const auto inv = hn::Div(hn::Set(d, 1.0f), sum);
  for (int g = 0; g < groups; ++g) store(g, hn::Mul(reload(g), inv));
}

void SoftmaxStridedT(int rows, int groups, int width, float* x, int64_t ldx, const float* bias) {
  const D8 d;
  const int N = static_cast<int>(hn::Lanes(d));
  for (int r = 0; r < rows; ++r) {
    float* row = x + r * ldx;
    for (int j = 0; j < width; j += N) {
      const size_t len = static_cast<size_t>(HWY_MIN(N, width - j));
      const bool full = len == static_cast<size_t>(N);
      auto load = [&](int g) {
        const float* p = row + g * width + j;
        auto v = full ? hn::LoadU(d, p) : LoadN(d, p, len);
        if (bias != nullptr) v = hn::Add(v, full ? hn::LoadU(d, bias + g * width + j) : LoadN(d, bias + g * width + j, len));
        return v;
      };
      auto store = [&](int g, hn::Vec<D8> v) {
        float* p = row + g * width + j;
        if (full) {
          hn::StoreU(v, d, p);
        } else {
          StoreN(v, d, p, len);
        }
      };
      auto reload = [&](int g) {
        const float* p = row + g * width + j;
        return full ? hn::LoadU(d, p) : LoadN(d, p, len);
      };
      SoftmaxGroupsLanes(groups, load, store, reload);
    }
  }
}

void SoftmaxColumnsOnlineT(int rows, int cols, float* x, int64_t ldx, float* run_max, float* run_sum,
                           float* rescale) {
  const D8 d;
  const int N = static_cast<int>(hn::Lanes(d));
  for (int c = 0; c < cols; c += N) {
    const size_t len = static_cast<size_t>(HWY_MIN(N, cols - c));
    const bool full = len == static_cast<size_t>(N);
    auto load = [&](const float* p) { return full ? hn::LoadU(d, p) : LoadN(d, p, len); };
    auto store = [&](hn::Vec<D8> v, float* p) {
      if (full) {
        hn::StoreU(v, d, p);
      } else {
        StoreN(v, d, p, len);
      }
    };
    const auto old_max = full ? hn::LoadU(d, run_max + c) : LoadN(d, run_max + c, len);
    auto vmax = old_max;
    for (int r = 0; r < rows; ++r) vmax = hn::Max(vmax, load(x + r * ldx + c));
    auto sum = hn::Zero(d);
    for (int r = 0; r < rows; ++r) {
      float* p = x + r * ldx + c;
      const auto e = hn::Exp(d, hn::Sub(load(p), vmax));
      sum = hn::Add(sum, e);
      store(e, p);
    }
    // exp(-inf - finite) = 0 on the first block.
    const auto scale = hn::Exp(d, hn::Sub(old_max, vmax));
    const auto old_sum = full ? hn::LoadU(d, run_sum + c) : LoadN(d, run_sum + c, len);
    store(hn::MulAdd(old_sum, scale, sum), run_sum + c);
    store(vmax, run_max + c);
    store(scale, rescale + c);
  }
}

void LayerNormRowsPlusT(int rows, int cols, const float* x, int64_t ldx, const float* gamma, const float* beta,
                        float eps, float* out, int64_t ldo, const float* add, int64_t ld_add, float* out_plus,
                        int64_t ld_plus) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  for (int r = 0; r < rows; ++r) {
    float* o = out + r * ldo;
    LayerNormRow(x + r * ldx, static_cast<size_t>(cols), gamma, beta, eps, o);
    const float* a = add + r * ld_add;
    float* p = out_plus + r * ld_plus;
    size_t i = 0;
    for (; i + N <= static_cast<size_t>(cols); i += N) hn::StoreU(hn::Add(hn::LoadU(d, o + i), hn::LoadU(d, a + i)), d, p + i);
    for (; i < static_cast<size_t>(cols); ++i) p[i] = o[i] + a[i];
  }
}

void ScaleRowsT(int rows, int cols, float* x, int64_t ldx, const float* scale) {
  const hn::ScalableTag<float> d;
  for (int r = 0; r < rows; ++r) {
    if (scale[r] == 1.0f) continue;
    const auto s = hn::Set(d, scale[r]);
    float* row = x + r * ldx;
    const size_t N = hn::Lanes(d);
    size_t i = 0;
    for (; i + N <= static_cast<size_t>(cols); i += N) hn::StoreU(hn::Mul(hn::LoadU(d, row + i), s), d, row + i);
    for (; i < static_cast<size_t>(cols); ++i) row[i] *= scale[r];
  }
}

}  // namespace
}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam::kernels {

HWY_EXPORT(GemmStridedT);
HWY_EXPORT(SoftmaxStridedT);
HWY_EXPORT(SoftmaxColumnsOnlineT);
HWY_EXPORT(ScaleRowsT);
HWY_EXPORT(LayerNormRowsPlusT);

void GemmStrided(int m, int n, int k, const StridedA& a, const StridedB& b, const GemmEpilogue& epilogue, float* c,
                 int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  HWY_DYNAMIC_DISPATCH(GemmStridedT)(m, n, k, a, b, epilogue, c, ldc);
}
void SoftmaxStrided(int rows, int groups, int width, float* x, int64_t ldx, const float* bias) {
  if (rows <= 0 || groups <= 0 || width <= 0) return;
  HWY_DYNAMIC_DISPATCH(SoftmaxStridedT)(rows, groups, width, x, ldx, bias);
}
void SoftmaxColumnsOnline(int rows, int cols, float* x, int64_t ldx, float* run_max, float* run_sum,
                          float* rescale) {
  if (cols <= 0) return;
  HWY_DYNAMIC_DISPATCH(SoftmaxColumnsOnlineT)(rows, cols, x, ldx, run_max, run_sum, rescale);
}
void LayerNormRowsPlus(int rows, int cols, const float* x, int64_t ldx, const float* gamma, const float* beta,
                       float eps, float* out, int64_t ldo, const float* add, int64_t ld_add, float* out_plus,
                       int64_t ld_plus) {
  if (rows <= 0 || cols <= 0) return;
  HWY_DYNAMIC_DISPATCH(LayerNormRowsPlusT)(rows, cols, x, ldx, gamma, beta, eps, out, ldo, add, ld_add, out_plus,
                                           ld_plus);
}
void ScaleRows(int rows, int cols, float* x, int64_t ldx, const float* scale) {
  HWY_DYNAMIC_DISPATCH(ScaleRowsT)(rows, cols, x, ldx, scale);
}

}  // namespace persam::kernels
#endif  // HWY_ONCE
