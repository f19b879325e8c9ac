// WebP through libwebp when the build has it (meson -Dwebp=auto|enabled).
// As cv2.imread(IMREAD_COLOR): alpha dropped, not blended; animations
// refused (OpenCV reads none either).
#include "base/error.h"
#include "engine/image_formats.h"

#if PERSAM_HAVE_WEBP
#include <webp/decode.h>
#endif

namespace persam {

bool WebpBuiltIn() { return PERSAM_HAVE_WEBP != 0; }

RgbImage DecodeWebp(const uint8_t* data, size_t size, const std::string& name) {
#if PERSAM_HAVE_WEBP
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status != VP8_STATUS_OK) {
    throw Error("image '" + name + "': WebP header is invalid (libwebp status " +
                std::to_string(static_cast<int>(status)) + ")");
  }
  if (features.has_animation) {
    throw Error("image '" + name + "': animated WebP is not supported; expected a still image");
  }
  CheckImageSize(name, "WebP", static_cast<uint64_t>(features.width), static_cast<uint64_t>(features.height));
  RgbImage image;
  image.width = features.width;
  image.height = features.height;
  image.pixels.resize(size_t(image.width) * image.height * 3);
  if (!WebPDecodeRGBInto(data, size, image.pixels.data(), image.pixels.size(), image.width * 3)) {
    throw Error("image '" + name + "': cannot decode WebP (data cut or corrupt)");
  }
  return image;
#else
  (void)data;
  (void)size;
  ThrowNotBuiltIn(name, "WebP", "libwebp-dev", "webp");
#endif
}

}  // namespace persam
