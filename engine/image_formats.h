// The per-format halves of engine/image.h: one decoder (and encoder) per
// file, each given the whole file in memory and its name for errors. Every
// decoder reads the dimensions from the header and calls CheckImageSize
// before it allocates the image.
#ifndef PERSAM_ENGINE_IMAGE_FORMATS_H_
#define PERSAM_ENGINE_IMAGE_FORMATS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/image.h"

namespace persam {

// Throws naming the file when width x height is empty, exceeds
// MaxImagePixels() or cannot be an RgbImage (int sides).
void CheckImageSize(const std::string& name, const char* format, uint64_t width, uint64_t height);
// Its type, for the plugin modules (engine/heif_module.h,
// video/video_file_module.h), which are given the host's CheckImageSize
// so that the limit and its error text stay in one place.
using ImageSizeCheck = void (*)(const std::string& name, const char* format, uint64_t width, uint64_t height);

RgbImage DecodeJpeg(const uint8_t* data, size_t size, const std::string& name);
RgbImage DecodePng(const uint8_t* data, size_t size, const std::string& name);
// BMP and TGA through stb_image, after checks of our own (see image_bmp_tga.cc).
RgbImage DecodeBmp(const uint8_t* data, size_t size, const std::string& name);
RgbImage DecodeTga(const uint8_t* data, size_t size, const std::string& name);
bool LooksLikeTga(const uint8_t* data, size_t size);
// Throw a clear "not built in" error when the library is absent.
RgbImage DecodeWebp(const uint8_t* data, size_t size, const std::string& name);
RgbImage DecodeHeif(const uint8_t* data, size_t size, const std::string& name);
bool WebpBuiltIn();
bool HeifBuiltIn();
// The error for a file of an optional format this build lacks, naming the
// Debian package and the meson option that add it.
[[noreturn]] void ThrowNotBuiltIn(const std::string& name, const std::string& format,
                                  const std::string& package, const std::string& option);

// PNG of 8-bit samples with 1 (grey), 3 (RGB) or 4 (RGBA) channels, or a
// 1-bit PNG from 0/255 bytes when `one_bit`: grey, or with `colour` a
// two-entry palette (black, colour).
std::vector<uint8_t> EncodePngBytes(int height, int width, const uint8_t* pixels, int channels,
                                    bool one_bit, const uint8_t* colour = nullptr);
std::vector<uint8_t> EncodeJpegBytes(const RgbImage& image, int quality);

}  // namespace persam

#endif  // PERSAM_ENGINE_IMAGE_FORMATS_H_
