// kernels/gelu_ops.h: GELU fused with LayerNorm rows and with a small
// product over channels. Per-target bodies with one dispatch per call.
#include "kernels/gelu_ops.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels/hwy_target.h"  // first: target policy

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gelu_ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/hwy_target.h"
#include "kernels/ops-inl.h"
#include "kernels/parallel.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace {

void LayerNormGeluRowsT(int rows, int cols, const float* x, int64_t ldx, const float* gamma,
                        const float* beta, float eps, float* out, int64_t ldo) {
  // Groups of rows: the LayerNorms of a group first, then the GELUs over the
  // group's outputs (still in L1), so the values are exactly LayerNormRows'
  // then Gelu's. A row's LayerNorm is a long latency chain (two horizontal
  // sums, a division, a square root and another division) of few
  // operations; row by row, the ~200 GELU operations that followed each
  // filled the reorder window and the next chain could not start early: 1.3
  // ns per value (64 columns) against 0.7 for GELU alone. Within a group the
  // statistics of all rows are computed first (sums, then the squared
  // deviations, then the scalar divisions and square roots: independent
  // chains with no stores in between), then the rows are normalised: the
  // same operations as LayerNormRow per row, in another order across rows.
  constexpr int64_t kGroup = 8;
  const int64_t groups = (rows + kGroup - 1) / kGroup;
  const size_t n = static_cast<size_t>(cols);
  ParallelFor(groups, static_cast<int64_t>(rows) * cols > (1 << 16), [&](int64_t gi) {
    const int64_t r0 = gi * kGroup, r1 = std::min<int64_t>(rows, r0 + kGroup);
    if (cols == 0) return;
    float mean[kGroup], rstd[kGroup];
    for (int64_t r = r0; r < r1; ++r) mean[r - r0] = SumArray(x + r * ldx, n) / static_cast<float>(cols);
    for (int64_t r = r0; r < r1; ++r) {
      rstd[r - r0] = SumSquaredDeviation(x + r * ldx, n, mean[r - r0]) / static_cast<float>(cols);
    }
    for (int64_t j = 0; j < r1 - r0; ++j) rstd[j] = 1.0f / std::sqrt(rstd[j] + eps);
    for (int64_t r = r0; r < r1; ++r) {
      LayerNormApplyRow(x + r * ldx, n, gamma, beta, mean[r - r0], rstd[r - r0], out + r * ldo);
    }
    if (ldo == cols) {
      float* o = out + r0 * ldo;
      MapArray(o, o, static_cast<size_t>((r1 - r0) * cols), GeluFunc());
    } else {
      for (int64_t r = r0; r < r1; ++r) {
        float* o = out + r * ldo;
        MapArray(o, o, static_cast<size_t>(cols), GeluFunc());
      }
    }
  });
}

// Columns [c, c + len) (len <= Lanes) of the product for outputs
// [i0, i0 + kGroup). Named accumulators (SVE vectors are sizeless).
template <int kGroup>
HWY_INLINE void GeluProductBlock(int k, const float* HWY_RESTRICT x, int64_t ldx,
                                 const float* HWY_RESTRICT bias, const float* HWY_RESTRICT w,
                                 int64_t ldw, size_t len, float* HWY_RESTRICT out, int64_t ldo) {
  const hn::ScalableTag<float> d;
  const bool full = len == hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  for (int r = 0; r < k; ++r) {
    const float* p = x + r * ldx;
    auto v = full ? hn::LoadU(d, p) : LoadN(d, p, len);
    if (bias != nullptr) v = hn::Add(v, hn::Set(d, bias[r]));
    const auto g = Gelu(d, v);
    a0 = hn::MulAdd(hn::Set(d, w[r]), g, a0);
    if constexpr (kGroup > 1) a1 = hn::MulAdd(hn::Set(d, w[ldw + r]), g, a1);
    if constexpr (kGroup > 2) a2 = hn::MulAdd(hn::Set(d, w[2 * ldw + r]), g, a2);
    if constexpr (kGroup > 3) a3 = hn::MulAdd(hn::Set(d, w[3 * ldw + r]), g, a3);
  }
  auto store = [&](decltype(a0) v, float* o) {
    if (full) {
      hn::StoreU(v, d, o);
    } else {
      StoreN(v, d, o, len);
    }
  };
  store(a0, out);
  if constexpr (kGroup > 1) store(a1, out + ldo);
  if constexpr (kGroup > 2) store(a2, out + 2 * ldo);
  if constexpr (kGroup > 3) store(a3, out + 3 * ldo);
}

void GeluBiasColumnsProductT(int k, int cols, const float* x, int64_t ldx, const float* bias, int n,
                             const float* w, int64_t ldw, float* out, int64_t ldo) {
  if (k <= 0 || cols <= 0 || n <= 0) {
    // An empty sum is 0 (k == 0); nothing to write otherwise.
    for (int i = 0; i < n; ++i) std::fill_n(out + i * ldo, std::max(cols, 0), 0.0f);
    return;
  }
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t blocks = (cols + N - 1) / N;
  ParallelFor(blocks, static_cast<int64_t>(k) * cols * n > (1 << 16), [&](int64_t b) {
    const int64_t c = b * N;
    const size_t len = static_cast<size_t>(std::min<int64_t>(N, cols - c));
    for (int i0 = 0; i0 < n; i0 += 4) {
      const float* wg = w + i0 * ldw;
      float* og = out + i0 * ldo + c;
      switch (std::min(4, n - i0)) {
        case 1: GeluProductBlock<1>(k, x + c, ldx, bias, wg, ldw, len, og, ldo); break;
        case 2: GeluProductBlock<2>(k, x + c, ldx, bias, wg, ldw, len, og, ldo); break;
        case 3: GeluProductBlock<3>(k, x + c, ldx, bias, wg, ldw, len, og, ldo); break;
        default: GeluProductBlock<4>(k, x + c, ldx, bias, wg, ldw, len, og, ldo); break;
      }
    }
  });
}

}  // namespace
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam::kernels {

HWY_EXPORT(LayerNormGeluRowsT);
HWY_EXPORT(GeluBiasColumnsProductT);

void LayerNormGeluRows(int rows, int cols, const float* x, int64_t ldx, const float* gamma,
                       const float* beta, float eps, float* out, int64_t ldo) {
  HWY_DYNAMIC_DISPATCH(LayerNormGeluRowsT)(rows, cols, x, ldx, gamma, beta, eps, out, ldo);
}

void GeluBiasColumnsProduct(int k, int cols, const float* x, int64_t ldx, const float* bias, int n,
                            const float* w, int64_t ldw, float* out, int64_t ldo) {
  HWY_DYNAMIC_DISPATCH(GeluBiasColumnsProductT)(k, cols, x, ldx, bias, n, w, ldw, out, ldo);
}

}  // namespace persam::kernels
#endif  // HWY_ONCE
