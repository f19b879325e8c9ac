// Writing PNG files. libdeflate compresses; the PNG framing around its zlib
// stream (signature, IHDR, PLTE, IDAT, IEND, each with a CRC-32 libdeflate
// also computes) is the fixed layout of the PNG specification, section 5.
//
// Why not libspng's encoder (it still decodes, engine/image_png.cc): it can
// only deflate with zlib, and zlib is where the time goes. For the overlay of
// a 2048 x 1365 photo, deflating the Sub-filtered rows took 113 ms with zlib
// level 1 (4.13 MB) and takes 60 ms with libdeflate level 1 (4.28 MB); zlib's
// Z_RLE (86 ms, 5.68 MB) and Huffman-only (75 ms, 5.93 MB) trade far more
// size for less speed. libdeflate level 2 is 86 ms for 3.96 MB: not worth
// 40 % more time for 7 % less size on a preview image (medians of 15 runs,
// bench/image_write_bench.cc has the whole encoder).
#include <libdeflate.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "base/error.h"
#include "engine/huge_page_buffer.h"
#include "engine/image_formats.h"

namespace persam {
namespace {

constexpr int kCompressionLevel = 1;
// A chunk's length field holds at most 2^31 - 1; IDAT data beyond that is
// split over several chunks (only images of hundreds of megapixels get there).
constexpr size_t kMaxChunkData = size_t{1} << 30;

enum PngFilter : uint8_t { kFilterNone = 0, kFilterSub = 1 };
enum PngColourType : uint8_t { kGrey = 0, kTruecolour = 2, kIndexed = 3, kTruecolourAlpha = 6 };

void PutBigEndian32(std::vector<uint8_t>& out, uint32_t v) {
  const uint8_t bytes[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                            static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  out.insert(out.end(), bytes, bytes + 4);
}

// Length, type, data, and the CRC-32 of type and data.
void PutChunk(std::vector<uint8_t>& out, const char type[4], const uint8_t* data, size_t size) {
  PutBigEndian32(out, static_cast<uint32_t>(size));
  const size_t type_at = out.size();
  out.insert(out.end(), type, type + 4);
  if (size > 0) out.insert(out.end(), data, data + size);
  PutBigEndian32(out, libdeflate_crc32(0, out.data() + type_at, size + 4));
}

// Buffers the encoder fills completely (or up to a size it then records):
// left uninitialised (zeroing them cost a quarter of the encode), on huge
// pages where the kernel allows (4 KiB page faults on the ~13 MB that a
// 2048 x 1365 overlay touches cost another fifth).
struct Buffer {
  HugePageBuffer memory;
  size_t size = 0;
  void Resize(size_t n) {
    memory.Reserve((n + sizeof(float) - 1) / sizeof(float));
    size = n;
  }
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(memory.data()); }
  const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(memory.data()); }
};

// The rows as PNG stores them before deflating: a filter byte, then the row.
// 8-bit rows use Sub (each byte minus the same channel of the pixel to its
// left): as good as Up, Average or Paeth for photos at this compression
// level and the cheapest; per-row adaptive choice cost more than the deflate.
// 1-bit rows (MSB first, 1 = 255) are left unfiltered: masks are long runs.
void FilterRows(int height, int width, const uint8_t* pixels, int channels, bool one_bit, Buffer& rows) {
  const size_t row_bytes = one_bit ? (size_t(width) + 7) / 8 : size_t(width) * channels;
  rows.Resize(size_t(height) * (row_bytes + 1));
  for (int y = 0; y < height; ++y) {
    uint8_t* out = rows.bytes() + size_t(y) * (row_bytes + 1);
    if (one_bit) {
      const uint8_t* in = pixels + size_t(y) * width;
      *out++ = kFilterNone;
      std::memset(out, 0, row_bytes);
      for (int x = 0; x < width; ++x) out[x >> 3] |= static_cast<uint8_t>((in[x] & 1) << (7 - (x & 7)));
      continue;
    }
    const uint8_t* in = pixels + size_t(y) * row_bytes;
    *out++ = kFilterSub;
    std::memcpy(out, in, static_cast<size_t>(channels));
    for (size_t i = static_cast<size_t>(channels); i < row_bytes; ++i) {
      out[i] = static_cast<uint8_t>(in[i] - in[i - channels]);
    }
  }
}

struct CompressorDeleter {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

// A zlib stream of `data`; only the pages of the output it writes are touched.
void Deflate(const Buffer& data, int height, int width, Buffer& out) {
  std::unique_ptr<libdeflate_compressor, CompressorDeleter> compressor(
      libdeflate_alloc_compressor(kCompressionLevel));
  if (!compressor) throw Error("PNG encoder: cannot create a compressor (out of memory)");
  out.Resize(libdeflate_zlib_compress_bound(compressor.get(), data.size));
  out.size = libdeflate_zlib_compress(compressor.get(), data.bytes(), data.size, out.bytes(), out.size);
  if (out.size == 0) {
    throw Error("PNG encoder: cannot compress a " + std::to_string(height) + " x " +
                std::to_string(width) + " image");
  }
}

}  // namespace

std::vector<uint8_t> EncodePngBytes(int height, int width, const uint8_t* pixels, int channels,
                                    bool one_bit, const uint8_t* colour) {
  Buffer zlib_stream;
  {
    Buffer rows;
    FilterRows(height, width, pixels, channels, one_bit, rows);
    Deflate(rows, height, width, zlib_stream);
  }

  std::vector<uint8_t> png;
  png.reserve(zlib_stream.size + 128);
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  png.insert(png.end(), kSignature, kSignature + 8);

  std::vector<uint8_t> ihdr;
  PutBigEndian32(ihdr, static_cast<uint32_t>(width));
  PutBigEndian32(ihdr, static_cast<uint32_t>(height));
  ihdr.push_back(one_bit ? 1 : 8);  // bit depth
  ihdr.push_back(colour != nullptr ? kIndexed
                 : channels == 1   ? kGrey
                 : channels == 3   ? kTruecolour
                                   : kTruecolourAlpha);
  ihdr.insert(ihdr.end(), {0, 0, 0});  // deflate, adaptive filtering, not interlaced
  PutChunk(png, "IHDR", ihdr.data(), ihdr.size());
  if (colour != nullptr) {
    const uint8_t palette[6] = {0, 0, 0, colour[0], colour[1], colour[2]};
    PutChunk(png, "PLTE", palette, sizeof(palette));
  }
  for (size_t at = 0; at < zlib_stream.size; at += kMaxChunkData) {
    PutChunk(png, "IDAT", zlib_stream.bytes() + at, std::min(kMaxChunkData, zlib_stream.size - at));
  }
  PutChunk(png, "IEND", nullptr, 0);
  return png;
}

}  // namespace persam
