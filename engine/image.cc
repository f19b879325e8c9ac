// Image files through stb_image / stb_image_write (instantiated in
// engine/stb_impl.cc). Channel handling matches cv2.imread(IMREAD_COLOR)
// followed by BGR->RGB: grey is replicated, alpha dropped (not blended),
// 16-bit samples keep their high byte.
#include "engine/image.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <stb_image.h>  // implemented in engine/stb_impl.cc
#include <stb_image_write.h>

#include "engine/exif_orientation.h"
#include "base/error.h"

namespace persam {
namespace {

std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    throw Error("image '" + path + "': cannot open (" + std::strerror(errno) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error("image '" + path + "': not a regular file (a directory?)");
  }
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw Error("image '" + path + "': cannot open (" + std::strerror(errno) + ")");
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  if (!bytes.empty() && std::fread(bytes.data(), 1, bytes.size(), file.get()) != bytes.size()) {
    throw Error("image '" + path + "': read error");
  }
  return bytes;
}

bool IsJpeg(const uint8_t* bytes, size_t size) {
  return size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

void CheckWritable(const std::string& path, int height, int width, size_t pixels, int channels) {
  if (height <= 0 || width <= 0 || pixels != size_t(height) * width * channels) {
    throw Error("image '" + path + "': cannot write a " + std::to_string(height) + " x " +
                std::to_string(width) + " image with " + std::to_string(pixels) +
                " bytes (expected height * width * " + std::to_string(channels) + ")");
  }
}

}  // namespace

RgbImage LoadImage(const std::string& path) {
  const std::vector<uint8_t> bytes = ReadFileBytes(path);
  return DecodeImage(bytes.data(), bytes.size(), path);
}

RgbImage DecodeImage(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size == 0) throw Error("image '" + name + "': empty file");
  if (size > size_t{1} << 31) throw Error("image '" + name + "': file too large");
  int width = 0, height = 0, channels = 0;
  // stbi_load_from_memory converts 16-bit samples to 8 bits (high byte) and
  // any channel count to the 3 requested.
  std::unique_ptr<stbi_uc, void (*)(void*)> data(
      stbi_load_from_memory(bytes, static_cast<int>(size), &width, &height, &channels, 3),
      &stbi_image_free);
  if (!data) {
    throw Error("image '" + name + "': cannot decode (" + stbi_failure_reason() +
                "); expected JPEG, PNG, BMP or TGA");
  }
  RgbImage image;
  image.height = height;
  image.width = width;
  image.pixels.assign(data.get(), data.get() + size_t(height) * width * 3);
  if (IsJpeg(bytes, size)) {
    // ref: cv2.imread applies the EXIF orientation of JPEG files.
    const int orientation = JpegExifOrientation(bytes, size);
    if (orientation != 1) image = ApplyExifOrientation(image, orientation);
  }
  return image;
}

namespace {

void AppendBytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* bytes = static_cast<const uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

std::vector<uint8_t> EncodePngChannels(int height, int width, const uint8_t* pixels,
                                       int channels) {
  if (pixels == nullptr) throw Error("PNG encoder: no pixels to write");
  CheckWritable("(in memory)", height, width, size_t(height) * width * channels, channels);
  std::vector<uint8_t> png;
  if (!stbi_write_png_to_func(&AppendBytes, &png, width, height, channels, pixels,
                              width * channels)) {
    throw Error("PNG encoder: cannot encode a " + std::to_string(height) + " x " +
                std::to_string(width) + " image");
  }
  return png;
}

}  // namespace

std::vector<uint8_t> EncodePng(const RgbImage& image) {
  CheckWritable("(in memory)", image.height, image.width, image.pixels.size(), 3);
  return EncodePngChannels(image.height, image.width, image.pixels.data(), 3);
}

std::vector<uint8_t> EncodeGrayPng(int height, int width, const uint8_t* pixels) {
  return EncodePngChannels(height, width, pixels, 1);
}

std::vector<uint8_t> EncodeRgbaPng(int height, int width, const uint8_t* pixels) {
  return EncodePngChannels(height, width, pixels, 4);
}

void SavePng(const std::string& path, const RgbImage& image) {
  CheckWritable(path, image.height, image.width, image.pixels.size(), 3);
  if (!stbi_write_png(path.c_str(), image.width, image.height, 3, image.pixels.data(),
                      image.width * 3)) {
    throw Error("image '" + path + "': cannot write PNG");
  }
}

void SaveJpeg(const std::string& path, const RgbImage& image, int quality) {
  CheckWritable(path, image.height, image.width, image.pixels.size(), 3);
  if (quality < 1 || quality > 100) {
    throw Error("image '" + path + "': JPEG quality " + std::to_string(quality) +
                " out of range 1..100");
  }
  if (!stbi_write_jpg(path.c_str(), image.width, image.height, 3, image.pixels.data(),
                      quality)) {
    throw Error("image '" + path + "': cannot write JPEG");
  }
}

void SaveGrayPng(const std::string& path, int height, int width, const uint8_t* pixels) {
  if (pixels == nullptr) throw Error("image '" + path + "': no pixels to write");
  CheckWritable(path, height, width, size_t(height) * width, 1);
  if (!stbi_write_png(path.c_str(), width, height, 1, pixels, width)) {
    throw Error("image '" + path + "': cannot write PNG");
  }
}

}  // namespace persam
