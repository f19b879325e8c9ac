// libFuzzer: bytes of any format through DecodeImage (JPEG, PNG, BMP, TGA,
// WebP and HEIF when built in, EXIF orientation) must give a consistent RGB
// image or a persam::Error: no crash, no out-of-bounds access, no
// allocation beyond what the header check allows.
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "engine/image.h"

// 4 Mpx (12 MB of RGB): big enough for every header path, small enough that
// a valid-looking bomb stays far below libFuzzer's -rss_limit_mb.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  persam::SetMaxImagePixels(uint64_t{1} << 22);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const persam::RgbImage image = persam::DecodeImage(data, size, "fuzz");
    if (image.height <= 0 || image.width <= 0 ||
        image.pixels.size() != size_t(image.height) * image.width * 3) {
      __builtin_trap();  // a decoder returned an inconsistent image
    }
  } catch (const persam::Error&) {
  }
  return 0;
}
