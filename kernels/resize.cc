// torch 1.13's bilinear interpolation (kernels/resize.h), vectorised with
// Highway and still bit-exact: every lane performs the same float/double
// operations in the same order as torch's scalar loops (see the two formulas
// in OutputRow), which vectors can do because nothing below depends on a
// reduction order across lanes.
//
// Structure: both axes' taps (index pairs and weights) are computed once per
// call. Each output row needs two source rows "expanded" to the output
// columns (gathered at the column taps); threads own contiguous ranges of
// output rows and keep the last two expanded rows, so each source row is
// gathered about once per thread instead of once per output row. For torch's
// multi-channel kernel the expansion is already the horizontal interpolation
// (its formula is separable); the single-channel kernel mixes the four taps
// with products of the two axes' weights, so it keeps both gathered taps.
//
// Fused multiply-add: the multi-channel formula is fma(a, w0, b * w1) (GCC
// contracts torch's float loop), so its lanes need a true single-rounding
// fma. Targets without one (x86 SSSE3/SSE4) evaluate it per lane with
// std::fma (slow but exact; no machine running this engine lacks FMA in
// practice). The single-channel formula multiplies floats into doubles, which
// is exact, so fused or unfused adds round the same and MulAdd is safe there.
//
// Compiled with -std=c++17 (ISO mode), so GCC does not contract the separate
// Mul/Add below behind our back (-ffp-contract=off is the ISO default).
#include "kernels/resize.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

#ifndef PERSAM_KERNELS_RESIZE_TAPS_
#define PERSAM_KERNELS_RESIZE_TAPS_
namespace persam::kernels::resize_internal {

// Outputs are padded to a multiple of the widest vector we may compile for
// (64 floats: SVE 2048-bit) with taps (0, 0, 0, 0), so gathers and row
// loads never need a tail; only the final stores do.
constexpr int kPadLanes = 64;

inline int PaddedCount(int n) { return (n + kPadLanes - 1) / kPadLanes * kPadLanes; }

// The taps of the first `count` outputs of an in -> out axis, as arrays.
struct AxisTaps {
  std::vector<int32_t> i0, i1;
  std::vector<float> w0, w1;
};

// ref: aten/src/ATen/native/UpSample.h area_pixel_compute_scale /
// area_pixel_compute_source_index, cpu/UpSampleKernel.cpp (align_corners=
// False, no scale_factor). Matched against Debian's torch 1.13 by probing
// unit impulses: the ratio is float(in) / out in float; the source index
// float_ratio * (dst + 0.5) - 0.5 is evaluated in double and clamped at 0,
// i0 = floor, lambda1 = float(src - i0) (from the double, not from a float
// src: that loses ~1e-4 near src ~ 600), lambda0 = 1 - lambda1 in float.
// An axis whose size does not change reads one pixel with weights 1 and 0
// (i1 == i0): torch's result is then the input bit for bit for every finite
// value (-0 and denormals included) while inf becomes NaN (inf * 0), which
// this reproduces.
inline AxisTaps LinearTaps(int in, int out, int count) {
  AxisTaps t;
  const size_t padded = static_cast<size_t>(PaddedCount(count));
  t.i0.assign(padded, 0);
  t.i1.assign(padded, 0);
  t.w0.assign(padded, 0.0f);
  t.w1.assign(padded, 0.0f);
  const float ratio = static_cast<float>(in) / static_cast<float>(out);
  for (int o = 0; o < count; ++o) {
    if (in == out) {
      t.i0[o] = t.i1[o] = o;
      t.w0[o] = 1.0f;
      continue;
    }
    double src = static_cast<double>(ratio) * (o + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    const int i0 = std::min(static_cast<int>(src), in - 1);
    t.i0[o] = i0;
    t.i1[o] = i0 + (i0 < in - 1 ? 1 : 0);
    t.w1[o] = static_cast<float>(std::min(std::max(src - i0, 0.0), 1.0));
    t.w0[o] = 1.0f - t.w1[o];
  }
  return t;
}

}  // namespace persam::kernels::resize_internal
#endif  // PERSAM_KERNELS_RESIZE_TAPS_

#include "kernels/hwy_target.h"  // target policy

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/resize.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/hwy_target.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
using resize_internal::AxisTaps;

// fma(a, b, c) with a single rounding in every lane (see the file comment).
template <class D, class V>
HWY_INLINE V ExactMulAdd(D d, V a, V b, V c) {
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2) || HWY_ARCH_ARM_A64 || HWY_ARCH_RVV
  (void)d;
  return hn::MulAdd(a, b, c);
#else
  using T = hn::TFromD<D>;
  HWY_ALIGN T pa[hn::MaxLanes(D())];
  HWY_ALIGN T pb[hn::MaxLanes(D())];
  HWY_ALIGN T pc[hn::MaxLanes(D())];
  hn::Store(a, d, pa);
  hn::Store(b, d, pb);
  hn::Store(c, d, pc);
  for (size_t i = 0; i < hn::Lanes(d); ++i) pa[i] = std::fma(pa[i], pb[i], pc[i]);
  return hn::Load(d, pa);
#endif
}

// The first min(n, Lanes(d)) floats at p, other lanes zero; never reads
// past p[n - 1].
template <class D>
HWY_INLINE hn::Vec<D> LoadUpTo(D d, const float* p, size_t n) {
  return n >= hn::Lanes(d) ? hn::LoadU(d, p) : LoadN(d, p, n);
}

template <class D>
HWY_INLINE void StoreUpTo(hn::Vec<D> v, D d, float* p, size_t n) {
  if (n >= hn::Lanes(d)) {
    hn::StoreU(v, d, p);
  } else {
    StoreN(v, d, p, n);
  }
}

// One source row expanded to the padded output columns: for the
// multi-channel kernel the horizontal interpolation fma(a, w0, b * w1)
// ([width]); for the single-channel kernel the two gathered taps a, b
// ([2, width]). When a block's taps fall within one vector's span of the
// row (any upscale: the taps of N consecutive outputs cover fewer than N
// inputs), they are one load and two in-register permutes instead of two
// gathers (vgatherdps was ~40% of SAM's 256 -> 1024 postprocessing); the
// values picked are the same, so the results are too. block_base[x / N] is
// the first input of such a block, -1 for a block that gathers.
void ExpandRow(const float* HWY_RESTRICT row, const AxisTaps& tx, const int32_t* block_base,
               size_t width, bool single_channel, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const size_t N = hn::Lanes(d);
  for (size_t x = 0; x < width; x += N) {
    const auto i0 = hn::LoadU(di, tx.i0.data() + x);
    const auto i1 = hn::LoadU(di, tx.i1.data() + x);
    hn::Vec<decltype(d)> a, b;
    const int32_t base = block_base[x / N];
    if (base >= 0) {
      const auto v = hn::LoadU(d, row + base);
      const auto vb = hn::Set(di, base);
      a = hn::TableLookupLanes(v, hn::IndicesFromVec(d, hn::Sub(i0, vb)));
      b = hn::TableLookupLanes(v, hn::IndicesFromVec(d, hn::Sub(i1, vb)));
    } else {
      a = hn::GatherIndex(d, row, i0);
      b = hn::GatherIndex(d, row, i1);
    }
    if (single_channel) {
      hn::StoreU(a, d, out + x);
      hn::StoreU(b, d, out + width + x);
    } else {
      const auto bw1 = hn::Mul(b, hn::LoadU(d, tx.w1.data() + x));
      hn::StoreU(ExactMulAdd(d, a, hn::LoadU(d, tx.w0.data() + x), bw1), d, out + x);
    }
  }
}

// One output row from the expanded source rows e0 (tap i0 of the row axis)
// and e1 (tap i1), weights wy0 / wy1; `count` outputs.
void OutputRow(const float* HWY_RESTRICT e0, const float* HWY_RESTRICT e1, float wy0, float wy1,
               const AxisTaps& tx, size_t width, bool single_channel, size_t count, bool stream,
               float* HWY_RESTRICT out) {
  if (!single_channel) {
    // torch's generic kernel: fma(r0, wy0, r1 * wy1) of the two rows'
    // horizontal interpolations.
    const hn::ScalableTag<float> d;
    const size_t N = hn::Lanes(d);
    const auto w0 = hn::Set(d, wy0), w1 = hn::Set(d, wy1);
    // Outputs x .. x + min(N, count - x) - 1: a partial vector reads only
    // its own lanes (after the streamed part's unaligned head, x is no
    // multiple of N and a whole vector would read past the expanded row).
    auto value = [&](size_t x) {
      const auto r1w = hn::Mul(LoadUpTo(d, e1 + x, count - x), w1);
      return ExactMulAdd(d, LoadUpTo(d, e0 + x, count - x), w0, r1w);
    };
    size_t x = 0;
    if (stream) {
      // Non-temporal stores from the first vector-aligned output on (the
      // head is a partial store): no read-for-ownership of the output lines.
      const size_t misalign = (reinterpret_cast<uintptr_t>(out) / sizeof(float)) % N;
      const size_t head = misalign == 0 ? 0 : N - misalign;
      if (head + N <= count) {
        if (head > 0) StoreN(value(0), d, out, head);
        for (x = head; x + N <= count; x += N) hn::Stream(value(x), d, out + x);
      }
    }
    for (; x < count; x += N) StoreUpTo(value(x), d, out + x, count - x);
    return;
  }
  // torch's channels-last kernel: the four weight products in float, the
  // sum a*w00 + b*w01 + c*w10 + d*w11 in double (left to right), rounded
  // once to float. Lanes are doubles, so floats are handled half a vector
  // at a time.
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const size_t N = hn::Lanes(dd);
  const auto vy0 = hn::Set(df, wy0), vy1 = hn::Set(df, wy1);
  for (size_t x = 0; x < count; x += N) {
    const auto wx0 = hn::LoadU(df, tx.w0.data() + x);
    const auto wx1 = hn::LoadU(df, tx.w1.data() + x);
    const auto w00 = hn::PromoteTo(dd, hn::Mul(vy0, wx0));
    const auto w01 = hn::PromoteTo(dd, hn::Mul(vy0, wx1));
    const auto w10 = hn::PromoteTo(dd, hn::Mul(vy1, wx0));
    const auto w11 = hn::PromoteTo(dd, hn::Mul(vy1, wx1));
    // Products of two floats are exact in double: fusing them into the adds
    // does not change any rounding.
    auto sum = hn::Mul(hn::PromoteTo(dd, hn::LoadU(df, e0 + x)), w00);
    sum = hn::MulAdd(hn::PromoteTo(dd, hn::LoadU(df, e0 + width + x)), w01, sum);
    sum = hn::MulAdd(hn::PromoteTo(dd, hn::LoadU(df, e1 + x)), w10, sum);
    sum = hn::MulAdd(hn::PromoteTo(dd, hn::LoadU(df, e1 + width + x)), w11, sum);
    StoreUpTo(hn::DemoteTo(df, sum), df, out + x, count - x);
  }
}

void ResizeBilinearT(const float* src, int planes, int in_h, int in_w, int out_h, int out_w,
                     int crop_h, int crop_w, float* dst, bool single_channel) {
  const AxisTaps ty = resize_internal::LinearTaps(in_h, out_h, crop_h);
  const AxisTaps tx = resize_internal::LinearTaps(in_w, out_w, crop_w);
  const size_t width = tx.i0.size();  // padded
  const size_t slot = single_channel ? 2 * width : width;
  // Per vector block of outputs: the first input if all its taps lie in
  // [base, base + N) within the row (one load + permutes), else -1 (gather).
  const size_t N = hn::Lanes(hn::ScalableTag<float>());
  std::vector<int32_t> block_base(width / N);
  for (size_t blk = 0; blk < block_base.size(); ++blk) {
    int32_t lo = tx.i0[blk * N], hi = tx.i1[blk * N];
    for (size_t l = 0; l < N; ++l) {
      lo = std::min({lo, tx.i0[blk * N + l], tx.i1[blk * N + l]});
      hi = std::max({hi, tx.i0[blk * N + l], tx.i1[blk * N + l]});
    }
    const bool fits = hi - lo < static_cast<int32_t>(N) && lo + static_cast<int32_t>(N) <= in_w;
    block_base[blk] = fits ? lo : -1;
  }
  const int64_t in_plane = static_cast<int64_t>(in_h) * in_w;
  const int64_t out_plane = static_cast<int64_t>(crop_h) * crop_w;
  const int64_t rows = static_cast<int64_t>(planes) * crop_h;
  // Outputs beyond 4 MB (SAM's 3 x 1024 x 1024 maps: 12 MB) are larger than
  // the per-core L2s: caching them only evicts, and the plain stores spent
  // half the pass reading each output line for ownership first. Streamed,
  // the multi-channel pass took 0.65 instead of 0.87 ms (decoder/point, 2
  // threads). Same values either way.
  const bool stream = rows * crop_w > (int64_t{1} << 20);
  // Below ~64k outputs the fork/join costs more than it saves.
#pragma omp parallel if (rows * crop_w > (1 << 16))
  {
    const int threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = rows * t / threads, end = rows * (t + 1) / threads;
    // The last two expanded source rows, keyed by plane * in_h + row.
    std::vector<float> cache(2 * slot);
    int64_t key[2] = {-1, -1};
    auto expanded = [&](int64_t want, int64_t keep) -> const float* {
      for (int s = 0; s < 2; ++s) {
        if (key[s] == want) return cache.data() + s * slot;
      }
      const int s = key[0] == keep ? 1 : 0;
      ExpandRow(src + (want / in_h) * in_plane + (want % in_h) * in_w, tx, block_base.data(), width, single_channel,
                cache.data() + s * slot);
      key[s] = want;
      return cache.data() + s * slot;
    };
    for (int64_t r = begin; r < end; ++r) {
      const int64_t p = r / crop_h;
      const int oy = static_cast<int>(r % crop_h);
      const int64_t k0 = p * in_h + ty.i0[oy], k1 = p * in_h + ty.i1[oy];
      const float* e0 = expanded(k0, k1);
      const float* e1 = expanded(k1, k0);
      OutputRow(e0, e1, ty.w0[oy], ty.w1[oy], tx, width, single_channel, static_cast<size_t>(crop_w),
                stream, dst + p * out_plane + static_cast<int64_t>(oy) * crop_w);
    }
  }
}

}  // namespace
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam::kernels {

HWY_EXPORT(ResizeBilinearT);

void ResizeBilinearCrop(const float* src, int planes, int in_h, int in_w, int out_h, int out_w,
                        int crop_h, int crop_w, float* dst, BilinearRounding rounding) {
  if (in_h <= 0 || in_w <= 0 || out_h <= 0 || out_w <= 0) {
    throw Error("ResizeBilinear: sizes must be positive, got input " + std::to_string(in_h) +
                "x" + std::to_string(in_w) + ", output " + std::to_string(out_h) + "x" +
                std::to_string(out_w));
  }
  if (crop_h <= 0 || crop_w <= 0 || crop_h > out_h || crop_w > out_w) {
    throw Error("ResizeBilinearCrop: crop " + std::to_string(crop_h) + "x" +
                std::to_string(crop_w) + " must be within the output " + std::to_string(out_h) +
                "x" + std::to_string(out_w));
  }
  if (planes < 0) throw Error("ResizeBilinear: planes must be >= 0");
  if (planes == 0) return;
  HWY_DYNAMIC_DISPATCH(ResizeBilinearT)(src, planes, in_h, in_w, out_h, out_w, crop_h, crop_w,
                                        dst, rounding == BilinearRounding::kTorchSingleChannel);
}

void ResizeBilinear(const float* src, int planes, int in_h, int in_w, float* dst, int out_h,
                    int out_w, BilinearRounding rounding) {
  ResizeBilinearCrop(src, planes, in_h, in_w, out_h, out_w, out_h, out_w, dst, rounding);
}

void ResizeBilinear(const float* src, int planes, int in_h, int in_w, float* dst, int out_h,
                    int out_w) {
  ResizeBilinear(src, planes, in_h, in_w, dst, out_h, out_w,
                 planes == 1 ? BilinearRounding::kTorchSingleChannel
                             : BilinearRounding::kTorchMultiChannel);
}

}  // namespace persam::kernels
#endif  // HWY_ONCE
