// Decoding and encoding images: stb_image for JPEG/PNG/BMP/TGA, EXIF
// orientation applied to JPEGs as OpenCV's imread does; always RGB uint8.
#ifndef PERSAM_ENGINE_IMAGE_H_
#define PERSAM_ENGINE_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace persam {

struct RgbImage {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> pixels;  // height * width * 3, row-major, interleaved RGB
};

// Throws persam::Error naming the file when it cannot be read or decoded.
RgbImage LoadImage(const std::string& path);
// Decodes an image held in memory (an upload, say); `name` names it in errors.
RgbImage DecodeImage(const uint8_t* data, size_t size, const std::string& name);
// PNG files in memory, for writers that are not plain files (HTTP responses).
std::vector<uint8_t> EncodePng(const RgbImage& image);
std::vector<uint8_t> EncodeGrayPng(int height, int width, const uint8_t* pixels);
// RGBA (e.g. a cut-out with a transparent background): height * width * 4 bytes.
std::vector<uint8_t> EncodeRgbaPng(int height, int width, const uint8_t* pixels);
void SavePng(const std::string& path, const RgbImage& image);
void SaveJpeg(const std::string& path, const RgbImage& image, int quality = 90);
// Single-channel 8-bit PNG (e.g. a 0/255 mask).
void SaveGrayPng(const std::string& path, int height, int width, const uint8_t* pixels);

}  // namespace persam

#endif  // PERSAM_ENGINE_IMAGE_H_
