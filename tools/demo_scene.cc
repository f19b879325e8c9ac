#include "tools/demo_scene.h"

#include <cmath>

namespace persam::cli {

DemoScene MakeDemoScene(int height, int width, double center_x, double center_y,
                        double radius, uint32_t seed) {
  DemoScene scene;
  scene.image.height = height;
  scene.image.width = width;
  scene.image.pixels.resize(static_cast<size_t>(height) * width * 3);
  scene.mask.resize(static_cast<size_t>(height) * width);
  uint32_t state = seed * 2654435761u + 1u;
  auto noise = [&state]() {  // xorshift32: cheap, deterministic texture
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return static_cast<int>(state % 24u);
  };
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* px = &scene.image.pixels[(static_cast<size_t>(y) * width + x) * 3];
      const double dx = (x - center_x) / (1.3 * radius);
      const double dy = (y - center_y) / radius;
      const bool inside = dx * dx + dy * dy <= 1.0;
      scene.mask[static_cast<size_t>(y) * width + x] = inside ? 255 : 0;
      if (inside) {  // orange object with dark stripes
        const bool stripe = (static_cast<int>((x + y) / (radius * 0.25)) % 2) == 0;
        px[0] = static_cast<uint8_t>(stripe ? 230 : 120);
        px[1] = static_cast<uint8_t>(stripe ? 140 : 60);
        px[2] = static_cast<uint8_t>(20 + noise());
      } else {  // blue-green gradient floor with noise
        px[0] = static_cast<uint8_t>(40 + noise());
        px[1] = static_cast<uint8_t>(90 + 100 * y / height + noise() / 2);
        px[2] = static_cast<uint8_t>(120 + 80 * x / width + noise() / 2);
      }
    }
  }
  return scene;
}

}  // namespace persam::cli
