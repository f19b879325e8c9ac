// Bit-exact resamplers (kernels/resize.h). Scalar on purpose: exactness
// depends on the order and precision of every operation, and both are cheap
// next to the encoder (a 1024 x 1024 x 3 Pillow resize is a few ms).
//
// This TU is compiled for the x86-64-v2 baseline only (no FMA), so the
// compiler cannot contract a * b + c behind our back; where torch's kernel
// fuses (GCC contracts its float loop) we call std::fma explicitly.
#include "kernels/resize.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "weights/error.h"

namespace persam::kernels {
namespace {

void CheckSizes(const char* what, int in_h, int in_w, int out_h, int out_w) {
  if (in_h <= 0 || in_w <= 0 || out_h <= 0 || out_w <= 0) {
    throw Error(std::string(what) + ": sizes must be positive, got input " +
                std::to_string(in_h) + "x" + std::to_string(in_w) + ", output " +
                std::to_string(out_h) + "x" + std::to_string(out_w));
  }
}

// One output coordinate of PyTorch's linear interpolation along one axis.
struct LinearTap {
  int i0, i1;
  float w0, w1;
};

// ref: aten/src/ATen/native/UpSample.h area_pixel_compute_scale /
// area_pixel_compute_source_index, cpu/UpSampleKernel.cpp (align_corners=
// False, no scale_factor). Matched against Debian's torch 1.13 by probing
// unit impulses: the ratio is float(in) / out in float; the source index
// float_ratio * (dst + 0.5) - 0.5 is evaluated in double and clamped at 0,
// i0 = floor, lambda1 = float(src - i0) (from the double, not from a float
// src: that loses ~1e-4 near src ~ 600), lambda0 = 1 - lambda1 in float.
// An axis whose size does not change is copied (weights 1 / 0).
std::vector<LinearTap> LinearTaps(int in, int out) {
  std::vector<LinearTap> taps(out);
  const float ratio = static_cast<float>(in) / static_cast<float>(out);
  for (int o = 0; o < out; ++o) {
    LinearTap& t = taps[o];
    if (in == out) {
      t = {o, o, 1.0f, 0.0f};
      continue;
    }
    double src = static_cast<double>(ratio) * (o + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    t.i0 = std::min(static_cast<int>(src), in - 1);
    t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
    t.w1 = static_cast<float>(std::min(std::max(src - t.i0, 0.0), 1.0));
    t.w0 = 1.0f - t.w1;
  }
  return taps;
}

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

void ResizeBilinear(const float* src, int planes, int in_h, int in_w, float* dst,
                    int out_h, int out_w) {
  ResizeBilinear(src, planes, in_h, in_w, dst, out_h, out_w,
                 planes == 1 ? BilinearRounding::kTorchSingleChannel
                             : BilinearRounding::kTorchMultiChannel);
}

void ResizeBilinear(const float* src, int planes, int in_h, int in_w, float* dst,
                    int out_h, int out_w, BilinearRounding rounding) {
  CheckSizes("ResizeBilinear", in_h, in_w, out_h, out_w);
  if (planes < 0) throw Error("ResizeBilinear: planes must be >= 0");
  const std::vector<LinearTap> ty = LinearTaps(in_h, out_h);
  const std::vector<LinearTap> tx = LinearTaps(in_w, out_w);
  const int64_t in_plane = static_cast<int64_t>(in_h) * in_w;
  const int64_t out_plane = static_cast<int64_t>(out_h) * out_w;
  const bool single_channel = rounding == BilinearRounding::kTorchSingleChannel;
#pragma omp parallel for collapse(2) schedule(static) if (planes * out_plane > (1 << 18))
  for (int p = 0; p < planes; ++p) {
    for (int oy = 0; oy < out_h; ++oy) {
      const LinearTap& y = ty[oy];
      const float* row0 = src + p * in_plane + static_cast<int64_t>(y.i0) * in_w;
      const float* row1 = src + p * in_plane + static_cast<int64_t>(y.i1) * in_w;
      float* out = dst + p * out_plane + static_cast<int64_t>(oy) * out_w;
      for (int ox = 0; ox < out_w; ++ox) {
        const LinearTap& x = tx[ox];
        // torch 1.13's two kernels (resize.h), matched bit for bit by
        // probing (64->256, 256->1024, 783x1024->977x1277, 5x7->11x13, ...).
        float v;
        if (single_channel) {
          // Channels-last kernel: weight products in float, the 4-term sum
          // effectively in double, rounded once.
          const float w00 = y.w0 * x.w0, w01 = y.w0 * x.w1;
          const float w10 = y.w1 * x.w0, w11 = y.w1 * x.w1;
          v = static_cast<float>(double(row0[x.i0]) * w00 + double(row0[x.i1]) * w01 +
                                 double(row1[x.i0]) * w10 + double(row1[x.i1]) * w11);
        } else {
          // Generic kernel: per row fma(t0, w0, t1 * w1), then the same
          // across the two rows (GCC contracts torch's float loop).
          const float r0 = std::fma(row0[x.i0], x.w0, row0[x.i1] * x.w1);
          const float r1 = std::fma(row1[x.i0], x.w0, row1[x.i1] * x.w1);
          v = std::fma(r0, y.w0, r1 * y.w1);
        }
        out[ox] = v;
      }
    }
  }
}

void ResizePillowBilinearU8(const uint8_t* src, int in_h, int in_w, int channels,
                            uint8_t* dst, int out_h, int out_w) {
  CheckSizes("ResizePillowBilinearU8", in_h, in_w, out_h, out_w);
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
