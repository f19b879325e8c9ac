// PerSAM building blocks that need no model: reference mask handling, point
// selection, boxes, the target-guided attention map.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "persam/location_prior.h"
#include "persam/reference_mask.h"
#include "base/error.h"

namespace persam {
namespace {

RgbImage Square(int side, int x0, int y0, int x1, int y1, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage im;
  im.height = im.width = side;
  im.pixels.assign(static_cast<size_t>(side) * side * 3, 0);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      uint8_t* p = &im.pixels[(static_cast<size_t>(y) * side + x) * 3];
      p[0] = r;
      p[1] = g;
      p[2] = b;
    }
  }
  return im;
}

TEST_CASE("NormalizeReferenceMask: any channel counts, empty is an error") {
  const RgbImage m = NormalizeReferenceMask(Square(8, 2, 2, 4, 4, 0, 0, 7), "m.png");
  CHECK(m.pixels[(2 * 8 + 2) * 3] == 128);
  CHECK(m.pixels[(2 * 8 + 2) * 3 + 2] == 0);
  CHECK(m.pixels[0] == 0);
  CHECK_THROWS_AS(NormalizeReferenceMask(Square(8, 0, 0, 0, 0, 0, 0, 0), "empty.png"), Error);
}

TEST_CASE("SelectReferenceCells erodes like the reference") {
  // 1024 x 1024 (no resize): cell i samples pixels 16 i + 7 and 16 i + 8 in
  // each direction, and is selected only when all four are inside, since a
  // 0 pixel normalises to -2.12 and a 128 pixel to +0.074.
  const RgbImage mask = NormalizeReferenceMask(Square(1024, 100, 100, 301, 301, 255, 255, 255), "m");
  const MaskCells cells = SelectReferenceCells(mask);
  CHECK_FALSE(cells.fallback);
  CHECK(cells.count == 13 * 13);  // i in [6, 18]: 16 i + 7 >= 100 and 16 i + 8 <= 300
  CHECK(cells.selected[6 * 64 + 6] == 1);
  CHECK(cells.selected[5 * 64 + 6] == 0);
  CHECK(cells.selected[18 * 64 + 18] == 1);
  CHECK(cells.selected[19 * 64 + 18] == 0);

  // A mask too small for any cell: the reference would average nothing (NaN).
  const MaskCells tiny = SelectReferenceCells(NormalizeReferenceMask(Square(1024, 500, 500, 503, 503, 1, 0, 0), "t"));
  CHECK(tiny.fallback);
  CHECK(tiny.count >= 1);
  CHECK(tiny.selected[31 * 64 + 31] == 1);  // the cell holding the mask
}

TEST_CASE("ArgMax / ArgMin points: first occurrence in row-major order, (x, y)") {
  std::vector<float> sim = {0, 3, 1, 3, -2, 0, -2, 3};  // 2 rows x 4
  const PointPrompt hi = ArgMaxPoint(sim, 4);
  const PointPrompt lo = ArgMinPoint(sim, 4);
  CHECK(hi.x == 1);
  CHECK(hi.y == 0);
  CHECK(hi.label == 1);
  CHECK(lo.x == 0);
  CHECK(lo.y == 1);
  CHECK(lo.label == 0);
}

TEST_CASE("MaskBox: bounding box of logits > 0, none when empty") {
  std::vector<float> m(6 * 5, -1.0f);
  CHECK_FALSE(MaskBox(m.data(), 6, 5).has_value());
  m[1 * 5 + 3] = 0.5f;
  m[4 * 5 + 1] = 2.0f;
  m[2 * 5 + 2] = 0.0f;  // not > 0
  const auto box = MaskBox(m.data(), 6, 5);
  REQUIRE(box.has_value());
  CHECK(box->x0 == 1);
  CHECK(box->y0 == 1);
  CHECK(box->x1 == 3);
  CHECK(box->y1 == 4);
  CHECK(MaskArea(m.data(), 30) == 2);
}

TEST_CASE("TargetGuidedAttention: standardised with the unbiased std, sigmoid") {
  // A 128 x 128 map that is constant per 2x2 block: downscaling by 2 with
  // bilinear (samples at 2 i + 0.5) returns the block values exactly.
  const int side = 128;
  std::vector<float> sim(side * side);
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) sim[y * side + x] = static_cast<float>(((x / 2) * 7 + (y / 2) * 3) % 11) / 10.0f;
  }
  double mean = 0;
  for (float v : sim) mean += v;
  mean /= sim.size();
  double ss = 0;
  for (float v : sim) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / (sim.size() - 1));
  const std::vector<float> attn = TargetGuidedAttention(sim, side, side);
  REQUIRE(attn.size() == 64 * 64);
  for (int i = 0; i < 64; i += 7) {
    for (int j = 0; j < 64; j += 5) {
      const double z = (sim[(2 * i) * side + 2 * j] - mean) / sd;
      CHECK(attn[i * 64 + j] == doctest::Approx(1 / (1 + std::exp(-z))).epsilon(1e-5));
    }
  }
}

}  // namespace
}  // namespace persam
