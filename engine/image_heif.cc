// HEIF/HEIC (and AVIF) when the build has libheif (meson -Dheif=auto|enabled):
// decoded by the HEIF module (engine/heif_module.h), loaded on the first
// HEIF file so that other commands never map libheif's codec stack.
#include "base/error.h"
#include "engine/image_formats.h"

#if PERSAM_HAVE_HEIF
#include "base/module_loader.h"
#include "engine/heif_module.h"
#endif

namespace persam {

bool HeifBuiltIn() { return PERSAM_HAVE_HEIF != 0; }

RgbImage DecodeHeif(const uint8_t* data, size_t size, const std::string& name) {
#if PERSAM_HAVE_HEIF
  const HeifModule& module = LoadModule<HeifModule>("libpersam_heif.so", "persam_heif_module",
                                                    "the HEIF decoder, libheif", kHeifModuleVersion,
                                                    "image '" + name + "'");
  return module.decode(data, size, name, MaxImagePixels(), &CheckImageSize);
#else
  (void)data;
  (void)size;
  ThrowNotBuiltIn(name, "HEIF/HEIC", "libheif-dev", "heif");
#endif
}

}  // namespace persam
