// Pillow's bilinear resampler (kernels/resize.h), bit-exact with Pillow 9.x.
// Integer arithmetic: exactness depends on the precision of every integer
// operation, not on the order of the sums (they are exact: |acc| < 2^31, the
// weights sum to ~2^22 and pixels are < 2^8). The taps are computed in double
// in the non-target part (one code path, as Pillow); the passes are
// per-target: the vertical one along the row with taps outer, the horizontal
// one with the three channels of an RGB pixel in one vector.
// A 2048 x 1365 photo to 1024 x 683 took ~14 ms of `persam segment`'s
// preprocessing on 2 cores with the scalar passes.
#include "kernels/resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/hwy_target.h"  // first: target policy

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/resize_pillow.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/hwy_target.h"

#ifndef PERSAM_KERNELS_RESIZE_PILLOW_ONCE_
#define PERSAM_KERNELS_RESIZE_PILLOW_ONCE_
namespace persam::kernels::pillow {

// Pillow's fixed point: 32 bits minus 8 for the pixel minus 2 for the
// overshoot of filters with negative lobes (Resample.c PRECISION_BITS).
constexpr int kPrecisionBits = 22;
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

// Pillow's clip8: arithmetic shift (floor) then clamp to [0, 255].
inline uint8_t Clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace persam::kernels::pillow
#endif  // PERSAM_KERNELS_RESIZE_PILLOW_ONCE_

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace {

// Horizontal pass over rows [y0, y1) of `src` ([h, in_w, channels]) into
// `out` (row y at (y - y0)): output pixel ox sums taps [0, count[ox]) from
// source pixel first[ox], each channel separately.
void PillowHorizontalRowsT(const uint8_t* src, int in_w, int channels, int y0, int y1, int out_w,
                           const int* first, const int* count, const int32_t* weights, int ksize,
                           uint8_t* out) {
  const int C = channels;
  for (int y = y0; y < y1; ++y) {
    const uint8_t* in_row = src + static_cast<size_t>(y) * in_w * C;
    uint8_t* out_row = out + static_cast<size_t>(y - y0) * out_w * C;
    int ox = 0;
    if (C == 3) {
      // RGB: the pixel's 3 channels (and the next pixel's first byte, weight
      // unused) in one 4-lane int32 vector: a 4-byte load per tap, so only
      // while the last tap's pixel is not the row's last.
      const hn::FixedTag<int32_t, 4> d;
      const hn::FixedTag<uint8_t, 4> d8;
      alignas(16) int32_t lanes[4];
      for (; ox < out_w && first[ox] + count[ox] < in_w; ++ox) {
        const int32_t* k = weights + static_cast<size_t>(ox) * ksize;
        const uint8_t* px = in_row + static_cast<size_t>(first[ox]) * 3;
        auto acc = hn::Set(d, pillow::kHalf);
        for (int t = 0; t < count[ox]; ++t) {
          const auto p = hn::PromoteTo(d, hn::LoadU(d8, px + 3 * t));
          acc = hn::Add(acc, hn::Mul(p, hn::Set(d, k[t])));
        }
        hn::Store(acc, d, lanes);
        for (int c = 0; c < 3; ++c) out_row[ox * 3 + c] = pillow::Clip8(lanes[c]);
      }
    }
    for (; ox < out_w; ++ox) {
      const int32_t* k = weights + static_cast<size_t>(ox) * ksize;
      const uint8_t* px = in_row + static_cast<size_t>(first[ox]) * C;
      for (int c = 0; c < C; ++c) {
        int32_t acc = pillow::kHalf;
        for (int t = 0; t < count[ox]; ++t) acc += px[t * C + c] * k[t];
        out_row[ox * C + c] = pillow::Clip8(acc);
      }
    }
  }
}

// Vertical pass, output rows [oy0, oy1): row oy sums taps [0, count[oy]) of
// rows from first[oy] - row_offset of `rows` (each row_len bytes), taps
// outer so that the inner loop runs along the row. `acc`: row_len int32s.
void PillowVerticalRowsT(const uint8_t* rows, size_t row_len, int row_offset, int oy0, int oy1,
                         const int* first, const int* count, const int32_t* weights, int ksize,
                         int32_t* HWY_RESTRICT acc, uint8_t* dst) {
  const hn::ScalableTag<int32_t> d;
  const hn::Rebind<uint8_t, decltype(d)> d8;
  const size_t N = hn::Lanes(d);
  for (int oy = oy0; oy < oy1; ++oy) {
    const int32_t* k = weights + static_cast<size_t>(oy) * ksize;
    const uint8_t* base = rows + static_cast<size_t>(first[oy] - row_offset) * row_len;
    std::fill(acc, acc + row_len, pillow::kHalf);
    for (int t = 0; t < count[oy]; ++t) {
      const uint8_t* HWY_RESTRICT in = base + static_cast<size_t>(t) * row_len;
      const auto w = hn::Set(d, k[t]);
      size_t i = 0;
      for (; i + N <= row_len; i += N) {
        const auto p = hn::PromoteTo(d, hn::LoadU(d8, in + i));
        hn::StoreU(hn::Add(hn::LoadU(d, acc + i), hn::Mul(p, w)), d, acc + i);
      }
      for (; i < row_len; ++i) acc[i] += in[i] * k[t];
    }
    uint8_t* out_row = dst + static_cast<size_t>(oy) * row_len;
    for (size_t i = 0; i < row_len; ++i) out_row[i] = pillow::Clip8(acc[i]);
  }
}

}  // namespace
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam::kernels {
namespace {

// Filter taps of one axis as Pillow's precompute_coeffs computes them for the
// triangle filter (support 1) over the box [0, in): all in double, the
// support widened by the downscale factor, the window bounds rounded by
// truncating center -+ support + 0.5, weights normalised to sum 1, then
// converted to 22-bit fixed point rounding half away from zero.
struct PillowTaps {
  int ksize = 0;
  std::vector<int> first;  // first source index of each output
  std::vector<int> count;  // number of taps of each output
  std::vector<int32_t> weights;  // [out, ksize]
};

PillowTaps PillowBilinearTaps(int in, int out) {
  PillowTaps taps;
  const double scale = static_cast<double>(in) / out;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  taps.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.first.resize(out);
  taps.count.resize(out);
  taps.weights.assign(static_cast<size_t>(out) * taps.ksize, 0);
  std::vector<double> w(taps.ksize);
  for (int o = 0; o < out; ++o) {
    const double center = (o + 0.5) * scale;
    const double inv = 1.0 / filterscale;
    int lo = static_cast<int>(center - support + 0.5);  // truncation, as C's (int)
    if (lo < 0) lo = 0;
    int hi = static_cast<int>(center + support + 0.5);
    if (hi > in) hi = in;
    const int n = hi - lo;
    double sum = 0.0;
    for (int x = 0; x < n; ++x) {
      const double t = std::fabs((x + lo - center + 0.5) * inv);
      w[x] = t < 1.0 ? 1.0 - t : 0.0;
      sum += w[x];
    }
    int32_t* k = &taps.weights[static_cast<size_t>(o) * taps.ksize];
    for (int x = 0; x < n; ++x) {
      const double v = sum != 0.0 ? w[x] / sum : w[x];
      const double f = v * (1 << pillow::kPrecisionBits);
      k[x] = static_cast<int32_t>(v < 0 ? -0.5 + f : 0.5 + f);
    }
    taps.first[o] = lo;
    taps.count[o] = n;
  }
  return taps;
}

HWY_EXPORT(PillowHorizontalRowsT);
HWY_EXPORT(PillowVerticalRowsT);

}  // namespace

void ResizePillowBilinearU8(const uint8_t* src, int in_h, int in_w, int channels,
                            uint8_t* dst, int out_h, int out_w) {
  if (in_h <= 0 || in_w <= 0 || out_h <= 0 || out_w <= 0) {
    throw Error("ResizePillowBilinearU8: sizes must be positive, got input " +
                std::to_string(in_h) + "x" + std::to_string(in_w) + ", output " +
                std::to_string(out_h) + "x" + std::to_string(out_w));
  }
  if (channels <= 0) throw Error("ResizePillowBilinearU8: channels must be > 0");
  const int C = channels;
  const PillowTaps vert = PillowBilinearTaps(in_h, out_h);

  // Horizontal pass over only the source rows the vertical pass reads
  // (Pillow's ybox_first / ybox_last), into a uint8 intermediate.
  const uint8_t* rows = src;  // [rows_h, rows_w, C]
  int rows_w = in_w;
  int row_offset = 0;  // source row of rows[0]
  std::vector<uint8_t> temp;
  if (out_w != in_w) {
    const PillowTaps horiz = PillowBilinearTaps(in_w, out_w);
    const int first = vert.first[0];
    const int last = vert.first[out_h - 1] + vert.count[out_h - 1];
    temp.resize(static_cast<size_t>(last - first) * out_w * C);
    const int64_t band = 16;  // rows per parallel task
    const int64_t bands = (last - first + band - 1) / band;
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(last - first) * out_w > (1 << 16))
    for (int64_t b = 0; b < bands; ++b) {
      const int y0 = first + static_cast<int>(b * band);
      const int y1 = std::min<int>(last, y0 + static_cast<int>(band));
      HWY_DYNAMIC_DISPATCH(PillowHorizontalRowsT)(src, in_w, C, y0, y1, out_w, horiz.first.data(),
                                                  horiz.count.data(), horiz.weights.data(), horiz.ksize,
                                                  temp.data() + static_cast<size_t>(y0 - first) * out_w * C);
    }
    rows = temp.data();
    rows_w = out_w;
    row_offset = first;
  }

  if (out_h == in_h) {  // vertical pass skipped: the intermediate is the result
    std::copy(rows, rows + static_cast<size_t>(out_h) * rows_w * C, dst);
    return;
  }
  const size_t row_len = static_cast<size_t>(rows_w) * C;
#pragma omp parallel if (static_cast<int64_t>(out_h) * out_w > (1 << 16))
  {
    std::vector<int32_t> acc(row_len);  // one output row's sums
#pragma omp for schedule(static)
    for (int oy = 0; oy < out_h; ++oy) {
      HWY_DYNAMIC_DISPATCH(PillowVerticalRowsT)(rows, row_len, row_offset, oy, oy + 1, vert.first.data(),
                                                vert.count.data(), vert.weights.data(), vert.ksize, acc.data(),
                                                dst);
    }
  }
}

}  // namespace persam::kernels
#endif  // HWY_ONCE
