// Image files built byte by byte for the decoder tests: valid files of each
// colour type and depth, and the hostile files of issue 15 (headers that
// claim far more pixels than the file holds).
#ifndef PERSAM_TESTS_IMAGE_TEST_FILES_H_
#define PERSAM_TESTS_IMAGE_TEST_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace persam::testing {

using Bytes = std::vector<uint8_t>;

// A PNG of `rows` raw scanlines (each without its filter byte; filter 0 is
// added) deflated by zlib. `extra` chunks (e.g. PLTE, tRNS) go before IDAT.
struct PngChunk {
  std::string type;
  Bytes data;
};
Bytes MakePng(uint32_t width, uint32_t height, int bit_depth, int color_type, const std::vector<Bytes>& rows,
              const std::vector<PngChunk>& extra = {});
// A PNG whose `height` rows of `row_bytes` zeros are deflated as a stream,
// never held in memory: a few hundred KiB claiming gigapixels.
Bytes MakeZeroPng(uint32_t width, uint32_t height, int color_type);

// BMP (BITMAPINFOHEADER, 24-bit, uncompressed) of top-down RGB pixels (stored
// bottom-up as usual).
Bytes MakeBmp24(int width, int height, const Bytes& rgb);
// The 126-byte hostile BMP: a header claiming width x height, no pixels.
Bytes MakeHostileBmp(int32_t width, int32_t height);
// 24-bit TGA of top-down RGB pixels, uncompressed (type 2) or RLE (type 10:
// runs of equal pixels, literal packets otherwise).
Bytes MakeTga24(int width, int height, const Bytes& rgb, bool rle);
// The 30-byte hostile RLE TGA claiming width x height.
Bytes MakeHostileTga(uint16_t width, uint16_t height);

}  // namespace persam::testing

#endif  // PERSAM_TESTS_IMAGE_TEST_FILES_H_
