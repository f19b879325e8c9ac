// TinyViT window attention (kernels/window_attention.h).
//
// Per (window, head): the scaled-later queries Q [n, d], the keys
// transposed Kt [d, nk_pad] (keys along lanes, so a score row is vectors)
// and V [n, dp] are gathered from the band's qkv rows into per-thread
// scratch; then per tile of up to 6 queries: S = Q Kt (6 x 4 vector
// register tile), p = exp(scale S + bias - max) (the padded keys' bias is
// -inf), O = P V (6 x up to 4 vectors of the head dim), out = O / sum p.
// The query tile shrinks to the rows left (49 = 8 x 6 + 1), so no padded
// query is computed.
#include "kernels/window_attention.h"

#include <string.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "base/error.h"

#include "kernels/hwy_target.h"  // first: target policy

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/window_attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"
#include "kernels/hwy_target.h"
#include "kernels/exp-inl.h"
#include "kernels/transpose_block.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace {

// At most 16 lanes, as the other kernels' tiles.
using DF = hn::CappedTag<float, 16>;
using VF = hn::Vec<DF>;

constexpr int kRows = 6;  // queries per register tile
constexpr int kVecs = 4;  // key vectors (QK) / head-dim vectors (PV) per tile

// Named accumulators a<r><v> (SVE vectors cannot be array elements);
// instances outside a tile are dropped at compile time.
#define PERSAM_WA_V4(X, r) X(r, 0) X(r, 1) X(r, 2) X(r, 3)
#define PERSAM_WA_RV(X) \
  PERSAM_WA_V4(X, 0) PERSAM_WA_V4(X, 1) PERSAM_WA_V4(X, 2) PERSAM_WA_V4(X, 3) \
  PERSAM_WA_V4(X, 4) PERSAM_WA_V4(X, 5)

// Acc[R, V * N] = A[R, count] (row stride lda) B[count, V * N] (row stride
// ldb), each accumulator vector handed to store(r, v, acc): the scores
// S = Q Kt and the output O = P V are the same register tile.
template <int R, int V, class Store>
HWY_INLINE void TileProduct(const float* HWY_RESTRICT lhs, int lda, int count, const float* HWY_RESTRICT rhs,
                            int ldb, const Store& store) {
  const DF d;
  const size_t N = hn::Lanes(d);
#define PERSAM_WA_DECL(r, v) HWY_MAYBE_UNUSED VF a##r##v = hn::Zero(d);
  PERSAM_WA_RV(PERSAM_WA_DECL)
#undef PERSAM_WA_DECL
  for (int k = 0; k < count; ++k) {
    const float* brow = rhs + static_cast<int64_t>(k) * ldb;
    HWY_MAYBE_UNUSED const VF b0 = hn::Load(d, brow);
    HWY_MAYBE_UNUSED const VF b1 = V > 1 ? hn::Load(d, brow + N) : hn::Zero(d);
    HWY_MAYBE_UNUSED const VF b2 = V > 2 ? hn::Load(d, brow + 2 * N) : hn::Zero(d);
    HWY_MAYBE_UNUSED const VF b3 = V > 3 ? hn::Load(d, brow + 3 * N) : hn::Zero(d);
#define PERSAM_WA_FMA(r, v) \
  if constexpr (r < R && v < V) a##r##v = hn::MulAdd(ab, b##v, a##r##v);
#define PERSAM_WA_ROW(r)                               \
  if constexpr (r < R) {                               \
    const VF ab = hn::Set(d, lhs[r * lda + k]);        \
    PERSAM_WA_V4(PERSAM_WA_FMA, r)                     \
  }
    PERSAM_WA_ROW(0) PERSAM_WA_ROW(1) PERSAM_WA_ROW(2)
    PERSAM_WA_ROW(3) PERSAM_WA_ROW(4) PERSAM_WA_ROW(5)
#undef PERSAM_WA_ROW
#undef PERSAM_WA_FMA
  }
#define PERSAM_WA_STORE(r, v) \
  if constexpr (r < R && v < V) store(r, v, a##r##v);
  PERSAM_WA_RV(PERSAM_WA_STORE)
#undef PERSAM_WA_STORE
}

// S[R, V * N] = Q[R, d] (row stride d) Kt[d, V * N] (row stride ldk).
template <int R, int V>
HWY_INLINE void QKTile(const float* HWY_RESTRICT q, int dim, const float* HWY_RESTRICT kt,
                       int ldk, float* HWY_RESTRICT s, int lds) {
  const DF d;
  const size_t N = hn::Lanes(d);
  TileProduct<R, V>(q, dim, dim, kt, ldk, [&](int r, int v, VF acc) { hn::Store(acc, d, s + r * lds + v * N); });
}

// O[R, V * N] = P[R, nk] (row stride ldp) Vp[nk, V * N] (row stride ldv),
// each row scaled by inv[r], stored to out rows o[r] (any stride).
template <int R, int V>
HWY_INLINE void PVTile(const float* HWY_RESTRICT p, int ldp, int nk,
                       const float* HWY_RESTRICT vp, int ldv, const float* inv,
                       float* const* o) {
  const DF d;
  const size_t N = hn::Lanes(d);
  TileProduct<R, V>(p, ldp, nk, vp, ldv,
                    [&](int r, int v, VF acc) { hn::StoreU(hn::Mul(acc, hn::Set(d, inv[r])), d, o[r] + v * N); });
}
#undef PERSAM_WA_RV
#undef PERSAM_WA_V4

// Dispatch on the vector count (1..kVecs) for a fixed row count.
template <int R>
void QKRows(const float* q, int dim, const float* kt, int ldk, int key_vecs, float* s, int lds) {
  const size_t N = hn::Lanes(DF());
  int v = 0;
  for (; v + kVecs <= key_vecs; v += kVecs) QKTile<R, kVecs>(q, dim, kt + v * N, ldk, s + v * N, lds);
  switch (key_vecs - v) {
    case 1: QKTile<R, 1>(q, dim, kt + v * N, ldk, s + v * N, lds); break;
    case 2: QKTile<R, 2>(q, dim, kt + v * N, ldk, s + v * N, lds); break;
    case 3: QKTile<R, 3>(q, dim, kt + v * N, ldk, s + v * N, lds); break;
    default: break;
  }
}

// PV for R rows; the head dim in chunks of up to kVecs vectors. The output
// is written through `tmp` (dp floats a row) when dim is not a whole number
// of vectors, then copied, so nothing past a token's head is touched.
template <int R>
void PVRows(const float* p, int ldp, int nk, const float* vp, int dp, int dim, const float* inv,
            float* const* out, float* tmp) {
  const size_t N = hn::Lanes(DF());
  const bool direct = dim == dp;
  float* o[kRows];
  for (int r = 0; r < R; ++r) o[r] = direct ? out[r] : tmp + r * dp;
  for (int c = 0; c < dp; c += kVecs * static_cast<int>(N)) {
    const int vecs = std::min<int>(kVecs, (dp - c) / static_cast<int>(N));
    float* oc[kRows];
    for (int r = 0; r < R; ++r) oc[r] = o[r] + c;
    switch (vecs) {
      case 1: PVTile<R, 1>(p, ldp, nk, vp + c, dp, inv, oc); break;
      case 2: PVTile<R, 2>(p, ldp, nk, vp + c, dp, inv, oc); break;
      case 3: PVTile<R, 3>(p, ldp, nk, vp + c, dp, inv, oc); break;
      default: PVTile<R, 4>(p, ldp, nk, vp + c, dp, inv, oc); break;
    }
  }
  if (!direct) {
    for (int r = 0; r < R; ++r) memcpy(out[r], tmp + r * dp, sizeof(float) * dim);
  }
}

// One token's q row (dim floats) and v row (padded with zeros to dp).
HWY_INLINE void GatherQV(const float* src, int dim, int dp, float* q, float* v) {
  memcpy(q, src, sizeof(float) * dim);
  memcpy(v, src + 2 * dim, sizeof(float) * dim);
  for (int k = dim; k < dp; ++k) v[k] = 0.0f;
}

// Per-thread scratch, grown on demand and reused across calls.
float* ThreadScratch(size_t floats) {
  static thread_local hwy::AlignedFreeUniquePtr<float[]> buf;
  static thread_local size_t size = 0;
  if (floats > size) {
    buf = hwy::AllocateAligned<float>(floats);
    size = floats;
  }
  return buf.get();
}

void WindowAttentionT(const WindowAttentionBand& a) {
  const DF d;
  const int N = static_cast<int>(hn::Lanes(d));
  const int win = a.window, n = win * win, dim = a.head_dim;
  const int nk_pad = (n + N - 1) / N * N, key_vecs = nk_pad / N;
  const int dp = (dim + N - 1) / N * N;
  const int c3 = 3 * a.heads * dim, c = a.heads * dim;
  const int nw = (a.w + win - 1) / win;
  const int items = nw * a.heads;
  // Q [n, dim], Kt [dim, nk_pad], Vp [n, dp], S/P [kRows, nk_pad], output
  // staging and the discarded padding queries' rows [kRows, dp] each.
  const size_t q_off = 0;
  const size_t kt_off = q_off + (static_cast<size_t>(n) * dim + N - 1) / N * N;
  const size_t vp_off = kt_off + static_cast<size_t>(dim) * nk_pad;
  const size_t s_off = vp_off + static_cast<size_t>(n) * dp;
  const size_t t_off = s_off + static_cast<size_t>(kRows) * nk_pad;
  const size_t x_off = t_off + static_cast<size_t>(kRows) * dp;
  const size_t floats = x_off + static_cast<size_t>(kRows) * dp + N;
#pragma omp parallel for schedule(static) if (items > 1)
  for (int item = 0; item < items; ++item) {
    const int wx = item / a.heads, hd = item % a.heads;
    float* base = ThreadScratch(floats);
    float* q = base + q_off;
    float* kt = base + kt_off;
    float* vp = base + vp_off;
    float* s = base + s_off;
    float* tmp = base + t_off;
    float* discard = base + x_off;
    // Gather: token t = (r, cx) of the window, padding tokens from pad_qkv;
    // K transposed 4 x 4 blocks at a time.
    const int64_t head_col = static_cast<int64_t>(hd) * 3 * dim;
    auto token = [&](int t) {
      const int r = t / win, x = wx * win + t % win;
      const float* src =
          (r < a.rows && x < a.w) ? a.qkv + (static_cast<int64_t>(r) * a.w + x) * c3 : a.pad_qkv;
      return src + head_col;
    };
    // The padded keys' columns: any finite value (their bias is -inf);
    // zeros, stored as each row's last vector before the real keys land.
    for (int k = 0; k < dim; ++k) {
      hn::Store(hn::Zero(d), d, kt + static_cast<int64_t>(k) * nk_pad + nk_pad - N);
    }
    const int dim4 = dim & ~3;
    int t = 0;
    for (; t + 4 <= n; t += 4) {
      const float* src[4] = {token(t), token(t + 1), token(t + 2), token(t + 3)};
      const float* ksrc[4] = {src[0] + dim, src[1] + dim, src[2] + dim, src[3] + dim};
      for (int k = 0; k < dim4; k += 4) {
        const float* rows4[4] = {ksrc[0] + k, ksrc[1] + k, ksrc[2] + k, ksrc[3] + k};
        TransposeRows4(rows4, kt + static_cast<int64_t>(k) * nk_pad + t, nk_pad);
      }
      for (int i = 0; i < 4; ++i) {
        for (int k = dim4; k < dim; ++k) kt[static_cast<int64_t>(k) * nk_pad + t + i] = ksrc[i][k];
        GatherQV(src[i], dim, dp, q + static_cast<int64_t>(t + i) * dim,
                 vp + static_cast<int64_t>(t + i) * dp);
      }
    }
    for (; t < n; ++t) {
      const float* src = token(t);
      for (int k = 0; k < dim; ++k) kt[static_cast<int64_t>(k) * nk_pad + t] = src[dim + k];
      GatherQV(src, dim, dp, q + static_cast<int64_t>(t) * dim, vp + static_cast<int64_t>(t) * dp);
    }
    const VF scale = hn::Set(d, a.scale);
    for (int i0 = 0; i0 < n; i0 += kRows) {
      const int rows = std::min(kRows, n - i0);
      const float* qi = q + static_cast<int64_t>(i0) * dim;
      switch (rows) {
        case 1: QKRows<1>(qi, dim, kt, nk_pad, key_vecs, s, nk_pad); break;
        case 2: QKRows<2>(qi, dim, kt, nk_pad, key_vecs, s, nk_pad); break;
        case 3: QKRows<3>(qi, dim, kt, nk_pad, key_vecs, s, nk_pad); break;
        case 4: QKRows<4>(qi, dim, kt, nk_pad, key_vecs, s, nk_pad); break;
        case 5: QKRows<5>(qi, dim, kt, nk_pad, key_vecs, s, nk_pad); break;
        default: QKRows<6>(qi, dim, kt, nk_pad, key_vecs, s, nk_pad); break;
      }
      // Softmax of each row: scale S + bias, padded keys -inf, then exp of
      // the max-subtracted scores with the padded lanes zeroed.
      float inv[kRows];
      float* out[kRows];
      for (int r = 0; r < rows; ++r) {
        const int i = i0 + r;
        float* srow = s + r * nk_pad;
        VF vmax = hn::Set(d, -HUGE_VALF);
        if (a.bias) {
          const float* brow = a.bias + (static_cast<int64_t>(hd) * n + i) * a.bias_stride;
          for (int j = 0; j < nk_pad; j += N) {
            const VF v = hn::MulAdd(hn::Load(d, srow + j), scale, hn::LoadU(d, brow + j));
            hn::Store(v, d, srow + j);
            vmax = hn::Max(vmax, v);
          }
        } else {
          for (int j = 0; j < nk_pad; j += N) {
            VF v = hn::Mul(hn::Load(d, srow + j), scale);
            if (j + N > n) {
              v = hn::IfThenElse(hn::FirstN(d, static_cast<size_t>(n - j)), v,
                                 hn::Set(d, -HUGE_VALF));
            }
            hn::Store(v, d, srow + j);
            vmax = hn::Max(vmax, v);
          }
        }
        const VF m = hn::Set(d, hn::GetLane(hn::MaxOfLanes(d, vmax)));
        VF sum = hn::Zero(d);
        for (int j = 0; j < nk_pad; j += N) {
          const VF p = ExpNonPositive(d, hn::Sub(hn::Load(d, srow + j), m));
          hn::Store(p, d, srow + j);
          sum = hn::Add(sum, p);
        }
        inv[r] = 1.0f / ReduceSum(d, sum);
        // Padding queries (outside the grid) go to the staging rows and are
        // dropped.
        const int y = i / win, x = wx * win + i % win;
        out[r] = (y < a.rows && x < a.w)
                     ? a.out + (static_cast<int64_t>(y) * a.w + x) * c + static_cast<int64_t>(hd) * dim
                     : discard + r * dp;
      }
      switch (rows) {
        case 1: PVRows<1>(s, nk_pad, n, vp, dp, dim, inv, out, tmp); break;
        case 2: PVRows<2>(s, nk_pad, n, vp, dp, dim, inv, out, tmp); break;
        case 3: PVRows<3>(s, nk_pad, n, vp, dp, dim, inv, out, tmp); break;
        case 4: PVRows<4>(s, nk_pad, n, vp, dp, dim, inv, out, tmp); break;
        case 5: PVRows<5>(s, nk_pad, n, vp, dp, dim, inv, out, tmp); break;
        default: PVRows<6>(s, nk_pad, n, vp, dp, dim, inv, out, tmp); break;
      }
    }
  }
}

}  // namespace
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam::kernels {

HWY_EXPORT(WindowAttentionT);

void WindowAttention(const WindowAttentionBand& band) {
  const WindowAttentionBand& a = band;
  if (!a.qkv || !a.pad_qkv || !a.out || a.window <= 0 || a.heads <= 0 || a.head_dim <= 0 ||
      a.w <= 0 || a.rows <= 0 || a.rows > a.window ||
      (a.bias && a.bias_stride < (a.window * a.window + kWindowBiasAlign - 1) /
                                     kWindowBiasAlign * kWindowBiasAlign)) {
    throw Error("WindowAttention: need qkv, pad_qkv, out, window > 0, heads > 0, head_dim > 0, "
                "w > 0, 1 <= rows <= window and a bias stride padded to " +
                std::to_string(kWindowBiasAlign) + "; got window " + std::to_string(a.window) +
                ", heads " + std::to_string(a.heads) + ", head_dim " +
                std::to_string(a.head_dim) + ", w " + std::to_string(a.w) + ", rows " +
                std::to_string(a.rows) + ", bias_stride " + std::to_string(a.bias_stride));
  }
  HWY_DYNAMIC_DISPATCH(WindowAttentionT)(a);
}

}  // namespace persam::kernels
#endif  // HWY_ONCE
