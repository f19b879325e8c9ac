// libFuzzer: JPEG marker segments through the EXIF orientation parser, which
// must answer 1..8 without reading past the input; the orientation found is
// applied to a small image (every transform must keep its pixels).
#include <cstddef>
#include <cstdint>

#include "engine/exif_orientation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int orientation = persam::JpegExifOrientation(data, size);
  if (orientation < 1 || orientation > 8) __builtin_trap();
  persam::RgbImage image;
  image.height = 3;
  image.width = 5;
  image.pixels.resize(3 * 5 * 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i);
  const persam::RgbImage out = persam::ApplyExifOrientation(image, orientation);
  if (out.pixels.size() != image.pixels.size() || out.height * out.width != 15) __builtin_trap();
  return 0;
}
