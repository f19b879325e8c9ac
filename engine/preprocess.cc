#include "engine/preprocess.h"

#include <algorithm>
#include <memory>
#include <string>

#include "kernels/resize.h"
#include "base/error.h"

namespace persam {
namespace {

void CheckImage(const RgbImage& image, const char* what) {
  if (image.height <= 0 || image.width <= 0 ||
      image.pixels.size() != size_t(image.height) * image.width * 3) {
    throw Error(std::string(what) + ": invalid image " + std::to_string(image.height) + " x " +
                std::to_string(image.width) + " with " + std::to_string(image.pixels.size()) +
                " bytes (expected height * width * 3)");
  }
}

}  // namespace

// ref: segment_anything/utils/transforms.py ResizeLongestSide.get_preprocess_shape
InputSize ResizedSize(int height, int width, int long_side) {
  if (height <= 0 || width <= 0 || long_side <= 0) {
    throw Error("ResizedSize: sizes must be positive, got " + std::to_string(height) + " x " +
                std::to_string(width) + " -> " + std::to_string(long_side));
  }
  const double scale = double(long_side) / std::max(height, width);
  InputSize size;
  size.height = static_cast<int>(height * scale + 0.5);
  size.width = static_cast<int>(width * scale + 0.5);
  return size;
}

// ref: segment_anything/utils/transforms.py ResizeLongestSide.apply_image
// (to_pil_image(image).resize(target_size[::-1]), BILINEAR by default).
RgbImage ResizeForModel(const RgbImage& image, int long_side) {
  CheckImage(image, "ResizeForModel");
  const InputSize size = ResizedSize(image.height, image.width, long_side);
  if (size.height < 1 || size.width < 1) {
    throw Error("ResizeForModel: a " + std::to_string(image.height) + " x " +
                std::to_string(image.width) + " image would be resized to " +
                std::to_string(size.height) + " x " + std::to_string(size.width));
  }
  RgbImage out;
  out.height = size.height;
  out.width = size.width;
  out.pixels.resize(size_t(size.height) * size.width * 3);
  kernels::ResizePillowBilinearU8(image.pixels.data(), image.height, image.width, 3,
                                  out.pixels.data(), size.height, size.width);
  return out;
}

// Takes the original image (or an already resized one: resizing to the same
// size is the identity, Pillow skips such passes).
// ref: segment_anything/predictor.py SamPredictor.set_image + modeling/sam.py
// Sam.preprocess: x = (x - pixel_mean) / pixel_std in float32, then F.pad with
// zeros on the right and bottom.
std::vector<float> PreprocessImage(const RgbImage& image, int long_side) {
  CheckImage(image, "PreprocessImage");
  const RgbImage resized = ResizeForModel(image, long_side);
  const float mean[3] = {123.675f, 116.28f, 103.53f};
  const float stdev[3] = {58.395f, 57.12f, 57.375f};
  // Every normalised value is one of 256 per channel: a table computed with
  // true division, as torch does (not multiplication by 1 / std), gives the
  // same floats as dividing each pixel.
  float table[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) table[c][v] = (static_cast<float>(v) - mean[c]) / stdev[c];
  }
  const size_t plane = size_t(long_side) * long_side;
  std::vector<float> out(3 * plane, 0.0f);  // the zeros right and below are F.pad's
  float* planes = out.data();
#pragma omp parallel for schedule(static) if (plane > (1 << 16))
  for (int y = 0; y < resized.height; ++y) {
    for (int c = 0; c < 3; ++c) {
      float* row = planes + c * plane + size_t(y) * long_side;
      const uint8_t* src = resized.pixels.data() + size_t(y) * resized.width * 3 + c;
      for (int x = 0; x < resized.width; ++x) row[x] = table[c][src[size_t(x) * 3]];
    }
  }
  return out;
}

// ref: segment_anything/modeling/sam.py Sam.postprocess_masks
void PostprocessMapsInto(const float* low_res, int count, int lh, int lw, int orig_h, int orig_w,
                         std::vector<float>* out_maps, int long_side) {
  // The reference resizes all `count` maps as one [1, count, h, w] tensor,
  // whose rounding depends on count (see kernels/resize.h).
  PostprocessMapsInto(low_res, count, lh, lw, orig_h, orig_w, out_maps,
                      count == 1 ? kernels::BilinearRounding::kTorchSingleChannel
                                 : kernels::BilinearRounding::kTorchMultiChannel,
                      long_side);
}

void PostprocessMapsInto(const float* low_res, int count, int lh, int lw, int orig_h, int orig_w,
                         std::vector<float>* out_maps, kernels::BilinearRounding rounding,
                         int long_side) {
  if (low_res == nullptr || count <= 0 || lh <= 0 || lw <= 0 || orig_h <= 0 || orig_w <= 0) {
    throw Error("PostprocessMaps: invalid arguments (count " + std::to_string(count) + ", " +
                std::to_string(lh) + " x " + std::to_string(lw) + " -> " +
                std::to_string(orig_h) + " x " + std::to_string(orig_w) + ")");
  }
  const InputSize input = ResizedSize(orig_h, orig_w, long_side);
  const size_t crop_plane = size_t(input.height) * input.width;
  const size_t out_plane = size_t(orig_h) * orig_w;
  if (out_maps == nullptr) throw Error("PostprocessMaps: null output");
  // Every element is written below, so only growth is zero-filled.
  out_maps->resize(out_plane * count);
  float* out = out_maps->data();
  // interpolate to long_side x long_side, then [..., :h, :w]: only the kept
  // window is computed, straight into a dense [count, h, w] buffer.
  // The second interpolate, to the original size, is an exact copy in torch
  // when the sizes already agree (every finite value and NaN keep their bits;
  // only +-inf would become NaN, which finite mask logits never are), so it
  // is skipped: e.g. any image whose long side is already long_side.
  if (input.height == orig_h && input.width == orig_w) {
    kernels::ResizeBilinearCrop(low_res, count, lh, lw, long_side, long_side, input.height,
                                input.width, out, rounding);
    return;
  }
  // Kept per thread across calls: the automatic mask generator
  // postprocesses thousands of single maps, and a fresh 4 MB buffer each
  // time is an mmap, a munmap and a thousand page faults.
  thread_local std::vector<float> crop;
  if (crop.size() < crop_plane * count) crop.resize(crop_plane * count);
  kernels::ResizeBilinearCrop(low_res, count, lh, lw, long_side, long_side, input.height,
                              input.width, crop.data(), rounding);
  kernels::ResizeBilinear(crop.data(), count, input.height, input.width, out, orig_h,
                          orig_w, rounding);
}

std::vector<float> PostprocessMaps(const float* low_res, int count, int lh, int lw, int orig_h,
                                   int orig_w, int long_side) {
  std::vector<float> out;
  PostprocessMapsInto(low_res, count, lh, lw, orig_h, orig_w, &out, long_side);
  return out;
}

}  // namespace persam
