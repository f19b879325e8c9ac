// Generated images for `persam demo`: a textured background with one object
// (a striped ellipse) at a given place, and its mask, so the demo needs no
// file and no download.
#ifndef PERSAM_TOOLS_DEMO_SCENE_H_
#define PERSAM_TOOLS_DEMO_SCENE_H_

#include <cstdint>
#include <vector>

#include "engine/image.h"

namespace persam::cli {

struct DemoScene {
  RgbImage image;
  std::vector<uint8_t> mask;  // height * width, 0 or 255: the object
};

DemoScene MakeDemoScene(int height, int width, double center_x, double center_y,
                        double radius, uint32_t seed);

}  // namespace persam::cli

#endif  // PERSAM_TOOLS_DEMO_SCENE_H_
