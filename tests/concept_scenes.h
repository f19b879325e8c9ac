// Small synthetic photos for the concept tests: textured disks (the
// concept) on a gradient, as a reference with its mask or as targets.
#ifndef PERSAM_TESTS_CONCEPT_SCENES_H_
#define PERSAM_TESTS_CONCEPT_SCENES_H_

#include <string>
#include <utility>
#include <vector>

#include "engine/image.h"

namespace persam::testing {

// A 160 x 120 photo: gradient background, a textured disk at each centre.
inline RgbImage DiskPhoto(const std::vector<std::pair<int, int>>& centres, std::vector<uint8_t>* mask = nullptr) {
  RgbImage image;
  image.height = 120;
  image.width = 160;
  image.pixels.resize(160 * 120 * 3);
  if (mask) mask->assign(160 * 120, 0);
  for (int y = 0; y < 120; ++y) {
    for (int x = 0; x < 160; ++x) {
      uint8_t* p = &image.pixels[(y * 160 + x) * 3];
      p[0] = static_cast<uint8_t>(40 + x / 2);
      p[1] = static_cast<uint8_t>(90 + y / 3);
      p[2] = 150;
      for (auto [cx, cy] : centres) {
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= 18 * 18) {
          p[0] = static_cast<uint8_t>(230 - ((x + y) % 7) * 10);
          p[1] = static_cast<uint8_t>(40 + ((x * y) % 5) * 12);
          p[2] = 30;
          if (mask) (*mask)[y * 160 + x] = 1;
        }
      }
    }
  }
  return image;
}

// The photo as a PNG and its mask (red 128, PerSeg's form) as another.
inline void WriteDiskReference(const std::vector<std::pair<int, int>>& centres, const std::string& image_path,
                               const std::string& mask_path) {
  std::vector<uint8_t> mask;
  SavePng(image_path, DiskPhoto(centres, &mask));
  RgbImage m;
  m.height = 120;
  m.width = 160;
  m.pixels.assign(160 * 120 * 3, 0);
  for (size_t i = 0; i < mask.size(); ++i) m.pixels[3 * i] = mask[i] ? 128 : 0;
  SavePng(mask_path, m);
}

}  // namespace persam::testing

#endif  // PERSAM_TESTS_CONCEPT_SCENES_H_
