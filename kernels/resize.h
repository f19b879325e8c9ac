// Image and map resampling that reproduces the reference bit for bit.
#ifndef PERSAM_KERNELS_RESIZE_H_
#define PERSAM_KERNELS_RESIZE_H_

#include <cstdint>

namespace persam::kernels {

// PyTorch interpolate(mode="bilinear", align_corners=False, antialias=False)
// on `planes` float maps [planes, in_h, in_w] -> [planes, out_h, out_w],
// reproducing torch 1.13's CPU rounding bit for bit: torch runs a tensor
// with one channel through its channels-last kernel (products and sums
// effectively in double, one rounding) and others through its generic
// kernel (fused multiply-adds in float). planes == 1 selects the former,
// planes > 1 the latter, i.e. pass planes = C for a [1, C, H, W] tensor;
// for [N, 1, H, W] with N > 1, call once per plane.
void ResizeBilinear(const float* src, int planes, int in_h, int in_w, float* dst,
                    int out_h, int out_w);

// Pillow (9.x) Image.resize(BILINEAR) on interleaved uint8 images
// [h, w, channels]: antialiased triangle filter, 22-bit fixed point,
// horizontal pass then vertical pass with a uint8 intermediate.
void ResizePillowBilinearU8(const uint8_t* src, int in_h, int in_w, int channels,
                            uint8_t* dst, int out_h, int out_w);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_RESIZE_H_
