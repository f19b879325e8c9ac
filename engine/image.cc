// Reading and writing image files: the format is chosen from the file's
// signature (never its name), the decoders live in engine/image_*.cc.
#include "engine/image.h"

#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/error.h"
#include "engine/exif_orientation.h"
#include "engine/image_formats.h"

namespace persam {
namespace {

std::atomic<uint64_t> g_max_image_pixels{kDefaultMaxImagePixels};

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

void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) throw Error("image '" + path + "': cannot write (" + std::strerror(errno) + ")");
  if (std::fwrite(bytes.data(), 1, bytes.size(), file.get()) != bytes.size() ||
      std::fclose(file.release()) != 0) {
    throw Error("image '" + path + "': write error (" + std::strerror(errno) + ")");
  }
}

bool StartsWith(const uint8_t* data, size_t size, const char* magic, size_t offset = 0) {
  const size_t n = std::strlen(magic);
  return size >= offset + n && std::memcmp(data + offset, magic, n) == 0;
}

bool IsJpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

// An ISO base media file ("....ftyp") whose major brand is a HEIF one
// (HEVC stills and sequences, the MIAF/HEIF structural brands, AVIF).
bool IsHeif(const uint8_t* data, size_t size) {
  if (!StartsWith(data, size, "ftyp", 4) || size < 12) return false;
  static const char* const kBrands[] = {"heic", "heix", "heim", "heis", "hevc", "hevx",
                                        "mif1", "msf1", "avif", "avis"};
  for (const char* brand : kBrands) {
    if (std::memcmp(data + 8, brand, 4) == 0) return true;
  }
  return false;
}

void CheckWritable(const std::string& path, int height, int width, size_t pixels, int channels) {
  if (height <= 0 || width <= 0 || pixels != size_t(height) * width * channels) {
    throw Error("image '" + path + "': cannot write a " + std::to_string(height) + " x " +
                std::to_string(width) + " image with " + std::to_string(pixels) +
                " bytes (expected height * width * " + std::to_string(channels) + ")");
  }
}

// Checks the arguments of the in-memory encoders, naming `path` in errors.
std::vector<uint8_t> EncodeChecked(const std::string& path, int height, int width,
                                   const uint8_t* pixels, int channels, bool one_bit,
                                   const uint8_t* colour = nullptr) {
  if (pixels == nullptr) throw Error("image '" + path + "': no pixels to write");
  CheckWritable(path, height, width, size_t(height) * width * channels, channels);
  if (one_bit) {
    const size_t n = size_t(height) * width;
    for (size_t i = 0; i < n; ++i) {
      if (pixels[i] != 0 && pixels[i] != 255) {
        throw Error("image '" + path + "': a binary mask holds only 0 and 255, found " +
                    std::to_string(pixels[i]) + " at pixel " + std::to_string(i));
      }
    }
  }
  return EncodePngBytes(height, width, pixels, channels, one_bit, colour);
}

const char kInMemory[] = "(in memory)";

}  // namespace

void SetMaxImagePixels(uint64_t max_pixels) { g_max_image_pixels = max_pixels; }

uint64_t MaxImagePixels() { return g_max_image_pixels; }

void CheckImageSize(const std::string& name, const char* format, uint64_t width, uint64_t height) {
  if (width == 0 || height == 0) {
    throw Error("image '" + name + "': " + format + " header gives an empty image (" +
                std::to_string(width) + " x " + std::to_string(height) + ")");
  }
  const uint64_t limit = MaxImagePixels();
  // Each side must fit an int (RgbImage) and the product cannot overflow
  // below 2^31 x 2^31.
  const bool too_wide = width > INT_MAX / 4 || height > INT_MAX / 4;
  if (too_wide || (limit != 0 && width * height > limit)) {
    throw Error("image '" + name + "': " + format + " header claims " + std::to_string(width) +
                " x " + std::to_string(height) + " pixels, more than the limit of " +
                (too_wide ? std::to_string(INT_MAX / 4) + " per side"
                          : std::to_string(limit) + " pixels (raise it with --max-image-pixels)"));
  }
}

void ThrowNotBuiltIn(const std::string& name, const std::string& format, const std::string& package,
                     const std::string& option) {
  throw Error("image '" + name + "': a " + format + " file, but this build has no " + format +
              " support (install " + package + " and reconfigure with meson -D" + option + "=enabled)");
}

std::string DecodableFormats() {
  std::string formats = "JPEG, PNG, BMP, TGA";
  if (WebpBuiltIn()) formats += ", WebP";
  if (HeifBuiltIn()) formats += ", HEIF/HEIC";
  return formats;
}

std::vector<uint8_t> ReadImageFile(const std::string& path) { return ReadFileBytes(path); }

RgbImage LoadImage(const std::string& path) {
  const std::vector<uint8_t> bytes = ReadFileBytes(path);
  return DecodeImage(bytes.data(), bytes.size(), path);
}

RgbImage DecodeImage(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) throw Error("image '" + name + "': empty file");
  if (data == nullptr) throw Error("image '" + name + "': no data");
  if (IsJpeg(data, size)) {
    RgbImage image = DecodeJpeg(data, size, name);
    // ref: cv2.imread applies the EXIF orientation of JPEG files.
    const int orientation = JpegExifOrientation(data, size);
    if (orientation != 1) image = ApplyExifOrientation(image, orientation);
    return image;
  }
  if (StartsWith(data, size, "\x89PNG\r\n\x1a\n")) return DecodePng(data, size, name);
  if (StartsWith(data, size, "BM")) return DecodeBmp(data, size, name);
  if (StartsWith(data, size, "RIFF") && StartsWith(data, size, "WEBP", 8)) {
    return DecodeWebp(data, size, name);
  }
  if (IsHeif(data, size)) return DecodeHeif(data, size, name);
  // TGA has no signature: tried last, on a plausible header only.
  if (LooksLikeTga(data, size)) return DecodeTga(data, size, name);
  throw Error("image '" + name + "': not an image this build decodes (expected " +
              DecodableFormats() + ")");
}

std::vector<uint8_t> EncodePng(const RgbImage& image) {
  CheckWritable(kInMemory, image.height, image.width, image.pixels.size(), 3);
  return EncodeChecked(kInMemory, image.height, image.width, image.pixels.data(), 3, false);
}

std::vector<uint8_t> EncodeGrayPng(int height, int width, const uint8_t* pixels) {
  return EncodeChecked(kInMemory, height, width, pixels, 1, false);
}

std::vector<uint8_t> EncodeRgbaPng(int height, int width, const uint8_t* pixels) {
  return EncodeChecked(kInMemory, height, width, pixels, 4, false);
}

std::vector<uint8_t> EncodeBinaryMaskPng(int height, int width, const uint8_t* mask) {
  return EncodeChecked(kInMemory, height, width, mask, 1, true);
}

void SavePng(const std::string& path, const RgbImage& image) {
  CheckWritable(path, image.height, image.width, image.pixels.size(), 3);
  WriteFileBytes(path, EncodeChecked(path, image.height, image.width, image.pixels.data(), 3, false));
}

void SaveJpeg(const std::string& path, const RgbImage& image, int quality) {
  CheckWritable(path, image.height, image.width, image.pixels.size(), 3);
  if (quality < 1 || quality > 100) {
    throw Error("image '" + path + "': JPEG quality " + std::to_string(quality) +
                " out of range 1..100");
  }
  WriteFileBytes(path, EncodeJpegBytes(image, quality));
}

void SaveGrayPng(const std::string& path, int height, int width, const uint8_t* pixels) {
  WriteFileBytes(path, EncodeChecked(path, height, width, pixels, 1, false));
}

void SaveBinaryMaskPng(const std::string& path, int height, int width, const uint8_t* mask) {
  WriteFileBytes(path, EncodeChecked(path, height, width, mask, 1, true));
}

void SaveBinaryMaskPng(const std::string& path, int height, int width, const uint8_t* mask,
                       const uint8_t colour[3]) {
  WriteFileBytes(path, EncodeChecked(path, height, width, mask, 1, true, colour));
}

}  // namespace persam
