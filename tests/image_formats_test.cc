// Decoding every accepted format the way cv2.imread(IMREAD_COLOR) does:
// colour types and depths of PNG, grey/CMYK/YCCK JPEG, BMP, TGA, WebP, HEIF;
// truncated files refused; the pixel limit.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/image.h"
#include "engine/image_formats.h"
#include "tests/fixtures.h"
#include "tests/image_test_files.h"
#include "weights/json.h"

// After <cstddef> and <cstdio>: jpeglib.h uses size_t and FILE undeclared.
#include <jpeglib.h>

#include <spng.h>

#if PERSAM_HAVE_WEBP
#include <webp/encode.h>
#endif
#if PERSAM_HAVE_HEIF
#include <libheif/heif.h>
#endif

namespace persam {
namespace {

using testing::Bytes;

RgbImage Decode(const Bytes& bytes, const std::string& name = "test") {
  return DecodeImage(bytes.data(), bytes.size(), name);
}

// The message of the persam::Error that decoding throws ("" when none).
std::string DecodeError(const Bytes& bytes, const std::string& name) {
  try {
    Decode(bytes, name);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<int> Channel(const RgbImage& image, int c) {
  std::vector<int> out;
  for (size_t i = c; i < image.pixels.size(); i += 3) out.push_back(image.pixels[i]);
  return out;
}

TEST_CASE("PNG: 16-bit samples keep their high byte, as cv2.imread does") {
  // cv2.imread of this grey file gives 18 18 254 0 (libpng strip_16).
  const Bytes grey16 = testing::MakePng(4, 1, 16, 0, {{0x12, 0xFF, 0x12, 0x00, 0xFE, 0x80, 0x00, 0x01}});
  const RgbImage g = Decode(grey16);
  CHECK(Channel(g, 0) == std::vector<int>{18, 18, 254, 0});
  CHECK(Channel(g, 2) == std::vector<int>{18, 18, 254, 0});
  const Bytes rgb16 = testing::MakePng(1, 1, 16, 2, {{0xAB, 0xFF, 0x01, 0x80, 0x7F, 0x7F}});
  CHECK(Decode(rgb16).pixels == std::vector<uint8_t>{0xAB, 0x01, 0x7F});
  // Grey + alpha, 16-bit: alpha dropped.
  const Bytes ga16 = testing::MakePng(1, 1, 16, 4, {{0x40, 0x01, 0x00, 0x00}});
  CHECK(Decode(ga16).pixels == std::vector<uint8_t>{0x40, 0x40, 0x40});
}

TEST_CASE("PNG: palette, low-bit grey and grey + alpha become RGB") {
  const std::vector<testing::PngChunk> palette = {
      {"PLTE", {10, 20, 30, 200, 100, 0, 0, 0, 255}},
      {"tRNS", {0, 128}},  // transparency is dropped, not blended
  };
  const RgbImage p8 = Decode(testing::MakePng(3, 1, 8, 3, {{2, 0, 1}}, palette));
  CHECK(p8.pixels == std::vector<uint8_t>{0, 0, 255, 10, 20, 30, 200, 100, 0});
  // 2-bit palette indices 1, 2, 0, 1 packed in one byte.
  const RgbImage p2 = Decode(testing::MakePng(4, 1, 2, 3, {{0x61}}, palette));
  CHECK(Channel(p2, 0) == std::vector<int>{200, 0, 10, 200});
  // Low-bit grey is scaled to 0..255 (1-bit: 0/255; 2-bit: 0, 85, 170, 255).
  CHECK(Channel(Decode(testing::MakePng(8, 1, 1, 0, {{0xA5}})), 1) ==
        std::vector<int>{255, 0, 255, 0, 0, 255, 0, 255});
  CHECK(Channel(Decode(testing::MakePng(4, 1, 2, 0, {{0x1B}})), 2) == std::vector<int>{0, 85, 170, 255});
  // Grey + alpha, 8-bit.
  const RgbImage ga = Decode(testing::MakePng(2, 1, 8, 4, {{7, 0, 250, 255}}));
  CHECK(ga.pixels == std::vector<uint8_t>{7, 7, 7, 250, 250, 250});
}

TEST_CASE("PNG: truncated or corrupt data is an error naming the file, not invented pixels") {
  std::vector<Bytes> rows(64, Bytes(64 * 3));
  for (size_t y = 0; y < rows.size(); ++y) {
    for (size_t i = 0; i < rows[y].size(); ++i) rows[y][i] = static_cast<uint8_t>(y * 7 + i * 13);
  }
  const Bytes png = testing::MakePng(64, 64, 8, 2, rows);
  REQUIRE(Decode(png).height == 64);
  for (const size_t keep : {size_t{40}, png.size() / 2, png.size() - 20}) {
    CAPTURE(keep);
    const std::string message = DecodeError(Bytes(png.begin(), png.begin() + keep), "cut.png");
    CHECK(message.find("image 'cut.png': PNG data is cut or corrupt") == 0);
  }
  Bytes bad_crc = png;
  bad_crc[40] ^= 0xFF;  // inside IDAT: the chunk CRC no longer matches
  CHECK(DecodeError(bad_crc, "crc.png").find("'crc.png': PNG") != std::string::npos);
}

TEST_CASE("PNG: interlaced (Adam7) decodes as the plain file does") {
  const int w = 13, h = 7;
  Bytes rgb(size_t(w) * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 37);
  spng_ctx* ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr = {};
  ihdr.width = w;
  ihdr.height = h;
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR;
  ihdr.interlace_method = SPNG_INTERLACE_ADAM7;
  spng_set_ihdr(ctx, &ihdr);
  REQUIRE(spng_encode_image(ctx, rgb.data(), rgb.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE) == 0);
  size_t size = 0;
  int error = 0;
  auto* png = static_cast<uint8_t*>(spng_get_png_buffer(ctx, &size, &error));
  spng_ctx_free(ctx);
  REQUIRE(png != nullptr);
  const Bytes bytes(png, png + size);
  free(png);
  CHECK(Decode(bytes).pixels == rgb);
  CHECK(DecodeError(Bytes(bytes.begin(), bytes.end() - 30), "cut.png").find("image 'cut.png': PNG data is cut") == 0);
}

TEST_CASE("Every committed fuzz seed decodes (each format's path is reachable)") {
  int decoded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(PERSAM_SOURCE_DIR) + "/tests/fuzz/corpus/image")) {
    const std::string path = entry.path().string();
    const std::string ext = entry.path().extension().string();
    if ((ext == ".webp" && !PERSAM_HAVE_WEBP) || (ext == ".heic" && !PERSAM_HAVE_HEIF)) continue;
    CAPTURE(path);
    const RgbImage image = LoadImage(path);
    CHECK(image.pixels.size() == size_t(image.width) * image.height * 3);
    CHECK(image.width >= 8);
    ++decoded;
  }
  CHECK(decoded >= 15);
}

// A JPEG of `components` channels (1 grey, 3 RGB, 4 CMYK) of flat 8 x 8
// blocks, coded as `space` at quality 100: DC only, so the samples survive.
Bytes MakeJpeg(int width, int height, int components, J_COLOR_SPACE in_space, J_COLOR_SPACE space,
               const Bytes& pixels) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = components;
  cinfo.in_color_space = in_space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, space);
  jpeg_set_quality(&cinfo, 100, TRUE);
  for (int c = 0; c < cinfo.num_components; ++c) {
    cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;  // no subsampling
  }
  jpeg_start_compress(&cinfo, TRUE);
  for (int y = 0; y < height; ++y) {
    JSAMPROW row = const_cast<uint8_t*>(&pixels[size_t(y) * width * components]);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  Bytes out(buffer, buffer + size);
  free(buffer);
  return out;
}

TEST_CASE("JPEG: grey is replicated; CMYK and YCCK convert as OpenCV does") {
  const Bytes grey = {0, 64, 200, 255};  // one value per 8 x 8 block of a 32 x 8 image
  Bytes grey_pixels;
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 32; ++x) grey_pixels.push_back(grey[x / 8]);
  }
  const RgbImage g = Decode(MakeJpeg(32, 8, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, grey_pixels));
  REQUIRE(g.width == 32);
  for (int b = 0; b < 4; ++b) {
    for (int c = 0; c < 3; ++c) CHECK(std::abs(g.pixels[(b * 8 + 4) * 3 + c] - grey[b]) <= 1);
  }
  // Inks as stored by Adobe files (inverted: 255 = no ink). OpenCV: value =
  // k - ((255 - ink) * k >> 8), checked against cv2.imread of a Pillow CMYK
  // JPEG (Pillow writes this convention).
  const uint8_t inks[2][4] = {{255, 255, 255, 255}, {200, 100, 30, 180}};
  Bytes cmyk;
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 16; ++x) cmyk.insert(cmyk.end(), inks[x / 8], inks[x / 8] + 4);
  }
  for (const J_COLOR_SPACE space : {JCS_CMYK, JCS_YCCK}) {
    CAPTURE(static_cast<int>(space));
    const RgbImage image = Decode(MakeJpeg(16, 8, 4, JCS_CMYK, space, cmyk));
    REQUIRE(image.width == 16);
    for (int b = 0; b < 2; ++b) {
      const uint8_t* p = &image.pixels[(b * 8 + 4) * 3];
      const int k = inks[b][3];
      for (int c = 0; c < 3; ++c) {
        CAPTURE(b);
        CAPTURE(c);
        CHECK(std::abs(p[c] - (k - ((255 - inks[b][c]) * k >> 8))) <= 2);
      }
    }
  }
}

TEST_CASE("JPEG: truncated or corrupt files are refused with the file named") {
  Bytes pixels(64 * 48 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 31 % 251);
  const Bytes jpeg = MakeJpeg(64, 48, 3, JCS_RGB, JCS_YCbCr, pixels);
  REQUIRE(Decode(jpeg).width == 64);
  const std::string cut = DecodeError(Bytes(jpeg.begin(), jpeg.begin() + jpeg.size() * 2 / 3), "cut.jpg");
  CHECK(cut.find("'cut.jpg': cannot decode JPEG (Premature end") != std::string::npos);
  // Header only: no scan at all.
  CHECK(DecodeError(Bytes(jpeg.begin(), jpeg.begin() + 200), "head.jpg").find("'head.jpg'") !=
        std::string::npos);
  // A broken Huffman table (stb read out of bounds on such a file, issue 15).
  Bytes bad = jpeg;
  for (size_t i = 0; i + 4 < bad.size(); ++i) {
    if (bad[i] == 0xFF && bad[i + 1] == 0xC4) {  // DHT: make the code counts overflow
      for (size_t j = i + 5; j < i + 5 + 16; ++j) bad[j] = 0xFF;
      break;
    }
  }
  CHECK(DecodeError(bad, "huff.jpg").find("'huff.jpg': cannot decode JPEG") != std::string::npos);
}

TEST_CASE("JPEG: decoded bytes equal libjpeg-turbo's reference (video fixtures)") {
  if (!testing::HaveFixtures("JPEG reference decode")) return;
  const JsonValue manifest = ParseJsonFile(testing::FixturePath("manifest.json"));
  const JsonValue* video = manifest.Find("video");
  REQUIRE(video != nullptr);
  int frames = 0;
  for (const auto& [seq, info] : video->At("sequences").Members()) {
    for (const JsonValue& frame : info.At("frame_info").Items()) {
      const std::string path =
          testing::FixturePath("davis-mini/JPEGImages/480p/" + seq + "/" + frame.At("file").AsString() + ".jpg");
      const RgbImage image = LoadImage(path);
      int64_t sum = 0;
      for (const uint8_t v : image.pixels) sum += v;
      CAPTURE(path);
      CHECK(sum == frame.At("decoded_sum").AsInt64());
      ++frames;
    }
  }
  CHECK(frames > 0);
}

TEST_CASE("BMP and TGA decode through the checked stb path") {
  Bytes rgb;
  for (int i = 0; i < 5 * 3; ++i) rgb.insert(rgb.end(), {uint8_t(i * 10), uint8_t(255 - i), uint8_t(i % 3 * 100)});
  const RgbImage bmp = Decode(testing::MakeBmp24(5, 3, rgb));
  CHECK(bmp.width == 5);
  CHECK(bmp.height == 3);
  CHECK(bmp.pixels == rgb);
  for (const bool rle : {false, true}) {
    CAPTURE(rle);
    const RgbImage tga = Decode(testing::MakeTga24(5, 3, rgb, rle));
    CHECK(tga.pixels == rgb);
  }
  Bytes flat(40 * 2 * 3, 9);  // long runs: RLE packets of 128 and fewer
  CHECK(Decode(testing::MakeTga24(40, 2, flat, true)).pixels == flat);
  // Uncompressed data cut short: refused (stb would fill in the rest).
  Bytes bmp_cut = testing::MakeBmp24(5, 3, rgb);
  bmp_cut.resize(bmp_cut.size() - 4);
  CHECK(DecodeError(bmp_cut, "cut.bmp").find("'cut.bmp': BMP file ends before its pixels do") !=
        std::string::npos);
  Bytes tga_cut = testing::MakeTga24(5, 3, rgb, true);
  tga_cut.resize(tga_cut.size() - 2);
  CHECK(DecodeError(tga_cut, "cut.tga").find("'cut.tga': TGA file ends before its pixels do") !=
        std::string::npos);
}

TEST_CASE("WebP decodes when built in, alpha dropped") {
#if PERSAM_HAVE_WEBP
  Bytes rgb;
  for (int i = 0; i < 6 * 4; ++i) rgb.insert(rgb.end(), {uint8_t(i * 9), uint8_t(i * 3), uint8_t(200 - i)});
  uint8_t* out = nullptr;
  const size_t size = WebPEncodeLosslessRGB(rgb.data(), 6, 4, 6 * 3, &out);
  REQUIRE(size > 0);
  const Bytes webp(out, out + size);
  WebPFree(out);
  const RgbImage image = Decode(webp);
  CHECK(image.width == 6);
  CHECK(image.height == 4);
  CHECK(image.pixels == rgb);
  CHECK(DecodeError(Bytes(webp.begin(), webp.begin() + webp.size() / 2), "cut.webp").find("'cut.webp'") !=
        std::string::npos);
#else
  MESSAGE("skipped: this build has no WebP support (-Dwebp)");
  CHECK(DecodableFormats().find("WebP") == std::string::npos);
#endif
}

TEST_CASE("A file of an optional format the build lacks gets an error naming the fix") {
  std::string message;
  try {
    ThrowNotBuiltIn("photo.webp", "WebP", "libwebp-dev", "webp");
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message == "image 'photo.webp': a WebP file, but this build has no WebP support "
                   "(install libwebp-dev and reconfigure with meson -Dwebp=enabled)");
}

TEST_CASE("HEIF decodes when built in") {
#if PERSAM_HAVE_HEIF
  if (!heif_have_encoder_for_format(heif_compression_HEVC)) {
    MESSAGE("skipped: libheif has no HEVC encoder to make a test file");
    return;
  }
  const int width = 64, height = 32;
  heif_image* image = nullptr;
  REQUIRE(heif_image_create(width, height, heif_colorspace_RGB, heif_chroma_interleaved_RGB, &image).code ==
          heif_error_Ok);
  REQUIRE(heif_image_add_plane(image, heif_channel_interleaved, width, height, 8).code == heif_error_Ok);
  int stride = 0;
  uint8_t* plane = heif_image_get_plane(image, heif_channel_interleaved, &stride);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = plane + size_t(y) * stride + x * 3;
      p[0] = x < width / 2 ? 220 : 20;  // red left half, blue right half
      p[1] = 30;
      p[2] = x < width / 2 ? 20 : 220;
    }
  }
  heif_context* ctx = heif_context_alloc();
  heif_encoder* encoder = nullptr;
  REQUIRE(heif_context_get_encoder_for_format(ctx, heif_compression_HEVC, &encoder).code == heif_error_Ok);
  heif_encoder_set_lossy_quality(encoder, 90);
  REQUIRE(heif_context_encode_image(ctx, image, encoder, nullptr, nullptr).code == heif_error_Ok);
  heif_encoder_release(encoder);
  heif_image_release(image);
  Bytes heic;
  heif_writer writer = {};
  writer.writer_api_version = 1;
  writer.write = [](heif_context*, const void* data, size_t size, void* user) {
    auto* out = static_cast<Bytes*>(user);
    out->insert(out->end(), static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + size);
    return heif_error{heif_error_Ok, heif_suberror_Unspecified, ""};
  };
  REQUIRE(heif_context_write(ctx, &writer, &heic).code == heif_error_Ok);
  heif_context_free(ctx);
  const RgbImage decoded = Decode(heic, "test.heic");
  REQUIRE(decoded.width == width);
  REQUIRE(decoded.height == height);
  const uint8_t* left = &decoded.pixels[(size_t(16) * width + 8) * 3];
  const uint8_t* right = &decoded.pixels[(size_t(16) * width + 56) * 3];
  CHECK(std::abs(left[0] - 220) <= 12);  // lossy HEVC: a loose bound
  CHECK(std::abs(right[2] - 220) <= 12);
  CHECK(DecodeError(Bytes(heic.begin(), heic.begin() + heic.size() / 2), "cut.heic").find("'cut.heic': HEIF") !=
        std::string::npos);
#else
  MESSAGE("skipped: this build has no HEIF support (-Dheif)");
  CHECK(DecodableFormats().find("HEIF") == std::string::npos);
#endif
}

TEST_CASE("Binary masks: 1-bit grey and palette PNGs decode back; other values are refused") {
  const int h = 5, w = 11;  // rows end mid-byte
  Bytes mask(size_t(h) * w);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 7) % 3 == 0 ? 255 : 0;
  const Bytes png = EncodeBinaryMaskPng(h, w, mask.data());
  CHECK(png.size() < EncodeGrayPng(h, w, mask.data()).size());
  CHECK(Channel(Decode(png), 0) == std::vector<int>(mask.begin(), mask.end()));
  const std::string path = std::filesystem::temp_directory_path() / "persam_image_test_red_mask.png";
  const uint8_t red[3] = {128, 0, 0};
  SaveBinaryMaskPng(path, h, w, mask.data(), red);
  const RgbImage back = LoadImage(path);
  std::filesystem::remove(path);
  for (size_t i = 0; i < mask.size(); ++i) {
    CHECK(back.pixels[i * 3] == (mask[i] ? 128 : 0));
    CHECK(back.pixels[i * 3 + 1] == 0);
  }
  mask[13] = 7;
  try {
    EncodeBinaryMaskPng(h, w, mask.data());
    FAIL("a mask value of 7 was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "image '(in memory)': a binary mask holds only 0 and 255, found 7 at pixel 13");
  }
}

TEST_CASE("The pixel limit is checked from the header, configurable") {
  const Bytes png = testing::MakePng(11, 10, 8, 0, std::vector<Bytes>(10, Bytes(11, 5)));
  CHECK(MaxImagePixels() == kDefaultMaxImagePixels);
  SetMaxImagePixels(109);
  const std::string message = DecodeError(png, "big.png");
  SetMaxImagePixels(110);
  const RgbImage ok = Decode(png);
  SetMaxImagePixels(kDefaultMaxImagePixels);
  CHECK(message == "image 'big.png': PNG header claims 11 x 10 pixels, more than the limit of 109 pixels "
                   "(raise it with --max-image-pixels)");
  CHECK(ok.width == 11);
  CHECK(DecodeError({'h', 'e', 'l', 'l', 'o'}, "text.png").find("'text.png': not an image this build decodes") !=
        std::string::npos);
}

}  // namespace
}  // namespace persam
