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
  const HeifModule* module = nullptr;
  try {
    const auto entry = reinterpret_cast<const HeifModule* (*)()>(
        LoadModuleEntry("libpersam_heif.so", "persam_heif_module", "the HEIF decoder, libheif"));
    module = entry();
  } catch (const Error& e) {
    throw Error("image '" + name + "': " + e.what());
  }
  if (module == nullptr || module->version != kHeifModuleVersion) {
    throw Error("image '" + name + "': libpersam_heif.so is from another persam build (interface version " +
                std::to_string(module != nullptr ? module->version : 0) + ", expected " +
                std::to_string(kHeifModuleVersion) + ")");
  }
  return module->decode(data, size, name, MaxImagePixels(), &CheckImageSize);
#else
  (void)data;
  (void)size;
  ThrowNotBuiltIn(name, "HEIF/HEIC", "libheif-dev", "heif");
#endif
}

}  // namespace persam
