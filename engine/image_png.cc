// Reading PNG through libspng, chosen over libpng for its small, setjmp-free
// API with the limits untrusted files need (image size, chunk size and chunk
// cache) and a one-call conversion of every colour type and depth to RGB8;
// Debian ships it (libspng-dev). Writing: engine/image_png_encode.cc.
//
// Decoding matches cv2.imread(IMREAD_COLOR) (libpng with strip_16,
// palette_to_rgb, gray_to_rgb, strip_alpha): 16-bit samples keep their high
// byte (what stb did too), palette and low-bit grey expand to 8-bit values,
// grey is replicated, alpha and tRNS are dropped (not blended), no gamma.
#include <spng.h>

#include <memory>

#include "base/error.h"
#include "engine/image_formats.h"

namespace persam {
namespace {

// Bounds on what a PNG's ancillary chunks may make the decoder hold
// (text, ICC profiles): we read none of them, so a few MiB is generous.
constexpr size_t kMaxChunkBytes = size_t{8} << 20;
constexpr size_t kMaxChunkCacheBytes = size_t{32} << 20;

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

}  // namespace persam
