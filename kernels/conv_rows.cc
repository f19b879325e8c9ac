// Row-banded convolution helpers (kernels/conv_rows.h). The depthwise kernel
// is compiled per Highway target and dispatched once per call.
#include "kernels/hwy_target.h"  // first: the target policy
#include "kernels/conv_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>


#include "kernels/ops.h"
#include "kernels/transpose_block.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/conv_rows.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/hwy_target.h"  // again: per-target shims

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One output row. `wt` is the weight transposed to [9, c] so that a tap's
// weights for consecutive channels are one vector load.
void DepthwiseRow(const float* in, int in_row_begin, int h, int w, int c,
                  int stride, const float* wt, const float* bias, int oy,
                  int ow, float* out) {
  const hn::ScalableTag<float> d;
  const int N = static_cast<int>(hn::Lanes(d));
  const int64_t row_stride = static_cast<int64_t>(w) * c;
  const float* rows[3];
  for (int ky = 0; ky < 3; ++ky) {
    const int y = oy * stride + ky - 1;
    rows[ky] = (y < 0 || y >= h) ? nullptr : in + (y - in_row_begin) * row_stride;
  }
  for (int ox = 0; ox < ow; ++ox) {
    float* o = out + static_cast<int64_t>(ox) * c;
    const int x0 = ox * stride - 1;
    int ch = 0;
    for (; ch + N <= c; ch += N) {
      auto acc = bias ? hn::LoadU(d, bias + ch) : hn::Zero(d);
      for (int ky = 0; ky < 3; ++ky) {
        if (rows[ky] == nullptr) continue;
        for (int kx = 0; kx < 3; ++kx) {
          const int x = x0 + kx;
          if (x < 0 || x >= w) continue;
          acc = hn::MulAdd(hn::LoadU(d, wt + (ky * 3 + kx) * c + ch),
                           hn::LoadU(d, rows[ky] + static_cast<int64_t>(x) * c + ch), acc);
        }
      }
      hn::StoreU(acc, d, o + ch);
    }
    for (; ch < c; ++ch) {  // channel tail (c not a multiple of the lanes)
      float acc = bias ? bias[ch] : 0.0f;
      for (int ky = 0; ky < 3; ++ky) {
        if (rows[ky] == nullptr) continue;
        for (int kx = 0; kx < 3; ++kx) {
          const int x = x0 + kx;
          if (x < 0 || x >= w) continue;
          acc = std::fma(wt[(ky * 3 + kx) * c + ch], rows[ky][static_cast<int64_t>(x) * c + ch], acc);
        }
      }
      o[ch] = acc;
    }
  }
}

void DepthwiseConv3x3HwcRowsT(const float* in, int in_row_begin, int h, int w,
                              int c, int stride, const float* wt,
                              const float* bias, Epilogue act, int oy_begin,
                              int oy_end, float* out) {
  const int ow = (w - 1) / stride + 1;
  const int64_t out_row = static_cast<int64_t>(ow) * c;
#pragma omp parallel for schedule(static)
  for (int oy = oy_begin; oy < oy_end; ++oy) {
    float* o = out + (oy - oy_begin) * out_row;
    DepthwiseRow(in, in_row_begin, h, w, c, stride, wt, bias, oy, ow, o);
    // The row was just written: the activation pass runs from L1/L2.
    if (act == Epilogue::kGelu) Gelu(o, static_cast<size_t>(out_row));
    if (act == Epilogue::kRelu) Relu(o, static_cast<size_t>(out_row));
  }
}

}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam::kernels {

HWY_EXPORT(DepthwiseConv3x3HwcRowsT);

void DepthwiseConv3x3HwcRows(const float* in, int in_row_begin, int h, int w,
                             int c, int stride, const float* weight,
                             const float* bias, Epilogue act, int oy_begin,
                             int oy_end, float* out) {
  if (oy_end <= oy_begin) return;
  std::vector<float> wt(static_cast<size_t>(9) * c);
  for (int ch = 0; ch < c; ++ch) {
    for (int t = 0; t < 9; ++t) wt[static_cast<size_t>(t) * c + ch] = weight[ch * 9 + t];
  }
  HWY_DYNAMIC_DISPATCH(DepthwiseConv3x3HwcRowsT)
  (in, in_row_begin, h, w, c, stride, wt.data(), bias, act, oy_begin, oy_end, out);
}

void Im2ColRows(const float* in, int in_row_begin, int h, int w, int c, int64_t pixel_stride,
                int64_t channel_stride, int kernel, int stride, int pad,
                int oy_begin, int oy_end, float* cols) {
  const int ow = ConvOutSize(w, kernel, stride, pad);
  const int64_t ncols = static_cast<int64_t>(kernel) * kernel * c;
  const bool contiguous = channel_stride == 1;
#pragma omp parallel for schedule(static)
  for (int oy = oy_begin; oy < oy_end; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      float* dst = cols + (static_cast<int64_t>(oy - oy_begin) * ow + ox) * ncols;
      for (int ky = 0; ky < kernel; ++ky) {
        const int y = oy * stride + ky - pad;
        for (int kx = 0; kx < kernel; ++kx, dst += c) {
          const int x = ox * stride + kx - pad;
          if (y < 0 || y >= h || x < 0 || x >= w) {
            std::memset(dst, 0, sizeof(float) * c);
            continue;
          }
          const float* src =
              in + (static_cast<int64_t>(y - in_row_begin) * w + x) * pixel_stride;
          if (contiguous) {
            std::memcpy(dst, src, sizeof(float) * c);
          } else {
            for (int ch = 0; ch < c; ++ch) dst[ch] = src[ch * channel_stride];
          }
        }
      }
    }
  }
}

std::vector<float> PermuteConvWeightKkc(const float* weight, int cout, int cin,
                                        int kernel) {
  const int kk = kernel * kernel;
  std::vector<float> out(static_cast<size_t>(cout) * kk * cin);
  for (int o = 0; o < cout; ++o) {
    for (int ch = 0; ch < cin; ++ch) {
      for (int t = 0; t < kk; ++t) {
        out[(static_cast<size_t>(o) * kk + t) * cin + ch] =
            weight[(static_cast<size_t>(o) * cin + ch) * kk + t];
      }
    }
  }
  return out;
}

void TransposeMatrix(const float* in, int64_t rows, int64_t cols, float* out) {
  const int64_t rows4 = rows & ~int64_t{3}, cols4 = cols & ~int64_t{3};
  // 4 x 4 register blocks inside tiles. Which side is walked contiguously
  // matters more than the tile size: with power-of-two strides (4096 floats =
  // 16 KiB) the strided side lands in one cache set, so only 4 of its lines
  // are live at a time (4096 x 256 and 256 x 4096: ~0.3 ms, 3-10x faster than
  // scalar 32 x 32 tiles).
  const bool tall = rows >= cols;
  const int64_t tile = tall ? 64 : 16;
  const int64_t row_tiles = (rows4 + tile - 1) / tile;
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t rt = 0; rt < row_tiles; ++rt) {
    const int64_t r0 = rt * tile, r1 = std::min(rows4, r0 + tile);
    for (int64_t c0 = 0; c0 < cols4; c0 += tile) {
      const int64_t c1 = std::min(cols4, c0 + tile);
      if (tall) {
        for (int64_t c = c0; c < c1; c += 4)
          for (int64_t r = r0; r < r1; r += 4) TransposeBlock4(in + r * cols + c, cols, out + c * rows + r, rows);
      } else {
        for (int64_t r = r0; r < r1; r += 4)
          for (int64_t c = c0; c < c1; c += 4) TransposeBlock4(in + r * cols + c, cols, out + c * rows + r, rows);
      }
    }
    // Columns past the last multiple of 4 in these rows.
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = cols4; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
  }
  // Rows past the last multiple of 4.
  for (int64_t r = rows4; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

}  // namespace persam::kernels
#endif  // HWY_ONCE
