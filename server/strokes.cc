#include "server/strokes.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace persam::server {
namespace {

// Squared distance from (px, py) to the segment a-b.
double SegmentDistance2(double px, double py, double ax, double ay, double bx, double by) {
  const double dx = bx - ax, dy = by - ay;
  const double length2 = dx * dx + dy * dy;
  double t = length2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / length2 : 0.0;
  t = std::clamp(t, 0.0, 1.0);
  const double ex = ax + t * dx - px, ey = ay + t * dy - py;
  return ex * ex + ey * ey;
}

}  // namespace

RgbImage RasterizeStrokes(const std::vector<Stroke>& strokes, int height, int width) {
  RgbImage mask;
  mask.height = height;
  mask.width = width;
  mask.pixels.assign(static_cast<size_t>(height) * width * 3, 0);
  // The work is the segments' boxes: bounded so that many wide,
  // overlapping segments cannot keep a worker busy for minutes.
  const double budget = 64.0 * height * width + (1 << 22);
  double work = 0;
  for (size_t s = 0; s < strokes.size(); ++s) {
    const Stroke& stroke = strokes[s];
    for (size_t i = 0; i < stroke.points.size(); ++i) {
      const auto [x, y] = stroke.points[i];
      if (x < 0 || y < 0 || x >= width || y >= height) {
        throw RequestError(400, "reference.strokes[" + std::to_string(s) + "].points[" + std::to_string(i) + "] (" +
                                    std::to_string(x) + ", " + std::to_string(y) + ") is outside the " +
                                    std::to_string(width) + " x " + std::to_string(height) + " reference image");
      }
    }
    const double radius = stroke.width / 2;
    // Segment k joins points k and k + 1; a one-point stroke is the segment
    // from the point to itself (a disc).
    const size_t segments = std::max<size_t>(stroke.points.size() - 1, 1);
    for (size_t k = 0; k < segments; ++k) {
      const auto [ax, ay] = stroke.points[k];
      const auto [bx, by] = stroke.points[std::min(k + 1, stroke.points.size() - 1)];
      const int x0 = std::max(0, static_cast<int>(std::floor(std::min(ax, bx) - radius)));
      const int x1 = std::min(width - 1, static_cast<int>(std::ceil(std::max(ax, bx) + radius)));
      const int y0 = std::max(0, static_cast<int>(std::floor(std::min(ay, by) - radius)));
      const int y1 = std::min(height - 1, static_cast<int>(std::ceil(std::max(ay, by) + radius)));
      work += (x1 - x0 + 1.0) * (y1 - y0 + 1.0);
      if (work > budget) {
        throw RequestError(400, "reference.strokes: too many wide overlapping segments to paint (more than 64 "
                                "brush areas per image pixel); send fewer points");
      }
      for (int y = y0; y <= y1; ++y) {
        for (int x = x0; x <= x1; ++x) {
          // Pixel (x, y) covers [x, x + 1) x [y, y + 1): its centre decides.
          if (SegmentDistance2(x + 0.5, y + 0.5, ax, ay, bx, by) <= radius * radius) {
            mask.pixels[(static_cast<size_t>(y) * width + x) * 3] = 255;
          }
        }
      }
    }
  }
  return mask;
}

}  // namespace persam::server
