#include "video/label_png.h"

#include <png.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/error.h"

namespace persam {
namespace {

// libpng reports errors through a callback that must not return: it longjmps
// back to the setjmp in DecodeInto / EncodeInto. Those functions own no C++
// object whose destructor a longjmp would skip; the buffers they fill belong
// to their callers.
struct PngIo {
  const uint8_t* data = nullptr;  // reading
  size_t size = 0;
  size_t pos = 0;
  std::vector<uint8_t>* out = nullptr;  // writing
  char message[256] = "";
};

void OnPngError(png_structp png, png_const_charp message) {
  auto* io = static_cast<PngIo*>(png_get_error_ptr(png));
  std::snprintf(io->message, sizeof(io->message), "%s", message);
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}

void ReadFromMemory(png_structp png, png_bytep out, size_t count) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (count > io->size - io->pos) png_error(png, "the file ends early (truncated PNG)");
  std::memcpy(out, io->data + io->pos, count);
  io->pos += count;
}

void WriteToMemory(png_structp png, png_bytep data, size_t count) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  io->out->insert(io->out->end(), data, data + count);
}

void FlushNothing(png_structp) {}

// Pillow's "L;2" / "L;4" raw modes stretch low-depth grey to 0..255; "1"
// (1-bit) stays 0/1 (numpy bool), and palette indices are never scaled.
uint8_t GreyScale(int bit_depth) { return bit_depth == 2 ? 85 : bit_depth == 4 ? 17 : 1; }

// libpng allocates a chunk's declared length before reading it. From memory
// no chunk can be longer than what is left of the file, so every chunk
// header up to IEND is checked first: a damaged length cannot make it
// allocate more than the file's size.
bool ChunksFit(const uint8_t* data, size_t size, PngIo* io) {
  size_t pos = 8;
  while (pos + 12 <= size) {
    const uint32_t length = (uint32_t{data[pos]} << 24) | (uint32_t{data[pos + 1]} << 16) |
                            (uint32_t{data[pos + 2]} << 8) | data[pos + 3];
    if (length > size - pos - 12) break;
    if (std::memcmp(data + pos + 4, "IEND", 4) == 0) return true;
    pos += 12 + static_cast<size_t>(length);
  }
  std::snprintf(io->message, sizeof(io->message), "chunk at byte %zu overruns the file (truncated PNG)", pos);
  return false;
}

bool DecodeInto(png_structp png, png_infop info, PngIo* io, LabelMap* map, std::vector<png_bytep>* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, io, ReadFromMemory);
  png_set_user_limits(png, kMaxLabelSide, kMaxLabelSide);
  png_set_chunk_malloc_max(png, 8u << 20);
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  // Deflate expands at most ~1032:1 and a 1-bit row packs 8 pixels per
  // byte: a larger image cannot be in this file (no allocation for it).
  if (static_cast<double>(width) * height > 8.0 * 1100.0 * static_cast<double>(io->size) + 4096.0) {
    png_error(png, "image size in the header exceeds what the file can hold");
  }
  const bool palette = color_type == PNG_COLOR_TYPE_PALETTE;
  if (!(palette || (color_type == PNG_COLOR_TYPE_GRAY && bit_depth <= 8))) {
    std::snprintf(io->message, sizeof(io->message),
                  "is a %d-bit %s PNG; expected an indexed (palette) or 8-bit greyscale PNG of object ids",
                  bit_depth,
                  color_type == PNG_COLOR_TYPE_GRAY         ? "greyscale"
                  : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? "greyscale+alpha"
                  : color_type == PNG_COLOR_TYPE_RGB        ? "RGB"
                                                            : "RGBA");
    return false;
  }
  if (palette) {
    png_colorp entries = nullptr;
    int count = 0;
    if (png_get_PLTE(png, info, &entries, &count) == PNG_INFO_PLTE) {
      for (int i = 0; i < count; ++i) map->palette.push_back({entries[i].red, entries[i].green, entries[i].blue});
    }
  }
  if (bit_depth < 8) png_set_packing(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != width) png_error(png, "unexpected row size after unpacking");
  map->width = static_cast<int>(width);
  map->height = static_cast<int>(height);
  map->ids.resize(static_cast<size_t>(width) * height);
  rows->resize(height);
  for (png_uint_32 y = 0; y < height; ++y) (*rows)[y] = map->ids.data() + static_cast<size_t>(y) * width;
  png_read_image(png, rows->data());
  if (!palette && bit_depth > 1 && bit_depth < 8) {
    const uint8_t scale = GreyScale(bit_depth);
    for (uint8_t& v : map->ids) v = static_cast<uint8_t>(v * scale);
  }
  return true;
}

bool EncodeInto(png_structp png, png_infop info, PngIo* io, const LabelMap* map, std::vector<png_bytep>* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, io, WriteToMemory, FlushNothing);
  const bool palette = !map->palette.empty();
  png_set_IHDR(png, info, static_cast<png_uint_32>(map->width), static_cast<png_uint_32>(map->height), 8,
               palette ? PNG_COLOR_TYPE_PALETTE : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_color entries[256];
  if (palette) {
    for (size_t i = 0; i < map->palette.size(); ++i) {
      entries[i] = png_color{map->palette[i][0], map->palette[i][1], map->palette[i][2]};
    }
    png_set_PLTE(png, info, entries, static_cast<int>(map->palette.size()));
  }
  png_write_info(png, info);
  png_write_image(png, rows->data());
  png_write_end(png, nullptr);
  return true;
}

}  // namespace

LabelMap DecodeLabelPng(const uint8_t* data, size_t size, const std::string& name) {
  LabelMap map;
  std::vector<png_bytep> rows;
  PngIo io;
  io.data = data;
  io.size = size;
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) throw Error("'" + name + "' is not a PNG file");
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, OnPngError, OnPngWarning);
  if (png == nullptr) throw Error("'" + name + "': cannot create a PNG reader");
  png_infop info = png_create_info_struct(png);
  const bool ok = info != nullptr && ChunksFit(data, size, &io) && DecodeInto(png, info, &io, &map, &rows);
  png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  if (!ok) {
    const std::string what = io.message[0] != '\0' ? io.message : "cannot be decoded";
    const bool sentence = what.rfind("is ", 0) == 0;
    throw Error("label PNG '" + name + "' " + (sentence ? what : "cannot be decoded: " + what));
  }
  return map;
}

LabelMap ReadLabelPng(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw Error("cannot open label PNG '" + path + "': " + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0) bytes.insert(bytes.end(), buffer, buffer + n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw Error("cannot read label PNG '" + path + "'");
  return DecodeLabelPng(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> EncodeLabelPng(const LabelMap& map) {
  if (map.width <= 0 || map.height <= 0 || map.ids.size() != static_cast<size_t>(map.width) * map.height) {
    throw Error("label map of " + std::to_string(map.ids.size()) + " ids is not " + std::to_string(map.width) +
                " x " + std::to_string(map.height));
  }
  if (map.palette.size() > 256) throw Error("a PNG palette holds at most 256 colours");
  std::vector<uint8_t> out;
  std::vector<png_bytep> rows(map.height);
  for (int y = 0; y < map.height; ++y) {
    rows[y] = const_cast<png_bytep>(map.ids.data() + static_cast<size_t>(y) * map.width);
  }
  PngIo io;
  io.out = &out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, OnPngError, OnPngWarning);
  if (png == nullptr) throw Error("cannot create a PNG writer");
  png_infop info = png_create_info_struct(png);
  const bool ok = info != nullptr && EncodeInto(png, info, &io, &map, &rows);
  png_destroy_write_struct(&png, info != nullptr ? &info : nullptr);
  if (!ok) throw Error(std::string("cannot encode a label PNG: ") + io.message);
  return out;
}

void WriteLabelPng(const std::string& path, const LabelMap& map) {
  const std::vector<uint8_t> bytes = EncodeLabelPng(map);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw Error("cannot write '" + path + "': " + std::strerror(errno));
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !written) throw Error("cannot write '" + path + "' (disk full?)");
}

std::vector<PaletteEntry> DavisPalette() {
  std::vector<PaletteEntry> palette(256);
  for (int i = 0; i < 256; ++i) {
    int c = i;
    uint8_t rgb[3] = {0, 0, 0};
    for (int bit = 7; bit >= 0; --bit, c >>= 3) {
      for (int ch = 0; ch < 3; ++ch) rgb[ch] |= static_cast<uint8_t>(((c >> ch) & 1) << bit);
    }
    palette[i] = {rgb[0], rgb[1], rgb[2]};
  }
  return palette;
}

}  // namespace persam
