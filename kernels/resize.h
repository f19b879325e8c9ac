// Image and map resampling that reproduces the reference bit for bit.
#ifndef PERSAM_KERNELS_RESIZE_H_
#define PERSAM_KERNELS_RESIZE_H_

#include <cstdint>

namespace persam::kernels {

// PyTorch interpolate(mode="bilinear", align_corners=False, antialias=False)
// on `planes` float maps [planes, in_h, in_w] -> [planes, out_h, out_w],
// reproducing torch 1.13's CPU results bit for bit. torch has two kernels
// that round differently: a [N, C, H, W] input with C == 1 (contiguous or a
// cropped view) goes through its channels-last kernel, C > 1 through its
// generic kernel. Say which with `rounding`.
enum class BilinearRounding {
  kTorchSingleChannel,  // the input tensor has C == 1
  kTorchMultiChannel,   // the input tensor has C > 1 (e.g. SAM's 3 masks)
};
void ResizeBilinear(const float* src, int planes, int in_h, int in_w, float* dst,
                    int out_h, int out_w, BilinearRounding rounding);
// The same with rounding = planes == 1 ? kTorchSingleChannel :
// kTorchMultiChannel (right for [1, C, H, W] passed whole; a caller looping
// over the C > 1 channels of one tensor must pass kTorchMultiChannel).
void ResizeBilinear(const float* src, int planes, int in_h, int in_w, float* dst,
                    int out_h, int out_w);
// The top-left crop_h x crop_w window of the in -> out_h x out_w resize,
// written densely as [planes, crop_h, crop_w]: bit for bit the values of
// resizing fully then cropping (SAM's postprocessing crops the padding away),
// without computing the rest. Requires 1 <= crop_h <= out_h, 1 <= crop_w <=
// out_w. Vectorised (Highway, every lane runs torch's scalar formula) and
// threaded over output rows.
void ResizeBilinearCrop(const float* src, int planes, int in_h, int in_w, int out_h, int out_w,
                        int crop_h, int crop_w, float* dst, BilinearRounding rounding);

// Pillow (9.x) Image.resize(BILINEAR) on interleaved uint8 images
// [h, w, channels]: antialiased triangle filter, 22-bit fixed point,
// horizontal pass then vertical pass with a uint8 intermediate.
void ResizePillowBilinearU8(const uint8_t* src, int in_h, int in_w, int channels,
                            uint8_t* dst, int out_h, int out_w);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_RESIZE_H_
