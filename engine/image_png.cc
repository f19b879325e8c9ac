// PNG through libspng, chosen over libpng for its small, setjmp-free API with
// the limits untrusted files need (image size, chunk size and chunk cache),
// a one-call conversion of every colour type and depth to RGB8, and an
// encoder whose speed settings are documented; Debian ships it (libspng-dev).
//
// Decoding matches cv2.imread(IMREAD_COLOR) (libpng with strip_16,
// palette_to_rgb, gray_to_rgb, strip_alpha): 16-bit samples keep their high
// byte (what stb did too), palette and low-bit grey expand to 8-bit values,
// grey is replicated, alpha and tRNS are dropped (not blended), no gamma.
#include <spng.h>

#include <cstdlib>
#include <memory>

#include "base/error.h"
#include "engine/image_formats.h"

namespace persam {
namespace {

// Bounds on what a PNG's ancillary chunks may make the decoder hold
// (text, ICC profiles): we read none of them, so a few MiB is generous.
constexpr size_t kMaxChunkBytes = size_t{8} << 20;
constexpr size_t kMaxChunkCacheBytes = size_t{32} << 20;

// zlib level 1 and the Sub filter on every row: for a 2048 x 1365 photo
// overlay 7x less CPU than level 6 with spng's per-row filter choice (which
// tries all five filters on every row) and a file 1 % smaller; Up or Paeth
// compress no better here, RLE-only matching is 20 % faster but 35 % larger
// (bench/image_write_bench.cc and the figures in the commit message).
constexpr int kPngCompressionLevel = 1;

struct SpngDeleter {
  void operator()(spng_ctx* ctx) const { spng_ctx_free(ctx); }
};
using SpngContext = std::unique_ptr<spng_ctx, SpngDeleter>;

[[noreturn]] void Fail(const std::string& name, const std::string& what, int error) {
  throw Error("image '" + name + "': PNG " + what + " (" + spng_strerror(error) + ")");
}

}  // namespace

RgbImage DecodePng(const uint8_t* data, size_t size, const std::string& name) {
  SpngContext ctx(spng_ctx_new(0));
  if (!ctx) throw Error("image '" + name + "': cannot create a PNG decoder");
  // spng keeps a pointer to the buffer and never writes to it.
  int error = spng_set_png_buffer(ctx.get(), const_cast<uint8_t*>(data), size);
  if (!error) error = spng_set_chunk_limits(ctx.get(), kMaxChunkBytes, kMaxChunkCacheBytes);
  if (error) Fail(name, "decoder setup failed", error);
  spng_ihdr ihdr;
  error = spng_get_ihdr(ctx.get(), &ihdr);
  if (error) Fail(name, "header is invalid", error);
  CheckImageSize(name, "PNG", ihdr.width, ihdr.height);

  RgbImage image;
  image.height = static_cast<int>(ihdr.height);
  image.width = static_cast<int>(ihdr.width);
  const size_t row_bytes = size_t(image.width) * 3;
  error = spng_decode_image(ctx.get(), nullptr, 0, SPNG_FMT_RGB8, SPNG_DECODE_PROGRESSIVE);
  if (error) Fail(name, "data is cut or corrupt", error);
  if (ihdr.interlace_method == SPNG_INTERLACE_NONE) {
    // Rows arrive in order: grow the image row by row, so a file whose data
    // ends early costs memory for the rows it holds, not the rows it claims.
    image.pixels.reserve(row_bytes * image.height);
    for (int y = 0; y < image.height; ++y) {
      image.pixels.resize(row_bytes * (y + 1));
      error = spng_decode_row(ctx.get(), image.pixels.data() + row_bytes * y, row_bytes);
      if (error && !(error == SPNG_EOI && y == image.height - 1)) {
        Fail(name, "data is cut or corrupt at row " + std::to_string(y), error);
      }
    }
    return image;
  }
  // Interlaced (Adam7): passes revisit every row, so the whole image is needed.
  image.pixels.resize(row_bytes * image.height);
  spng_row_info info;
  do {
    error = spng_get_row_info(ctx.get(), &info);
    if (error) break;
    error = spng_decode_row(ctx.get(), image.pixels.data() + row_bytes * info.row_num, row_bytes);
  } while (!error);
  if (error != SPNG_EOI) Fail(name, "data is cut or corrupt (interlaced)", error);
  return image;
}

std::vector<uint8_t> EncodePngBytes(int height, int width, const uint8_t* pixels, int channels,
                                    bool one_bit, const uint8_t* colour) {
  SpngContext ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) throw Error("PNG encoder: cannot create an encoder");
  spng_ihdr ihdr = {};
  ihdr.width = static_cast<uint32_t>(width);
  ihdr.height = static_cast<uint32_t>(height);
  ihdr.bit_depth = one_bit ? 1 : 8;
  ihdr.color_type = colour != nullptr ? SPNG_COLOR_TYPE_INDEXED
                    : channels == 1   ? SPNG_COLOR_TYPE_GRAYSCALE
                    : channels == 3   ? SPNG_COLOR_TYPE_TRUECOLOR
                                      : SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
  int error = spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
  if (!error) error = spng_set_option(ctx.get(), SPNG_IMG_COMPRESSION_LEVEL, kPngCompressionLevel);
  // 1-bit rows are left to spng, which does not filter below 8 bits.
  if (!error && !one_bit) error = spng_set_option(ctx.get(), SPNG_FILTER_CHOICE, SPNG_FILTER_CHOICE_SUB);
  if (!error) error = spng_set_ihdr(ctx.get(), &ihdr);
  if (!error && colour != nullptr) {
    spng_plte plte = {};
    plte.n_entries = 2;
    plte.entries[1] = {colour[0], colour[1], colour[2], 255};
    error = spng_set_plte(ctx.get(), &plte);
  }
  if (error) throw Error(std::string("PNG encoder: setup failed (") + spng_strerror(error) + ")");

  // 1-bit rows: MSB first, 1 = 255 (or palette entry 1); the rest of the
  // last byte is zero.
  std::vector<uint8_t> packed;
  const uint8_t* source = pixels;
  size_t source_bytes = size_t(height) * width * channels;
  if (one_bit) {
    const size_t stride = (size_t(width) + 7) / 8;
    packed.assign(stride * height, 0);
    for (int y = 0; y < height; ++y) {
      const uint8_t* in = pixels + size_t(y) * width;
      uint8_t* out = packed.data() + stride * y;
      for (int x = 0; x < width; ++x) out[x >> 3] |= static_cast<uint8_t>((in[x] & 1) << (7 - (x & 7)));
    }
    source = packed.data();
    source_bytes = packed.size();
  }
  error = spng_encode_image(ctx.get(), source, source_bytes, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  size_t png_size = 0;
  void* png = error ? nullptr : spng_get_png_buffer(ctx.get(), &png_size, &error);
  if (!png) {
    throw Error("PNG encoder: cannot encode a " + std::to_string(height) + " x " +
                std::to_string(width) + " image (" + spng_strerror(error) + ")");
  }
  std::unique_ptr<void, void (*)(void*)> owned(png, &std::free);
  const auto* bytes = static_cast<const uint8_t*>(png);
  return std::vector<uint8_t>(bytes, bytes + png_size);
}

}  // namespace persam
