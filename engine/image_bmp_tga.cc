// BMP and TGA through stb_image (instantiated in engine/stb_impl.cc), behind
// checks of our own: both headers can claim any size, and stb fills pixels
// missing from a short file instead of failing. So before stb runs we check
// the header's fields against the pixel limit and that the file holds every
// pixel it claims: uncompressed data must be present in full, and a TGA's RLE
// packets are walked (without decoding) to the last claimed pixel. BMP RLE
// is refused (stb does not decode it either).
#include <climits>
#include <memory>

#include <stb_image.h>

#include "base/error.h"
#include "engine/image_formats.h"

namespace persam {
namespace {

uint32_t Le16(const uint8_t* p) { return uint32_t{p[0]} | uint32_t{p[1]} << 8; }
uint32_t Le32(const uint8_t* p) { return Le16(p) | Le16(p + 2) << 16; }

// stb's decode of bytes already checked; `format` names it in errors.
RgbImage DecodeWithStb(const uint8_t* data, size_t size, const std::string& name, const char* format) {
  if (size > INT_MAX) throw Error("image '" + name + "': " + format + " file larger than 2 GiB");
  int width = 0, height = 0, channels = 0;
  // Any channel count to the 3 requested: grey replicated, alpha dropped.
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(data, static_cast<int>(size), &width, &height, &channels, 3), &stbi_image_free);
  if (!pixels) {
    throw Error("image '" + name + "': cannot decode " + format + " (" + stbi_failure_reason() + ")");
  }
  RgbImage image;
  image.height = height;
  image.width = width;
  image.pixels.assign(pixels.get(), pixels.get() + size_t(height) * width * 3);
  return image;
}

[[noreturn]] void Short(const std::string& name, const char* format, const std::string& what) {
  throw Error("image '" + name + "': " + format + " file ends before its pixels do (" + what + ")");
}

}  // namespace

RgbImage DecodeBmp(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 26) Short(name, "BMP", "no complete header");
  const uint32_t data_offset = Le32(data + 10);
  const uint32_t header_size = Le32(data + 14);
  int64_t width, height;
  uint32_t bits, compression = 0;
  if (header_size == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sides
    width = Le16(data + 18);
    height = static_cast<int16_t>(Le16(data + 20));
    bits = Le16(data + 24);
  } else if (header_size == 40 || header_size == 52 || header_size == 56 || header_size == 108 ||
             header_size == 124) {
    if (size < 34) Short(name, "BMP", "no complete header");
    width = static_cast<int32_t>(Le32(data + 18));
    height = static_cast<int32_t>(Le32(data + 22));  // negative: rows stored top-down
    bits = Le16(data + 28);
    compression = Le32(data + 30);
  } else {
    throw Error("image '" + name + "': BMP header size " + std::to_string(header_size) +
                " is none of 12, 40, 52, 56, 108, 124");
  }
  if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32) {
    throw Error("image '" + name + "': BMP with " + std::to_string(bits) + " bits per pixel");
  }
  if (compression != 0 && compression != 3) {  // BI_RGB, BI_BITFIELDS
    throw Error("image '" + name + "': compressed BMP (method " + std::to_string(compression) +
                ") is not supported; expected uncompressed");
  }
  if (width < 0) throw Error("image '" + name + "': BMP header gives a negative width");
  const int64_t rows = height < 0 ? -height : height;  // int64: -(-2^31) fits
  CheckImageSize(name, "BMP", static_cast<uint64_t>(width), static_cast<uint64_t>(rows));
  const uint64_t stride = (static_cast<uint64_t>(width) * bits + 31) / 32 * 4;
  const uint64_t needed = uint64_t{data_offset} + stride * static_cast<uint64_t>(rows);
  if (needed > size) {
    Short(name, "BMP", std::to_string(width) + " x " + std::to_string(rows) + " needs " +
                           std::to_string(needed) + " bytes, the file has " + std::to_string(size));
  }
  return DecodeWithStb(data, size, name, "BMP");
}

bool LooksLikeTga(const uint8_t* data, size_t size) {
  if (size < 18) return false;
  const uint8_t colormap = data[1], type = data[2], bits = data[16];
  const bool mapped = type == 1 || type == 9;
  const bool known_type = mapped || type == 2 || type == 3 || type == 10 || type == 11;
  const bool known_bits = bits == 8 || bits == 15 || bits == 16 || bits == 24 || bits == 32;
  return colormap <= 1 && known_type && known_bits && (!mapped || colormap == 1);
}

RgbImage DecodeTga(const uint8_t* data, size_t size, const std::string& name) {
  const uint32_t id_length = data[0], colormap = data[1], type = data[2];
  const uint32_t map_length = Le16(data + 5), map_bits = data[7];
  const uint32_t width = Le16(data + 12), height = Le16(data + 14), bits = data[16];
  CheckImageSize(name, "TGA", width, height);
  const uint64_t map_bytes = colormap ? uint64_t{map_length} * ((map_bits + 7) / 8) : 0;
  const uint64_t start = 18 + uint64_t{id_length} + map_bytes;
  if (start > size) Short(name, "TGA", "the colour map is cut");
  const uint64_t pixel_bytes = (bits + 7) / 8, pixels = uint64_t{width} * height;
  if (type < 9) {
    if (size - start < pixels * pixel_bytes) {
      Short(name, "TGA", std::to_string(width) + " x " + std::to_string(height) + " needs " +
                             std::to_string(pixels * pixel_bytes) + " bytes of pixels, the file has " +
                             std::to_string(size - start));
    }
  } else {
    // RLE: a header byte, then one pixel repeated (top bit set) or that many
    // literal pixels; each packet covers 1..128 pixels. The walk costs one
    // step per packet, at most the file's size.
    uint64_t pos = start, covered = 0;
    while (covered < pixels) {
      if (pos >= size) {
        Short(name, "TGA", "RLE packets cover " + std::to_string(covered) + " of " +
                               std::to_string(pixels) + " pixels");
      }
      const uint32_t header = data[pos++];
      const uint64_t count = (header & 0x7F) + 1;
      const uint64_t bytes = (header & 0x80) ? pixel_bytes : count * pixel_bytes;
      if (size - pos < bytes) Short(name, "TGA", "an RLE packet is cut");
      pos += bytes;
      covered += count;
    }
  }
  return DecodeWithStb(data, size, name, "TGA");
}

}  // namespace persam
