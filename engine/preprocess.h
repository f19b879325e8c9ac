// SAM's input transform (REFERENCE.md section 1) and mask postprocessing
// (section 6).
#ifndef PERSAM_ENGINE_PREPROCESS_H_
#define PERSAM_ENGINE_PREPROCESS_H_

#include <cstdint>
#include <vector>

#include "engine/image.h"
#include "kernels/resize.h"

namespace persam {

// Size after ResizeLongestSide(1024): scale = 1024 / max(h, w),
// new = int(old * scale + 0.5) in double precision.
struct InputSize {
  int height = 0;
  int width = 0;
};
InputSize ResizedSize(int height, int width, int long_side = 1024);

// Pillow-bilinear resize to ResizedSize (uint8 HWC).
RgbImage ResizeForModel(const RgbImage& image, int long_side = 1024);

// Normalised (mean/std), zero padded to 1024 x 1024, CHW float [3, 1024, 1024].
std::vector<float> PreprocessImage(const RgbImage& image, int long_side = 1024);

// Low-res maps [count, lh, lw] (256 x 256 for masks) -> bilinear to 1024 x 1024
// -> crop to the resized input size -> bilinear to the original size
// [count, orig_h, orig_w].
std::vector<float> PostprocessMaps(const float* low_res, int count, int lh, int lw,
                                   int orig_h, int orig_w, int long_side = 1024);
// The same into `out`, resized to [count, orig_h, orig_w]: a caller that
// keeps `out` across queries (a 1024 x 1024 image with 3 masks is 12 MB)
// saves the fresh allocation's zero fill and page faults, ~1.3 ms per call,
// more than the resize itself on two threads.
void PostprocessMapsInto(const float* low_res, int count, int lh, int lw, int orig_h, int orig_w,
                         std::vector<float>* out, int long_side = 1024);
// The same with torch's rounding named: a caller that postprocesses the maps
// of one [N, C > 1, h, w] tensor one at a time (the automatic mask
// generator's batches) passes kTorchMultiChannel even for a single map.
void PostprocessMapsInto(const float* low_res, int count, int lh, int lw, int orig_h, int orig_w,
                         std::vector<float>* out, kernels::BilinearRounding rounding,
                         int long_side = 1024);

}  // namespace persam

#endif  // PERSAM_ENGINE_PREPROCESS_H_
