#include "persam/outputs.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/error.h"

namespace persam {

RgbImage MaskToRgb128(const std::vector<uint8_t>& mask, int height, int width) {
  RgbImage out;
  out.height = height;
  out.width = width;
  out.pixels.assign(static_cast<size_t>(height) * width * 3, 0);
  for (size_t i = 0; i < mask.size(); ++i) {
    if (mask[i]) out.pixels[3 * i] = 128;
  }
  return out;
}

namespace {

void DrawStar(RgbImage* image, double cx, double cy, double radius, const uint8_t color[3]) {
  // A filled five-pointed star with a white edge (matplotlib marker '*').
  const double pi = 3.14159265358979323846;
  auto inside = [&](double x, double y, double scale) {
    const double dx = x - cx, dy = y - cy;
    const double r = std::hypot(dx, dy);
    if (r < 1e-9) return true;
    // Star radius as a function of angle: between inner and outer radius.
    double angle = std::atan2(dy, dx) + pi / 2;
    const double sector = 2 * pi / 5;
    angle = std::fmod(std::fmod(angle, sector) + sector, sector);
    const double t = std::fabs(angle - sector / 2) / (sector / 2);  // 1 at the tips
    const double outer = radius * scale, inner = 0.45 * radius * scale;
    return r <= inner + (outer - inner) * t * t;
  };
  const int x0 = std::max(0, static_cast<int>(cx - 1.3 * radius));
  const int x1 = std::min(image->width - 1, static_cast<int>(cx + 1.3 * radius));
  const int y0 = std::max(0, static_cast<int>(cy - 1.3 * radius));
  const int y1 = std::min(image->height - 1, static_cast<int>(cy + 1.3 * radius));
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) {
      uint8_t* p = &image->pixels[(static_cast<size_t>(y) * image->width + x) * 3];
      if (inside(x, y, 1.0)) {
        std::copy(color, color + 3, p);
      } else if (inside(x, y, 1.25)) {
        p[0] = p[1] = p[2] = 255;
      }
    }
  }
}

}  // namespace

RgbImage RenderVisualization(const RgbImage& image, const std::vector<uint8_t>& mask,
                             const std::vector<PointPrompt>& points) {
  RgbImage out = image;
  const float color[3] = {30.0f, 144.0f, 255.0f};
  const float alpha = 0.6f;
  for (size_t i = 0; i < mask.size() && 3 * i + 2 < out.pixels.size(); ++i) {
    if (!mask[i]) continue;
    for (int c = 0; c < 3; ++c) {
      const float v = (1 - alpha) * out.pixels[3 * i + c] + alpha * color[c];
      out.pixels[3 * i + c] = static_cast<uint8_t>(std::lround(std::min(255.0f, v)));
    }
  }
  const double radius = std::max(6.0, 0.015 * std::max(image.height, image.width));
  const uint8_t green[3] = {0, 200, 0}, red[3] = {220, 0, 0};
  for (const PointPrompt& p : points) DrawStar(&out, p.x, p.y, radius, p.label == 1 ? green : red);
  return out;
}

void WriteMaskPng(const std::string& path, const std::vector<uint8_t>& mask, int height, int width) {
  const RgbImage rgb = MaskToRgb128(mask, height, width);
  WriteAtomically(path, [&](const std::string& temp) { SavePng(temp, rgb); });
}

void WriteVisualizationJpeg(const std::string& path, const RgbImage& image, const std::vector<uint8_t>& mask,
                            const std::vector<PointPrompt>& points) {
  const RgbImage vis = RenderVisualization(image, mask, points);
  WriteAtomically(path, [&](const std::string& temp) { SaveJpeg(temp, vis, 90); });
}

}  // namespace persam
