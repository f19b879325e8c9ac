// Row-banded convolution helpers for channel-last (HWC) activations.
//
// Why bands: MobileSAM's stage 0 expands 256 x 256 x 64 to 256 x 256 x 256
// (64 MB per map); processing a band of output rows at a time keeps those
// intermediates a few MB (cache resident, and peak RSS low). The helpers here
// therefore take an output row range and read their input through a row
// offset, so the input may itself be a band of a larger (logical) image.
#ifndef PERSAM_KERNELS_CONV_ROWS_H_
#define PERSAM_KERNELS_CONV_ROWS_H_

#include <cstdint>
#include <vector>

#include "kernels/gemm.h"

namespace persam::kernels {

// Output size of a conv along one axis: (in + 2 pad - kernel) / stride + 1.
inline int ConvOutSize(int in, int kernel, int stride, int pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

// im2col of a k x k convolution (zero padding `pad`, stride `stride`) for the
// output rows [oy_begin, oy_end). Input pixel (y, x), channel ch is read at
// in[((y - in_row_begin) * w + x) * pixel_stride + ch * channel_stride], so the
// same function serves HWC (pixel_stride = c, channel_stride = 1) and CHW
// (1, h * w) inputs, and `in` may hold only a band of rows starting at
// in_row_begin (only rows [oy_begin * stride - pad, (oy_end - 1) * stride -
// pad + kernel) ∩ [0, h) are read).
// cols[(oy - oy_begin) * ow + ox, (ky * k + kx) * c + ch]: the column order is
// (ky, kx, ch) (contiguous channel copies for HWC), NOT PyTorch's (ch, ky, kx);
// reorder the weights once with PermuteConvWeightKkc. Exact (copies only).
// Threads: OpenMP over output rows.
void Im2ColRows(const float* in, int in_row_begin, int h, int w, int c, int64_t pixel_stride,
                int64_t channel_stride, int kernel, int stride, int pad,
                int oy_begin, int oy_end, float* cols);

// PyTorch conv weight [cout, cin, k, k] -> [cout, k, k, cin] (the column order
// of Im2ColRows).
std::vector<float> PermuteConvWeightKkc(const float* weight, int cout, int cin,
                                        int kernel);

// Depthwise 3x3 convolution, padding 1, stride 1 or 2, HWC, for the output
// rows [oy_begin, oy_end) (ow = (w - 1) / stride + 1):
//   out[(oy - oy_begin) * ow + ox, ch] = act(bias[ch] + sum_{ky, kx}
//       weight[ch * 9 + ky * 3 + kx] * in(oy * stride + ky - 1, ox * stride + kx - 1, ch))
// Input row y (0 <= y < h) is read from in + (y - in_row_begin) * w * c; rows
// and columns outside the image are zero. Only rows
// [oy_begin * stride - 1, (oy_end - 1) * stride + 1] ∩ [0, h) are read.
// weight: PyTorch layout [c, 1, 3, 3]; bias may be null. act: kNone, kGelu
// (exact erf, kernels::Gelu) or kRelu. Float32 lanes; the 9 products are
// accumulated with FMA in (ky, kx) order, so the result differs from a plain
// sum by at most ~9 ulp of the largest |term| sum. Threads: OpenMP over rows.
void DepthwiseConv3x3HwcRows(const float* in, int in_row_begin, int h, int w,
                             int c, int stride, const float* weight,
                             const float* bias, Epilogue act, int oy_begin,
                             int oy_end, float* out);

// out[c, r] = in[r, c] for a row-major [rows, cols] matrix (e.g. HWC -> CHW).
void TransposeMatrix(const float* in, int64_t rows, int64_t cols, float* out);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_CONV_ROWS_H_
