// Image decoding: errors, channel conversions, EXIF orientation of JPEGs.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/exif_orientation.h"
#include "engine/image.h"
#include "base/error.h"

namespace persam {
namespace {

// A scratch directory removed at exit of the test case.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/persam_image_test_XXXXXX";
    const char* dir = mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    path = dir;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string File(const std::string& name) const { return path + "/" + name; }
};

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// Six saturated colours, far apart so JPEG rounding cannot confuse them.
constexpr uint8_t kColors[6][3] = {{255, 0, 0},   {0, 255, 0},   {0, 0, 255},
                                   {255, 255, 0}, {0, 255, 255}, {255, 0, 255}};
constexpr int kBlock = 16;

// 2 x 3 blocks of 16 x 16 pixels, labelled A B C / D E F (0..5).
RgbImage BlockImage() {
  RgbImage image;
  image.height = 2 * kBlock;
  image.width = 3 * kBlock;
  image.pixels.resize(size_t(image.height) * image.width * 3);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      const int label = (y / kBlock) * 3 + x / kBlock;
      for (int c = 0; c < 3; ++c) image.pixels[(size_t(y) * image.width + x) * 3 + c] = kColors[label][c];
    }
  }
  return image;
}

// Label of the block whose centre pixel is nearest a known colour.
int LabelAt(const RgbImage& image, int block_row, int block_col) {
  const int y = block_row * kBlock + kBlock / 2, x = block_col * kBlock + kBlock / 2;
  const uint8_t* p = &image.pixels[(size_t(y) * image.width + x) * 3];
  int best = -1, best_d = 1 << 30;
  for (int l = 0; l < 6; ++l) {
    int d = 0;
    for (int c = 0; c < 3; ++c) d += (p[c] - kColors[l][c]) * (p[c] - kColors[l][c]);
    if (d < best_d) best_d = d, best = l;
  }
  CHECK(best_d < 3 * 40 * 40);  // a clean block colour, not a blend
  return best;
}

// APP1 "Exif" segment holding one IFD0 entry: Orientation (0x0112, SHORT).
std::vector<uint8_t> ExifSegment(int orientation, bool big_endian) {
  std::vector<uint8_t> tiff;
  auto put16 = [&](uint16_t v) {
    if (big_endian) { tiff.push_back(v >> 8); tiff.push_back(v & 0xFF); }
    else { tiff.push_back(v & 0xFF); tiff.push_back(v >> 8); }
  };
  auto put32 = [&](uint32_t v) {
    if (big_endian) { put16(v >> 16); put16(v & 0xFFFF); }
    else { put16(v & 0xFFFF); put16(v >> 16); }
  };
  tiff.push_back(big_endian ? 'M' : 'I');
  tiff.push_back(big_endian ? 'M' : 'I');
  put16(42);
  put32(8);  // IFD0 right after the header
  put16(2);  // two entries: an unrelated tag first, then the orientation
  put16(0x010F); put16(2); put32(4); tiff.insert(tiff.end(), {'A', 'B', 'C', 0});  // Make
  put16(0x0112); put16(3); put32(1); put16(static_cast<uint16_t>(orientation)); put16(0);
  put32(0);  // no next IFD
  std::vector<uint8_t> seg = {0xFF, 0xE1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
  seg.insert(seg.end(), tiff.begin(), tiff.end());
  const size_t length = seg.size() - 2;
  seg[2] = static_cast<uint8_t>(length >> 8);
  seg[3] = static_cast<uint8_t>(length & 0xFF);
  return seg;
}

// A JPEG of BlockImage() with the EXIF segment spliced after its APP0.
std::vector<uint8_t> JpegWithOrientation(const TempDir& dir, int orientation, bool big_endian) {
  const std::string plain = dir.File("plain.jpg");
  SaveJpeg(plain, BlockImage(), 100);
  std::vector<uint8_t> bytes = ReadBytes(plain);
  REQUIRE(bytes.size() > 20);
  REQUIRE(bytes[2] == 0xFF);
  size_t insert_at = 2;
  if (bytes[3] == 0xE0) insert_at = 4 + ((size_t(bytes[4]) << 8) | bytes[5]);  // after JFIF APP0
  const std::vector<uint8_t> seg = ExifSegment(orientation, big_endian);
  bytes.insert(bytes.begin() + insert_at, seg.begin(), seg.end());
  return bytes;
}

TEST_CASE("LoadImage reports missing files, non-images and directories") {
  TempDir dir;
  CHECK_THROWS_AS(LoadImage(dir.File("does_not_exist.png")), Error);
  try {
    LoadImage(dir.File("does_not_exist.png"));
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("does_not_exist.png") != std::string::npos);
  }
  WriteBytes(dir.File("text.png"), {'h', 'e', 'l', 'l', 'o', '\n'});
  CHECK_THROWS_AS(LoadImage(dir.File("text.png")), Error);
  WriteBytes(dir.File("empty.jpg"), {});
  CHECK_THROWS_AS(LoadImage(dir.File("empty.jpg")), Error);
  CHECK_THROWS_AS(LoadImage(dir.path), Error);
  // A truncated JPEG must fail cleanly or decode, never crash.
  SaveJpeg(dir.File("full.jpg"), BlockImage(), 90);
  std::vector<uint8_t> bytes = ReadBytes(dir.File("full.jpg"));
  bytes.resize(bytes.size() / 3);
  WriteBytes(dir.File("cut.jpg"), bytes);
  try {
    const RgbImage cut = LoadImage(dir.File("cut.jpg"));
    CHECK(cut.pixels.size() == size_t(cut.height) * cut.width * 3);
  } catch (const Error&) {
  }
}

TEST_CASE("PNG round trip is lossless; grey and RGBA become RGB") {
  TempDir dir;
  const RgbImage image = BlockImage();
  SavePng(dir.File("rgb.png"), image);
  const RgbImage back = LoadImage(dir.File("rgb.png"));
  CHECK(back.height == image.height);
  CHECK(back.width == image.width);
  CHECK(back.pixels == image.pixels);

  // Grey: replicated into the three channels.
  const int h = 3, w = 5;
  std::vector<uint8_t> grey(h * w);
  for (int i = 0; i < h * w; ++i) grey[i] = static_cast<uint8_t>(i * 17);
  SaveGrayPng(dir.File("grey.png"), h, w, grey.data());
  const RgbImage g = LoadImage(dir.File("grey.png"));
  REQUIRE(g.height == h);
  REQUIRE(g.width == w);
  for (int i = 0; i < h * w; ++i) {
    CHECK(g.pixels[i * 3 + 0] == grey[i]);
    CHECK(g.pixels[i * 3 + 1] == grey[i]);
    CHECK(g.pixels[i * 3 + 2] == grey[i]);
  }

  // RGBA: alpha dropped, colour kept as is (OpenCV IMREAD_COLOR does not blend).
  std::vector<uint8_t> rgba(h * w * 4);
  for (int i = 0; i < h * w; ++i) {
    rgba[i * 4 + 0] = static_cast<uint8_t>(i * 3);
    rgba[i * 4 + 1] = static_cast<uint8_t>(200 - i);
    rgba[i * 4 + 2] = static_cast<uint8_t>(i * 11);
    rgba[i * 4 + 3] = static_cast<uint8_t>(i * 16);  // includes fully transparent
  }
  WriteBytes(dir.File("rgba.png"), EncodeRgbaPng(h, w, rgba.data()));
  const RgbImage c = LoadImage(dir.File("rgba.png"));
  REQUIRE(c.pixels.size() == size_t(h) * w * 3);
  for (int i = 0; i < h * w; ++i) {
    CHECK(c.pixels[i * 3 + 0] == rgba[i * 4 + 0]);
    CHECK(c.pixels[i * 3 + 1] == rgba[i * 4 + 1]);
    CHECK(c.pixels[i * 3 + 2] == rgba[i * 4 + 2]);
  }
}

TEST_CASE("Save functions reject inconsistent sizes") {
  TempDir dir;
  RgbImage bad;
  bad.height = 2;
  bad.width = 2;
  bad.pixels.resize(5);
  CHECK_THROWS_AS(SavePng(dir.File("bad.png"), bad), Error);
  CHECK_THROWS_AS(SaveJpeg(dir.File("bad.jpg"), bad), Error);
  CHECK_THROWS_AS(SaveJpeg(dir.File("q.jpg"), BlockImage(), 0), Error);
  CHECK_THROWS_AS(SaveGrayPng(dir.File("g.png"), 0, 3, bad.pixels.data()), Error);
  CHECK_THROWS_AS(SavePng(dir.File("no_such_dir/x.png"), BlockImage()), Error);
}

TEST_CASE("JPEG EXIF orientation is applied as OpenCV's imread does") {
  TempDir dir;
  // Expected block labels (A..F = 0..5 of the stored 2 x 3 layout) after each
  // orientation, row by row, as displayed by a viewer that honours EXIF.
  struct Case {
    int orientation, rows, cols;
    std::vector<int> labels;
  };
  const Case cases[] = {
      {1, 2, 3, {0, 1, 2, 3, 4, 5}},  // as stored
      {2, 2, 3, {2, 1, 0, 5, 4, 3}},  // mirrored left-right
      {3, 2, 3, {5, 4, 3, 2, 1, 0}},  // rotated 180
      {4, 2, 3, {3, 4, 5, 0, 1, 2}},  // mirrored top-bottom
      {5, 3, 2, {0, 3, 1, 4, 2, 5}},  // transposed
      {6, 3, 2, {3, 0, 4, 1, 5, 2}},  // rotated 90 clockwise
      {7, 3, 2, {5, 2, 4, 1, 3, 0}},  // transversed
      {8, 3, 2, {2, 5, 1, 4, 0, 3}},  // rotated 90 counter-clockwise
  };
  for (const bool big_endian : {false, true}) {
    for (const Case& c : cases) {
      CAPTURE(c.orientation);
      CAPTURE(big_endian);
      const std::vector<uint8_t> bytes = JpegWithOrientation(dir, c.orientation, big_endian);
      CHECK(JpegExifOrientation(bytes.data(), bytes.size()) == c.orientation);
      const std::string path = dir.File("oriented.jpg");
      WriteBytes(path, bytes);
      const RgbImage image = LoadImage(path);
      REQUIRE(image.height == c.rows * kBlock);
      REQUIRE(image.width == c.cols * kBlock);
      for (int r = 0; r < c.rows; ++r) {
        for (int col = 0; col < c.cols; ++col) {
          CAPTURE(r);
          CAPTURE(col);
          CHECK(LabelAt(image, r, col) == c.labels[r * c.cols + col]);
        }
      }
    }
  }
}

TEST_CASE("EXIF parsing tolerates absent and malformed metadata") {
  TempDir dir;
  SaveJpeg(dir.File("plain.jpg"), BlockImage(), 90);
  const std::vector<uint8_t> plain = ReadBytes(dir.File("plain.jpg"));
  CHECK(JpegExifOrientation(plain.data(), plain.size()) == 1);
  CHECK(JpegExifOrientation(nullptr, 0) == 1);
  const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  CHECK(JpegExifOrientation(png_magic, sizeof(png_magic)) == 1);
  // Every truncation of an oriented file: no over-read, a valid answer.
  const std::vector<uint8_t> oriented = JpegWithOrientation(dir, 6, false);
  for (size_t n = 0; n < 120 && n < oriented.size(); ++n) {
    const std::vector<uint8_t> cut(oriented.begin(), oriented.begin() + n);
    const int o = JpegExifOrientation(cut.data(), cut.size());
    CHECK((o == 1 || o == 6));
  }
  // Out-of-range orientation value: ignored.
  std::vector<uint8_t> bad = JpegWithOrientation(dir, 9, false);
  CHECK(JpegExifOrientation(bad.data(), bad.size()) == 1);
  // A corrupted segment length must not be followed past the end.
  bad = JpegWithOrientation(dir, 6, true);
  bad[22] = 0xFF;
  bad[23] = 0xFF;
  const int o = JpegExifOrientation(bad.data(), bad.size());
  CHECK((o >= 1 && o <= 8));
}

}  // namespace
}  // namespace persam
