#include "engine/exif_orientation.h"

#include <cstring>

namespace persam {
namespace {

uint16_t Read16(const uint8_t* p, bool big_endian) {
  return big_endian ? static_cast<uint16_t>((p[0] << 8) | p[1])
                    : static_cast<uint16_t>((p[1] << 8) | p[0]);
}

uint32_t Read32(const uint8_t* p, bool big_endian) {
  return big_endian ? (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]
                    : (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0];
}

// Orientation from a TIFF block (the APP1 payload after "Exif\0\0"), or 0.
int TiffOrientation(const uint8_t* tiff, size_t size) {
  if (size < 8) return 0;
  bool big_endian;
  if (tiff[0] == 'I' && tiff[1] == 'I') {
    big_endian = false;
  } else if (tiff[0] == 'M' && tiff[1] == 'M') {
    big_endian = true;
  } else {
    return 0;
  }
  if (Read16(tiff + 2, big_endian) != 42) return 0;
  const uint32_t ifd = Read32(tiff + 4, big_endian);
  if (ifd > size || size - ifd < 2) return 0;
  const uint16_t count = Read16(tiff + ifd, big_endian);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t entry = size_t{ifd} + 2 + size_t{i} * 12;
    if (entry + 12 > size) return 0;
    const uint8_t* e = tiff + entry;
    if (Read16(e, big_endian) != 0x0112) continue;
    const uint16_t type = Read16(e + 2, big_endian);
    // SHORT (3) is what the standard says; tolerate LONG (4) as OpenCV does
    // not check the type either (it reads the first 16 bits of the value).
    if (type == 3 || type == 4) {
      const uint32_t value = type == 3 ? Read16(e + 8, big_endian) : Read32(e + 8, big_endian);
      return (value >= 1 && value <= 8) ? static_cast<int>(value) : 0;
    }
    return 0;
  }
  return 0;
}

}  // namespace

int JpegExifOrientation(const uint8_t* data, size_t size) {
  if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) return 1;
  size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xFF) return 1;  // lost sync: no usable metadata
    const uint8_t marker = data[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    // Start of scan or end of image: metadata segments come before.
    if (marker == 0xDA || marker == 0xD9) return 1;
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      pos += 2;
      continue;
    }
    const size_t length = (size_t{data[pos + 2]} << 8) | data[pos + 3];  // includes itself
    if (length < 2 || pos + 2 + length > size) return 1;
    const uint8_t* payload = data + pos + 4;
    const size_t payload_size = length - 2;
    if (marker == 0xE1 && payload_size >= 6 && std::memcmp(payload, "Exif\0\0", 6) == 0) {
      const int orientation = TiffOrientation(payload + 6, payload_size - 6);
      return orientation == 0 ? 1 : orientation;
    }
    pos += 2 + length;
  }
  return 1;
}

RgbImage ApplyExifOrientation(const RgbImage& image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const int h = image.height, w = image.width;
  const bool swap = orientation >= 5;  // transposing orientations
  RgbImage out;
  out.height = swap ? w : h;
  out.width = swap ? h : w;
  out.pixels.resize(image.pixels.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      // Source pixel (sy, sx) of output (y, x); OpenCV composes transpose and
      // flip (1 = around the vertical axis, 0 = horizontal, -1 = both).
      int sy = 0, sx = 0;
      switch (orientation) {
        case 2: sy = y; sx = w - 1 - x; break;              // flip(1)
        case 3: sy = h - 1 - y; sx = w - 1 - x; break;      // flip(-1)
        case 4: sy = h - 1 - y; sx = x; break;              // flip(0)
        case 5: sy = x; sx = y; break;                      // transpose
        case 6: sy = h - 1 - x; sx = y; break;              // transpose, flip(1)
        case 7: sy = h - 1 - x; sx = w - 1 - y; break;      // transpose, flip(-1)
        case 8: sy = x; sx = w - 1 - y; break;              // transpose, flip(0)
      }
      const uint8_t* src = &image.pixels[(size_t(sy) * w + sx) * 3];
      uint8_t* dst = &out.pixels[(size_t(y) * out.width + x) * 3];
      dst[0] = src[0];
      dst[1] = src[1];
      dst[2] = src[2];
    }
  }
  return out;
}

}  // namespace persam
