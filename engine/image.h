// Decoding and encoding images: stb_image for JPEG/PNG/BMP/TGA, EXIF
// orientation applied to JPEGs as OpenCV's imread does; always RGB uint8.
#ifndef PERSAM_ENGINE_IMAGE_H_
#define PERSAM_ENGINE_IMAGE_H_

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
void SavePng(const std::string& path, const RgbImage& image);
void SaveJpeg(const std::string& path, const RgbImage& image, int quality = 90);
// Single-channel 8-bit PNG (e.g. a 0/255 mask).
void SaveGrayPng(const std::string& path, int height, int width, const uint8_t* pixels);

}  // namespace persam

#endif  // PERSAM_ENGINE_IMAGE_H_
