// HEIF/HEIC (and AVIF) through libheif: the code of the HEIF module
// (engine/heif_module.h). The primary image, with the file's own rotation,
// mirroring and crop applied (HEIF's counterpart of EXIF orientation);
// 10/12-bit images reduced to 8 bits; alpha dropped. OpenCV reads no HEIF,
// so there is no reference behaviour to match beyond "upright RGB".
#include <libheif/heif.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "base/error.h"
#include "engine/heif_module.h"

namespace persam {
namespace {

void Check(const heif_error& error, const std::string& name, const char* what) {
  if (error.code != heif_error_Ok) {
    throw Error("image '" + name + "': HEIF " + what + " (" + error.message + ")");
  }
}

RgbImage DecodeHeifWithLibheif(const uint8_t* data, size_t size, const std::string& name, uint64_t max_pixels,
                               ImageSizeCheck check_size) {
  std::unique_ptr<heif_context, void (*)(heif_context*)> ctx(heif_context_alloc(), &heif_context_free);
  if (!ctx) throw Error("image '" + name + "': cannot create a HEIF decoder");
  // libheif's own bound is a square's side; ours, checked below, the area.
  if (max_pixels != 0) {
    heif_context_set_maximum_image_size_limit(
        ctx.get(), static_cast<int>(std::min<double>(std::ceil(std::sqrt(double(max_pixels))), 1 << 30)));
  }
  Check(heif_context_read_from_memory_without_copy(ctx.get(), data, size, nullptr), name, "file is invalid");
  heif_image_handle* raw_handle = nullptr;
  Check(heif_context_get_primary_image_handle(ctx.get(), &raw_handle), name, "has no primary image");
  std::unique_ptr<heif_image_handle, void (*)(const heif_image_handle*)> handle(raw_handle,
                                                                                &heif_image_handle_release);
  // Width and height after the file's transformations, before decoding.
  const int width = heif_image_handle_get_width(handle.get());
  const int height = heif_image_handle_get_height(handle.get());
  check_size(name, "HEIF", static_cast<uint64_t>(std::max(width, 0)), static_cast<uint64_t>(std::max(height, 0)));
  std::unique_ptr<heif_decoding_options, void (*)(heif_decoding_options*)> options(
      heif_decoding_options_alloc(), &heif_decoding_options_free);
  options->convert_hdr_to_8bit = 1;
  heif_image* raw_image = nullptr;
  Check(heif_decode_image(handle.get(), &raw_image, heif_colorspace_RGB, heif_chroma_interleaved_RGB,
                          options.get()),
        name, "cannot decode");
  std::unique_ptr<heif_image, void (*)(const heif_image*)> decoded(raw_image, &heif_image_release);
  int stride = 0;
  const uint8_t* plane = heif_image_get_plane_readonly(decoded.get(), heif_channel_interleaved, &stride);
  const int out_width = heif_image_get_width(decoded.get(), heif_channel_interleaved);
  const int out_height = heif_image_get_height(decoded.get(), heif_channel_interleaved);
  if (plane == nullptr || out_width != width || out_height != height || stride < width * 3) {
    throw Error("image '" + name + "': HEIF decoder returned no " + std::to_string(height) + " x " +
                std::to_string(width) + " RGB image");
  }
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(size_t(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    std::memcpy(image.pixels.data() + size_t(y) * width * 3, plane + size_t(y) * stride, size_t(width) * 3);
  }
  return image;
}

constexpr HeifModule kModule = {kHeifModuleVersion, &DecodeHeifWithLibheif};

}  // namespace
}  // namespace persam

extern "C" __attribute__((visibility("default"))) const persam::HeifModule* persam_heif_module() {
  return &persam::kModule;
}
