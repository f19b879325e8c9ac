// Convolutions as im2col + GEMM, plus direct depthwise and transposed kernels.
// Activations are channel-last (HWC: [h * w, c]) unless the name says CHW.
#ifndef PERSAM_KERNELS_CONV_H_
#define PERSAM_KERNELS_CONV_H_

#include "kernels/gemm.h"

namespace persam::kernels {

// cols[oh * ow, c * kernel * kernel] in PyTorch weight order (c, ky, kx), from
// a CHW input; zero padding. oh = (h + 2 pad - kernel) / stride + 1.
void Im2ColChw(const float* chw, int c, int h, int w, int kernel, int stride,
               int pad, float* cols);
// (HWC inputs: Im2ColRows in kernels/conv_rows.h, column order (ky, kx, c).)

// Depthwise 3x3, stride 1, pad 1, HWC: out[y, x, ch] = bias[ch] +
// sum weight[ch, 0, ky, kx] * in[y + ky - 1, x + kx - 1, ch]. The whole-image
// case of DepthwiseConv3x3HwcRows (kernels/conv_rows.h), which documents the
// rounding; bias may be null.
void DepthwiseConv3x3Hwc(const float* in, int h, int w, int c, const float* weight,
                         const float* bias, float* out);

// ConvTranspose2d kernel 2 stride 2, weight [cin, cout, 2, 2] (PyTorch layout),
// HWC in [h, w, cin] -> HWC out [2h, 2w, cout].
PackedWeights PackConvTranspose2x2(const float* weight, int cin, int cout);
void ConvTranspose2x2Stride2Hwc(const float* in, int h, int w, int cin,
                                const PackedWeights& packed, const float* bias,
                                int cout, float* out);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_CONV_H_
