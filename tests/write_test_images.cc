// Writes one file with each of engine/image.h's writers into a folder, for
// tests/image_readers_test.py to read back with Pillow and OpenCV (the
// reference's readers). The patterns are recomputed there.
#include <cstdio>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/image.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_test_images DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int h = 23, w = 37;  // odd width: 1-bit rows end mid-byte
  std::vector<uint8_t> mask(size_t(h) * w), rgba(size_t(h) * w * 4);
  persam::RgbImage rgb;
  rgb.height = h;
  rgb.width = w;
  rgb.pixels.resize(size_t(h) * w * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const size_t i = size_t(y) * w + x;
      mask[i] = (x * 7 + y * 3) % 11 < 5 ? 255 : 0;
      const uint8_t px[4] = {uint8_t((x * 5 + y) % 256), uint8_t((y * 9) % 256), uint8_t((x + y * y) % 256),
                             uint8_t((x * 13) % 256)};
      for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + c] = px[c];
      for (int c = 0; c < 4; ++c) rgba[i * 4 + c] = px[c];
    }
  }
  try {
    persam::SaveBinaryMaskPng(dir + "/mask_1bit.png", h, w, mask.data());
    persam::SaveGrayPng(dir + "/mask_grey.png", h, w, mask.data());
    const uint8_t red128[3] = {128, 0, 0};  // PerSAM's mask colour
    persam::SaveBinaryMaskPng(dir + "/mask_red.png", h, w, mask.data(), red128);
    persam::SavePng(dir + "/rgb.png", rgb);
    const std::vector<uint8_t> png = persam::EncodeRgbaPng(h, w, rgba.data());
    FILE* f = std::fopen((dir + "/rgba.png").c_str(), "wb");
    if (!f || std::fwrite(png.data(), 1, png.size(), f) != png.size() || std::fclose(f) != 0) {
      throw persam::Error("cannot write rgba.png");
    }
    persam::SaveJpeg(dir + "/rgb.jpg", rgb, 95);
  } catch (const persam::Error& e) {
    std::fprintf(stderr, "write_test_images: %s\n", e.what());
    return 1;
  }
  return 0;
}
