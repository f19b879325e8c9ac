// The HEIF/HEIC decoder as a plugin module (libpersam_heif.so, built by
// modules/meson.build from engine/heif_decoder.cc): libheif and its codec
// stack (libde265, x265, aom, dav1d, ...) are loaded only when a HEIF file
// is decoded (base/module_loader.h says why and where modules are found).
// engine/image_heif.cc loads it and checks the version.
#ifndef PERSAM_ENGINE_HEIF_MODULE_H_
#define PERSAM_ENGINE_HEIF_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/image.h"
#include "engine/image_formats.h"

namespace persam {

// Raised whenever HeifModule changes, so that a module of another build is
// refused instead of called through the wrong layout.
constexpr int kHeifModuleVersion = 1;

struct HeifModule {
  int version;  // kHeifModuleVersion of the build that made the module
  // DecodeHeif (engine/image_formats.h) given the host's MaxImagePixels()
  // and CheckImageSize, which it calls before decoding; throws
  // persam::Error naming the file.
  RgbImage (*decode)(const uint8_t* data, size_t size, const std::string& name, uint64_t max_pixels,
                     ImageSizeCheck check_size);
};

}  // namespace persam

// The module's one export.
extern "C" const persam::HeifModule* persam_heif_module();

#endif  // PERSAM_ENGINE_HEIF_MODULE_H_
