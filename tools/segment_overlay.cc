#include "tools/segment_overlay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace persam::cli {
namespace {

// 3 x 5 glyphs, one row per 3 bits (most significant bit on the left).
int Glyph(char c) {
  static const int kDigits[10] = {
      0b111'101'101'101'111, 0b010'110'010'010'111, 0b111'001'111'100'111, 0b111'001'111'001'111,
      0b101'101'111'001'001, 0b111'100'111'001'111, 0b111'100'111'101'111, 0b111'001'001'001'001,
      0b111'101'111'101'111, 0b111'101'111'001'111};
  if (c >= '0' && c <= '9') return kDigits[c - '0'];
  if (c == '.') return 0b000'000'000'000'010;
  if (c == '-') return 0b000'000'111'000'000;
  if (c == '/') return 0b001'001'010'100'100;
  return 0;  // space and anything else
}

// Font pixel size: the legend stays readable on a 4000 px photo and fits a
// 100 px one.
int FontScale(int height, int width) { return std::max(1, std::min(height, width) / 200); }

struct Canvas {
  RgbImage* image;
  void Put(int x, int y, const std::array<uint8_t, 3>& c) const {
    if (x < 0 || y < 0 || x >= image->width || y >= image->height) return;
    uint8_t* p = image->pixels.data() + (static_cast<size_t>(y) * image->width + x) * 3;
    p[0] = c[0];
    p[1] = c[1];
    p[2] = c[2];
  }
  void Fill(int x0, int y0, int w, int h, const std::array<uint8_t, 3>& c) const {
    for (int y = y0; y < y0 + h; ++y) {
      for (int x = x0; x < x0 + w; ++x) Put(x, y, c);
    }
  }
  // Returns the x after the text.
  int Text(int x, int y, int scale, const std::string& text, const std::array<uint8_t, 3>& c) const {
    for (char ch : text) {
      const int g = Glyph(ch);
      for (int row = 0; row < 5; ++row) {
        for (int col = 0; col < 3; ++col) {
          if (g & (1 << (14 - row * 3 - col))) Fill(x + col * scale, y + row * scale, scale, scale, c);
        }
      }
      x += 4 * scale;
    }
    return x;
  }
};

}  // namespace

std::array<uint8_t, 3> MaskTint(int index) {
  static const uint8_t kTint[8][3] = {{30, 144, 255}, {255, 165, 0},  {186, 85, 211}, {0, 206, 209},
                                      {255, 99, 71},  {50, 205, 50},  {255, 215, 0},  {255, 105, 180}};
  const uint8_t* t = kTint[index % 8];
  return {t[0], t[1], t[2]};
}

std::array<uint8_t, 3> MaskHue(int index) {
  const double hue = std::fmod(index * 137.508, 360.0) / 60.0;
  const double x = 1.0 - std::fabs(std::fmod(hue, 2.0) - 1.0);
  const double rgb_table[6][3] = {{1, x, 0}, {x, 1, 0}, {0, 1, x}, {0, x, 1}, {x, 0, 1}, {1, 0, x}};
  const double* rgb = rgb_table[static_cast<int>(hue) % 6];
  return {static_cast<uint8_t>(255.0 * rgb[0]), static_cast<uint8_t>(255.0 * rgb[1]),
          static_cast<uint8_t>(255.0 * rgb[2])};
}

SwatchPlace LegendSwatch(int image_height, int image_width, int row) {
  const int scale = FontScale(image_height, image_width);
  const int line = 7 * scale;  // 5 rows of glyph + 2 of spacing
  return {2 * scale, 2 * scale + row * line, 5 * scale};
}

RgbImage RenderSegmentOverlay(RgbImage image, const std::vector<Prediction>& predictions,
                              const std::vector<std::optional<BoxPrompt>>& boxes,
                              const std::vector<PointPrompt>& points, const std::vector<LegendRow>& legend) {
  RgbImage out = std::move(image);
  const Canvas canvas{&out};
  const size_t plane = static_cast<size_t>(out.height) * out.width;
  int drawn = 0;
  for (const Prediction& pred : predictions) {
    for (int m = 0; m < pred.num_masks; ++m, ++drawn) {
      const std::array<uint8_t, 3> tint = MaskTint(drawn);
      const float* logits = pred.high_res.data() + m * plane;
      uint8_t* px = out.pixels.data();  // a local pointer: the stores cannot move it
      for (size_t i = 0; i < plane; ++i, px += 3) {
        if (logits[i] <= 0.0f) continue;
        for (int c = 0; c < 3; ++c) px[c] = static_cast<uint8_t>((px[c] + tint[c]) / 2);
      }
    }
  }
  const int thick = std::max(1, std::min(out.height, out.width) / 300);
  const std::array<uint8_t, 3> blue = {0, 0, 255}, white = {255, 255, 255};
  for (const auto& box : boxes) {
    if (!box) continue;
    const int x0 = static_cast<int>(box->x0), y0 = static_cast<int>(box->y0);
    const int x1 = static_cast<int>(box->x1), y1 = static_cast<int>(box->y1);
    for (int k = 0; k < thick; ++k) {
      for (int x = x0; x <= x1; ++x) {
        canvas.Put(x, y0 + k, blue);
        canvas.Put(x, y1 - k, blue);
      }
      for (int y = y0; y <= y1; ++y) {
        canvas.Put(x0 + k, y, blue);
        canvas.Put(x1 - k, y, blue);
      }
    }
  }
  const int radius = std::max(3, std::min(out.height, out.width) / 80);
  for (const PointPrompt& p : points) {
    const int cx = static_cast<int>(p.x), cy = static_cast<int>(p.y);
    const std::array<uint8_t, 3> fill = {static_cast<uint8_t>(p.label ? 0 : 255), static_cast<uint8_t>(p.label ? 255 : 0), 0};
    for (int dy = -radius - thick; dy <= radius + thick; ++dy) {
      for (int dx = -radius - thick; dx <= radius + thick; ++dx) {
        const int r2 = dx * dx + dy * dy;
        if (r2 <= radius * radius) {
          canvas.Put(cx + dx, cy + dy, fill);
        } else if (r2 <= (radius + thick) * (radius + thick)) {
          canvas.Put(cx + dx, cy + dy, white);
        }
      }
    }
  }
  DrawLegend(&out, legend, MaskTint);  // last: on top of everything
  return out;
}

void DrawLegend(RgbImage* image, const std::vector<LegendRow>& legend,
                const std::function<std::array<uint8_t, 3>(int)>& tint) {
  const Canvas canvas{image};
  const int scale = FontScale(image->height, image->width);
  const std::array<uint8_t, 3> white = {255, 255, 255};
  for (size_t row = 0; row < legend.size(); ++row) {
    const SwatchPlace s = LegendSwatch(image->height, image->width, static_cast<int>(row));
    if (s.y >= image->height) break;
    char score[32];
    std::snprintf(score, sizeof(score), "%.3f", legend[row].score);
    const std::string text = legend[row].label + " " + score;
    const int band_width = s.size + scale * (2 + 4 * static_cast<int>(text.size())) + 2 * scale;
    canvas.Fill(0, s.y - scale, band_width + s.x, 7 * scale, {0, 0, 0});
    canvas.Fill(s.x, s.y, s.size, s.size, tint(static_cast<int>(row)));
    canvas.Text(s.x + s.size + 2 * scale, s.y, scale, text, white);
  }
}

}  // namespace persam::cli
