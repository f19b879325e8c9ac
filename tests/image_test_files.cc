#include "tests/image_test_files.h"

#include <zlib.h>

#include <algorithm>
#include <stdexcept>

namespace persam::testing {
namespace {

void Put32Be(Bytes* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<uint8_t>(v >> s));
}
void Put16Le(Bytes* out, uint32_t v) {
  out->push_back(static_cast<uint8_t>(v));
  out->push_back(static_cast<uint8_t>(v >> 8));
}
void Put32Le(Bytes* out, uint32_t v) {
  Put16Le(out, v & 0xFFFF);
  Put16Le(out, v >> 16);
}

void PutChunk(Bytes* png, const std::string& type, const Bytes& data) {
  Put32Be(png, static_cast<uint32_t>(data.size()));
  const size_t start = png->size();
  png->insert(png->end(), type.begin(), type.end());
  png->insert(png->end(), data.begin(), data.end());
  const uLong crc = crc32(0, png->data() + start, static_cast<uInt>(png->size() - start));
  Put32Be(png, static_cast<uint32_t>(crc));
}

Bytes PngStart(uint32_t width, uint32_t height, int bit_depth, int color_type) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  Put32Be(&ihdr, width);
  Put32Be(&ihdr, height);
  ihdr.insert(ihdr.end(), {static_cast<uint8_t>(bit_depth), static_cast<uint8_t>(color_type), 0, 0, 0});
  PutChunk(&png, "IHDR", ihdr);
  return png;
}

// Feeds `total` bytes produced by `fill` through deflate into `out`. Z_RLE
// (matches of the previous byte only) finds the same 258-byte matches in
// zero rows as a full search, in a fraction of the time.
template <typename Fill>
void Deflate(Bytes* out, uint64_t total, Fill fill, int strategy = Z_DEFAULT_STRATEGY) {
  z_stream z = {};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15, 8, strategy) != Z_OK) throw std::runtime_error("deflateInit2");
  Bytes in(1 << 20), buf(1 << 16);
  uint64_t done = 0;
  int flush = Z_NO_FLUSH;
  while (flush != Z_FINISH) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(in.size(), total - done));
    fill(done, in.data(), n);
    done += n;
    flush = done == total ? Z_FINISH : Z_NO_FLUSH;
    z.next_in = in.data();
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = buf.data();
      z.avail_out = static_cast<uInt>(buf.size());
      deflate(&z, flush);
      out->insert(out->end(), buf.data(), buf.data() + (buf.size() - z.avail_out));
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
}

}  // namespace

Bytes MakePng(uint32_t width, uint32_t height, int bit_depth, int color_type, const std::vector<Bytes>& rows,
              const std::vector<PngChunk>& extra) {
  Bytes png = PngStart(width, height, bit_depth, color_type);
  for (const PngChunk& chunk : extra) PutChunk(&png, chunk.type, chunk.data);
  Bytes raw;
  for (const Bytes& row : rows) {
    raw.push_back(0);  // filter: none
    raw.insert(raw.end(), row.begin(), row.end());
  }
  Bytes idat;
  Deflate(&idat, raw.size(), [&](uint64_t at, uint8_t* dst, size_t n) { std::copy_n(raw.data() + at, n, dst); });
  PutChunk(&png, "IDAT", idat);
  PutChunk(&png, "IEND", {});
  return png;
}

Bytes MakeZeroPng(uint32_t width, uint32_t height, int color_type) {
  const uint64_t channels = color_type == 2 ? 3 : 1;
  Bytes png = PngStart(width, height, 8, color_type);
  Bytes idat;
  // Zero rows, filter bytes included (filter 0 = none).
  Deflate(
      &idat, (width * channels + 1) * uint64_t{height},
      [](uint64_t at, uint8_t* dst, size_t n) {
        if (at == 0) std::fill_n(dst, n, uint8_t{0});  // the buffer stays zero
      },
      Z_RLE);
  PutChunk(&png, "IDAT", idat);
  PutChunk(&png, "IEND", {});
  return png;
}

Bytes MakeBmp24(int width, int height, const Bytes& rgb) {
  const uint32_t stride = (static_cast<uint32_t>(width) * 3 + 3) / 4 * 4;
  Bytes bmp = {'B', 'M'};
  Put32Le(&bmp, 54 + stride * height);  // file size
  Put32Le(&bmp, 0);
  Put32Le(&bmp, 54);  // pixel data offset
  Put32Le(&bmp, 40);  // BITMAPINFOHEADER
  Put32Le(&bmp, static_cast<uint32_t>(width));
  Put32Le(&bmp, static_cast<uint32_t>(height));
  Put16Le(&bmp, 1);   // planes
  Put16Le(&bmp, 24);  // bits per pixel
  for (int i = 0; i < 6; ++i) Put32Le(&bmp, 0);  // BI_RGB, sizes, resolution, palette
  for (int y = height - 1; y >= 0; --y) {
    for (int x = 0; x < width; ++x) {
      const uint8_t* p = &rgb[(size_t(y) * width + x) * 3];
      bmp.insert(bmp.end(), {p[2], p[1], p[0]});
    }
    bmp.resize(bmp.size() + (stride - width * 3), 0);
  }
  return bmp;
}

Bytes MakeHostileBmp(int32_t width, int32_t height) {
  Bytes bmp = MakeBmp24(1, 1, {0, 0, 0});
  bmp.resize(126, 0);  // the file of the issue: a header and 72 bytes of nothing
  for (int i = 0; i < 4; ++i) {
    bmp[18 + i] = static_cast<uint8_t>(static_cast<uint32_t>(width) >> (8 * i));
    bmp[22 + i] = static_cast<uint8_t>(static_cast<uint32_t>(height) >> (8 * i));
  }
  return bmp;
}

Bytes MakeTga24(int width, int height, const Bytes& rgb, bool rle) {
  Bytes tga = {0, 0, static_cast<uint8_t>(rle ? 10 : 2), 0, 0, 0, 0, 0, 0, 0, 0, 0};
  Put16Le(&tga, static_cast<uint32_t>(width));
  Put16Le(&tga, static_cast<uint32_t>(height));
  tga.push_back(24);
  tga.push_back(0x20);  // origin top-left: rows stored top-down
  const size_t n = size_t(width) * height;
  auto bgr = [&](size_t i) { return Bytes{rgb[i * 3 + 2], rgb[i * 3 + 1], rgb[i * 3]}; };
  for (size_t i = 0; i < n;) {
    if (!rle) {
      const Bytes p = bgr(i++);
      tga.insert(tga.end(), p.begin(), p.end());
      continue;
    }
    size_t run = 1;
    while (i + run < n && run < 128 && bgr(i + run) == bgr(i)) ++run;
    const Bytes p = bgr(i);
    if (run > 1) {
      tga.push_back(static_cast<uint8_t>(0x80 | (run - 1)));
    } else {
      tga.push_back(0);  // a literal packet of one pixel
    }
    tga.insert(tga.end(), p.begin(), p.end());
    i += run;
  }
  return tga;
}

Bytes MakeHostileTga(uint16_t width, uint16_t height) {
  // 18-byte header and 12 bytes: three RLE packets of 4 pixels each.
  Bytes tga = MakeTga24(1, 1, {0, 0, 0}, true);
  tga.resize(18);
  tga[12] = static_cast<uint8_t>(width);
  tga[13] = static_cast<uint8_t>(width >> 8);
  tga[14] = static_cast<uint8_t>(height);
  tga[15] = static_cast<uint8_t>(height >> 8);
  for (int i = 0; i < 3; ++i) tga.insert(tga.end(), {0x83, 1, 2, 3});
  return tga;
}

}  // namespace persam::testing
