// The first-frame label map the video tests start from: one object (id 1)
// covering the square [h/4, h/2) x [w/4, w/2), in the DAVIS palette.
#ifndef PERSAM_TESTS_VIDEO_FIRST_MASK_H_
#define PERSAM_TESTS_VIDEO_FIRST_MASK_H_

#include <cstddef>
#include <string>

#include "video/label_png.h"

namespace persam::testing {

inline void WriteSquareFirstMask(const std::string& path, int height, int width) {
  LabelMap first;
  first.height = height, first.width = width;
  first.ids.assign(static_cast<size_t>(height) * width, 0);
  for (int y = height / 4; y < height / 2; ++y)
    for (int x = width / 4; x < width / 2; ++x) first.ids[static_cast<size_t>(y) * width + x] = 1;
  first.palette = DavisPalette();
  WriteLabelPng(path, first);
}

}  // namespace persam::testing

#endif  // PERSAM_TESTS_VIDEO_FIRST_MASK_H_
