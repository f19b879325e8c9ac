// Pillow's bilinear resampler (kernels/resize.h), bit-exact with Pillow 9.x.
// Scalar on purpose: exactness depends on the order and precision of every
// integer operation, and it only runs once per image in preprocessing (a
// 1024 x 1024 x 3 resize is a few ms next to a seconds-long encoder).
#include "kernels/resize.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "base/error.h"

namespace persam::kernels {
namespace {

// Pillow's fixed point: 32 bits minus 8 for the pixel minus 2 for the
// overshoot of filters with negative lobes (Resample.c PRECISION_BITS).
constexpr int kPillowPrecisionBits = 22;

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
      const double f = v * (1 << kPillowPrecisionBits);
      k[x] = static_cast<int32_t>(v < 0 ? -0.5 + f : 0.5 + f);
    }
    taps.first[o] = lo;
    taps.count[o] = n;
  }
  return taps;
}

// Pillow's clip8: arithmetic shift (floor) then clamp to [0, 255].
inline uint8_t Clip8(int acc) {
  const int v = acc >> kPillowPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

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
  const int32_t kHalf = 1 << (kPillowPrecisionBits - 1);

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
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(last - first) * out_w > (1 << 16))
    for (int y = first; y < last; ++y) {
      const uint8_t* in_row = src + static_cast<size_t>(y) * in_w * C;
      uint8_t* out_row = temp.data() + static_cast<size_t>(y - first) * out_w * C;
      for (int ox = 0; ox < out_w; ++ox) {
        const int32_t* k = &horiz.weights[static_cast<size_t>(ox) * horiz.ksize];
        const uint8_t* px = in_row + static_cast<size_t>(horiz.first[ox]) * C;
        for (int c = 0; c < C; ++c) {
          int32_t acc = kHalf;
          for (int t = 0; t < horiz.count[ox]; ++t) acc += px[t * C + c] * k[t];
          out_row[ox * C + c] = Clip8(acc);
        }
      }
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
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(out_h) * out_w > (1 << 16))
  for (int oy = 0; oy < out_h; ++oy) {
    const int32_t* k = &vert.weights[static_cast<size_t>(oy) * vert.ksize];
    const uint8_t* base = rows + static_cast<size_t>(vert.first[oy] - row_offset) * row_len;
    uint8_t* out_row = dst + static_cast<size_t>(oy) * row_len;
    for (size_t i = 0; i < row_len; ++i) {
      int32_t acc = kHalf;
      for (int t = 0; t < vert.count[oy]; ++t) acc += base[t * row_len + i] * k[t];
      out_row[i] = Clip8(acc);
    }
  }
}

}  // namespace persam::kernels
