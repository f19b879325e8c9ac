// The pure building blocks of the automatic mask generator
// (REFERENCE-AMG.md sections 1, 2, 4f, 4h, 5, 7): point grids and crop boxes
// against the reference's own numbers, RLE against naive walks and
// hand-derived pycocotools strings, NMS against torchvision's recorded keep
// lists, connected components in OpenCV's label order.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "amg/geometry.h"
#include "amg/nms.h"
#include "amg/regions.h"
#include "amg/rle.h"
#include "tests/fixtures.h"
#include "base/error.h"
#include "weights/json.h"

namespace persam::amg {
namespace {

// ---------------------------------------------------------------- helpers

// Row-major H x W mask from rows of '.' / '#'.
std::vector<uint8_t> MaskFromRows(const std::vector<std::string>& rows) {
  std::vector<uint8_t> m;
  for (const std::string& r : rows) {
    for (const char c : r) m.push_back(c == '#' ? 1 : 0);
  }
  return m;
}

// Random 0/1 mask. `density` = P(true); `run` > 1 makes horizontal streaks
// so that runs are long as in real masks.
std::vector<uint8_t> RandomMask(std::mt19937* rng, int h, int w, double density, int run = 1) {
  std::bernoulli_distribution bit(density);
  std::vector<uint8_t> m(static_cast<size_t>(h) * w);
  for (size_t i = 0; i < m.size();) {
    const uint8_t v = bit(*rng);
    for (int k = 0; k < run && i < m.size(); ++k) m[i++] = v;
  }
  return m;
}

// The definition: walk x * H + y, alternate runs starting with false.
std::vector<uint32_t> NaiveColumnMajorRle(const std::vector<uint8_t>& m, int h, int w) {
  std::vector<uint32_t> counts;
  uint8_t cur = 0;
  uint32_t run = 0;
  for (int x = 0; x < w; ++x) {
    for (int y = 0; y < h; ++y) {
      const uint8_t v = m[static_cast<size_t>(y) * w + x] != 0;
      if (v != cur) {
        counts.push_back(run);
        run = 0;
        cur = v;
      }
      ++run;
    }
  }
  counts.push_back(run);
  return counts;
}

// Minimal .npy reader for the fixture arrays weights/npy.h does not read
// (int64 boxes): little-endian '<i8' / '<f4', C order.
struct NpyArray {
  std::string descr;
  std::vector<int64_t> shape;
  std::vector<char> data;
};
NpyArray ReadNpyRaw(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() >= 10);
  REQUIRE(std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0);
  size_t header_len, header_start;
  if (bytes[6] == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    header_start = 10;
  } else {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8) |
                 (static_cast<uint32_t>(static_cast<uint8_t>(bytes[10])) << 16) |
                 (static_cast<uint32_t>(static_cast<uint8_t>(bytes[11])) << 24);
    header_start = 12;
  }
  const std::string header(bytes.data() + header_start, header_len);
  NpyArray a;
  const size_t d = header.find("'descr': '") + 10;
  a.descr = header.substr(d, header.find('\'', d) - d);
  REQUIRE(header.find("'fortran_order': False") != std::string::npos);
  const size_t s = header.find('(', header.find("'shape'")) + 1;
  const std::string shape = header.substr(s, header.find(')', s) - s);
  size_t p = 0;
  while (p < shape.size()) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size()) break;
    size_t q = p;
    while (q < shape.size() && shape[q] >= '0' && shape[q] <= '9') ++q;
    a.shape.push_back(std::stoll(shape.substr(p, q - p)));
    p = q;
  }
  a.data.assign(bytes.begin() + header_start + header_len, bytes.end());
  return a;
}

// ---------------------------------------------------------------- geometry

TEST_CASE("BuildAllLayerPointGrids: the reference's grids, bit for bit") {
  if (!testing::HaveFixtures("amg geometry point grids")) return;
  const JsonValue doc = ParseJsonFile(testing::FixturePath("ref/amg/geometry.json"));
  int n_cases = 0;
  for (const JsonValue& c : doc.At("point_grids").Items()) {
    const int n = static_cast<int>(c.At("n_per_side").AsInt64());
    const int layers = static_cast<int>(c.At("n_layers").AsInt64());
    const int scale = static_cast<int>(c.At("scale_per_layer").AsInt64());
    CAPTURE(n);
    CAPTURE(layers);
    CAPTURE(scale);
    const std::vector<PointGrid> grids = BuildAllLayerPointGrids(n, layers, scale);
    const auto& expected = c.At("grids").Items();
    REQUIRE(grids.size() == expected.size());
    for (size_t l = 0; l < grids.size(); ++l) {
      const auto& pts = expected[l].Items();
      REQUIRE(grids[l].size() == pts.size());
      for (size_t i = 0; i < pts.size(); ++i) {
        // Bit-exact: the JSON holds Python's round-trip repr of each double.
        const double ex = pts[i].Items()[0].AsDouble(), ey = pts[i].Items()[1].AsDouble();
        if (grids[l][i][0] != ex || grids[l][i][1] != ey) {
          FAIL("layer " << l << " point " << i << ": got (" << grids[l][i][0] << ", "
                        << grids[l][i][1] << "), expected (" << ex << ", " << ey << ")");
        }
      }
    }
    ++n_cases;
  }
  CHECK(n_cases >= 6);
}

TEST_CASE("BuildPointGrid: centre for n = 1, row-major order, last point exactly 1 - off") {
  const PointGrid one = BuildPointGrid(1);
  REQUIRE(one.size() == 1);
  CHECK(one[0][0] == 0.5);
  CHECK(one[0][1] == 0.5);

  const PointGrid g = BuildPointGrid(3);
  REQUIRE(g.size() == 9);
  // Point r * n + c is (x = c_c, y = c_r).
  CHECK(g[1][1] == g[0][1]);
  CHECK(g[3][0] == g[0][0]);
  CHECK(g[3][1] == g[1][0]);
  CHECK(g[5][0] == g[2][0]);
  CHECK(g[5][1] == g[1][0]);
  for (const int n : {7, 32, 64, 100}) {
    const PointGrid grid = BuildPointGrid(n);
    const double off = 1.0 / (2 * n);
    CHECK(grid.front()[0] == off);
    CHECK(grid.back()[0] == 1.0 - off);  // numpy writes `stop` into the last slot
    CHECK(grid.back()[1] == 1.0 - off);
  }
}

TEST_CASE("BuildPointGrid: j * step + off rounds twice, as numpy (no fused multiply-add)") {
  // numpy 1.24 linspace(off, 1 - off, n)[j]; a fused j * step + off gives
  // the neighbouring double at each of these (none of the fixture grids
  // has such a point).
  struct Case {
    int n, j;
    double value;
  };
  const Case cases[] = {{6, 3, 0x1.2aaaaaaaaaaabp-1},  {9, 5, 0x1.38e38e38e38e4p-1},
                        {10, 6, 0x1.4cccccccccccdp-1}, {11, 6, 0x1.2e8ba2e8ba2e8p-1},
                        {12, 5, 0x1.d555555555557p-2}, {13, 9, 0x1.7627627627627p-1}};
  for (const Case& c : cases) {
    CAPTURE(c.n);
    const PointGrid g = BuildPointGrid(c.n);
    CHECK(g[static_cast<size_t>(c.j)][0] == c.value);
    CHECK(g[static_cast<size_t>(c.j) * c.n][1] == c.value);
  }
}

TEST_CASE("BuildAllLayerPointGrids: int(n / scale^i) per layer, bad parameters throw") {
  const std::vector<PointGrid> grids = BuildAllLayerPointGrids(12, 2, 2);
  REQUIRE(grids.size() == 3);
  CHECK(grids[0].size() == 144);
  CHECK(grids[1].size() == 36);
  CHECK(grids[2].size() == 9);
  CHECK(BuildAllLayerPointGrids(7, 1, 3)[1].size() == 4);  // int(7 / 3) = 2

  // 7 / 9 truncates to 0: the reference divides by zero.
  try {
    BuildAllLayerPointGrids(7, 2, 3);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("layer 2") != std::string::npos);
  }
  CHECK_THROWS_AS(BuildAllLayerPointGrids(0, 0, 1), Error);
  CHECK_THROWS_AS(BuildAllLayerPointGrids(8, -1, 1), Error);
  CHECK_THROWS_AS(BuildAllLayerPointGrids(8, 1, 0), Error);
  CHECK_THROWS_AS(BuildPointGrid(0), Error);
  // Scale 1 never shrinks: any depth works.
  CHECK(BuildAllLayerPointGrids(2, 40, 1).size() == 41);
}

TEST_CASE("GenerateCropBoxes: the reference's boxes and layers") {
  if (!testing::HaveFixtures("amg geometry crop boxes")) return;
  const JsonValue doc = ParseJsonFile(testing::FixturePath("ref/amg/geometry.json"));
  int n_cases = 0;
  for (const JsonValue& c : doc.At("crop_boxes").Items()) {
    const int h = static_cast<int>(c.At("im_size_hw").Items()[0].AsInt64());
    const int w = static_cast<int>(c.At("im_size_hw").Items()[1].AsInt64());
    const int layers = static_cast<int>(c.At("n_layers").AsInt64());
    const double ratio = c.At("overlap_ratio").AsDouble();
    CAPTURE(h);
    CAPTURE(w);
    CAPTURE(layers);
    CAPTURE(ratio);
    const std::vector<CropBox> boxes = GenerateCropBoxes(h, w, layers, ratio);
    const auto& expected = c.At("boxes_xyxy").Items();
    const auto& expected_layers = c.At("layer_idxs").Items();
    REQUIRE(boxes.size() == expected.size());
    for (size_t i = 0; i < boxes.size(); ++i) {
      const auto& e = expected[i].Items();
      CAPTURE(i);
      CHECK(boxes[i].x0 == e[0].AsInt64());
      CHECK(boxes[i].y0 == e[1].AsInt64());
      CHECK(boxes[i].x1 == e[2].AsInt64());
      CHECK(boxes[i].y1 == e[3].AsInt64());
      CHECK(boxes[i].layer == expected_layers[i].AsInt64());
    }
    ++n_cases;
  }
  CHECK(n_cases >= 6);
}

TEST_CASE("GenerateCropBoxes: arithmetic of one layer, clipping, errors") {
  // 977 x 1277, 512/1500: overlap = int((0.3413.. * 977) * (2 / 2)) = 333,
  // crop_w = ceil((333 + 1277) / 2) = 805, crop_h = ceil((333 + 977) / 2) = 655.
  const std::vector<CropBox> b = GenerateCropBoxes(977, 1277, 1, 512.0 / 1500.0);
  REQUIRE(b.size() == 5);
  CHECK(b[0].x1 == 1277);
  CHECK(b[0].y1 == 977);
  CHECK(b[0].layer == 0);
  // x0 outer, y0 inner.
  CHECK(b[1].x0 == 0);
  CHECK(b[1].y0 == 0);
  CHECK(b[2].x0 == 0);
  CHECK(b[2].y0 == 655 - 333);
  CHECK(b[3].x0 == 805 - 333);
  CHECK(b[3].y0 == 0);
  CHECK(b[4].width() == 1277 - 472);  // clipped at the image edge
  CHECK(b[4].layer == 1);
  CHECK(GenerateCropBoxes(10, 10, 0, 0.5).size() == 1);
  CHECK_THROWS_AS(GenerateCropBoxes(10, 10, -1, 0.5), Error);
  CHECK_THROWS_AS(GenerateCropBoxes(10, 10, 1, -0.1), Error);
  CHECK_THROWS_AS(GenerateCropBoxes(10, 10, 1, std::nan("")), Error);
  CHECK_THROWS_AS(GenerateCropBoxes(0, 10, 1, 0.5), Error);
  // More crops per side than pixels: empty boxes the reference would crash on.
  CHECK_THROWS_AS(GenerateCropBoxes(3, 3, 2, 0.0), Error);
}

// ---------------------------------------------------------------- RLE

TEST_CASE("MaskToRle: column-major runs, starting with false") {
  // 2 x 3, true pixels (y=0, x=1) and (y=1, x=1): column-major stream
  // 0 0 | 1 1 | 0 0, while row-major would give 0 1 0 0 1 0.
  const std::vector<uint8_t> m = MaskFromRows({".#.", ".#."});
  Rle r = MaskToRle(m.data(), 2, 3);
  CHECK(r.height == 2);
  CHECK(r.width == 3);
  CHECK(r.counts == std::vector<uint32_t>{2, 2, 2});
  CHECK(RleArea(r) == 2);

  const std::vector<uint8_t> none(12, 0), all(12, 7);  // nonzero = true
  CHECK(MaskToRle(none.data(), 3, 4).counts == std::vector<uint32_t>{12});
  CHECK(MaskToRle(all.data(), 3, 4).counts == std::vector<uint32_t>{0, 12});
  // Pixel (0, 0) true: a leading empty false run.
  const std::vector<uint8_t> corner = MaskFromRows({"#..", "..."});
  CHECK(MaskToRle(corner.data(), 2, 3).counts == std::vector<uint32_t>{0, 1, 5});
  // The last column's bottom pixel runs into nothing; the first column's
  // bottom pixel runs into the top of the next column.
  const std::vector<uint8_t> wrap = MaskFromRows({".#", "#."});
  CHECK(MaskToRle(wrap.data(), 2, 2).counts == std::vector<uint32_t>{1, 2, 1});
  CHECK(MaskToRle(nullptr, 0, 5).counts == std::vector<uint32_t>{0});
  CHECK_THROWS_AS(MaskToRle(m.data(), -1, 3), Error);
}

TEST_CASE("MaskToRle equals the naive column-major walk on random masks") {
  std::mt19937 rng(1234);
  // Widths around the 64-column tile and heights around the 8-byte scan step.
  const int sizes[][2] = {{1, 1},   {1, 70},   {70, 1},    {7, 9},     {8, 64},   {9, 65},
                          {16, 63}, {33, 129}, {100, 200}, {257, 130}, {480, 640}};
  for (const auto& s : sizes) {
    for (const double density : {0.0, 0.02, 0.5, 0.98, 1.0}) {
      for (const int run : {1, 37}) {
        const int h = s[0], w = s[1];
        const std::vector<uint8_t> m = RandomMask(&rng, h, w, density, run);
        CAPTURE(h);
        CAPTURE(w);
        CAPTURE(density);
        const Rle r = MaskToRle(m.data(), h, w);
        REQUIRE(r.counts == NaiveColumnMajorRle(m, h, w));
        CHECK(RleToMask(r) == m);
        CHECK(RleArea(r) == std::count(m.begin(), m.end(), 1));
      }
    }
  }
}

TEST_CASE("CropMaskToRle equals placing the crop in an empty mask") {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> size_dist(1, 90);
  int n_checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int h = size_dist(rng), w = size_dist(rng);
    const int ch = std::uniform_int_distribution<int>(0, h)(rng);
    const int cw = std::uniform_int_distribution<int>(0, w)(rng);
    // Every fourth trial touches the bottom-right corner, one in four the
    // top-left, the rest anywhere.
    int x0 = std::uniform_int_distribution<int>(0, w - cw)(rng);
    int y0 = std::uniform_int_distribution<int>(0, h - ch)(rng);
    if (trial % 4 == 0) {
      x0 = w - cw;
      y0 = h - ch;
    } else if (trial % 4 == 1) {
      x0 = y0 = 0;
    }
    const double density = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const std::vector<uint8_t> crop = RandomMask(&rng, ch, cw, density, trial % 3 == 0 ? 11 : 1);
    std::vector<uint8_t> full(static_cast<size_t>(h) * w, 0);
    for (int y = 0; y < ch; ++y) {
      for (int x = 0; x < cw; ++x) {
        full[static_cast<size_t>(y + y0) * w + x + x0] = crop[static_cast<size_t>(y) * cw + x];
      }
    }
    CAPTURE(h);
    CAPTURE(w);
    CAPTURE(ch);
    CAPTURE(cw);
    CAPTURE(x0);
    CAPTURE(y0);
    const Rle r = CropMaskToRle(crop.data(), ch, cw, x0, y0, h, w);
    REQUIRE(r.counts == MaskToRle(full.data(), h, w).counts);
    CHECK(r.height == h);
    CHECK(r.width == w);
    ++n_checked;
  }
  CHECK(n_checked == 300);
  // An all-true crop filling the whole mask, and a crop that would stick out.
  const std::vector<uint8_t> ones(6, 1);
  CHECK(CropMaskToRle(ones.data(), 2, 3, 0, 0, 2, 3).counts == std::vector<uint32_t>{0, 6});
  CHECK(CropMaskToRle(ones.data(), 2, 3, 1, 2, 4, 4).counts ==
        std::vector<uint32_t>{4 + 2, 2, 2, 2, 2, 2});
  CHECK_THROWS_AS(CropMaskToRle(ones.data(), 2, 3, 2, 0, 4, 4), Error);
  CHECK_THROWS_AS(CropMaskToRle(ones.data(), 2, 3, 0, 3, 4, 4), Error);
  CHECK_THROWS_AS(CropMaskToRle(ones.data(), 2, 3, -1, 0, 4, 4), Error);
}

TEST_CASE("RleToMask: row-major output, counts must cover the mask") {
  Rle r;
  r.height = 2;
  r.width = 3;
  r.counts = {1, 2, 3};  // column-major: pixels 1, 2 = (y1, x0), (y0, x1)
  CHECK(RleToMask(r) == MaskFromRows({".#.", "#.."}));
  CHECK(RleArea(r) == 2);
  r.counts = {1, 2, 2};
  CHECK_THROWS_AS(RleToMask(r), Error);
  r.counts = {0, 6};
  CHECK(RleToMask(r) == std::vector<uint8_t>(6, 1));
}

TEST_CASE("RleToCocoString: pycocotools strings derived by hand") {
  // pycocotools maskApi.c rleToString, worked through by hand (pycocotools
  // itself is not installable here): x = counts[i], minus counts[i - 2] for
  // i > 2 (from the fourth count on, not the third); 5-bit groups, low
  // first; a group gets 0x20 while more follow ("more" stops when the rest
  // is 0, or -1 after a group with 0x10 set); each char is group + 48.
  const auto coco = [](std::vector<uint32_t> counts, int h, int w) {
    Rle r;
    r.height = h;
    r.width = w;
    r.counts = std::move(counts);
    return RleToCocoString(r);
  };
  // [4]: 4 -> '4'.
  CHECK(coco({4}, 2, 2) == "4");
  // [0, 4]: '0', '4'.
  CHECK(coco({0, 4}, 2, 2) == "04");
  // 3 x 3 with the centre true: [4, 1, 4]; the third count is NOT
  // differenced (i > 2), so it stays '4'.
  const std::vector<uint8_t> centre = MaskFromRows({"...", ".#.", "..."});
  const Rle rc = MaskToRle(centre.data(), 3, 3);
  CHECK(rc.counts == std::vector<uint32_t>{4, 1, 4});
  CHECK(RleToCocoString(rc) == "414");
  // 5 x 10, true pixels (y0, x0), (y1, x0), (y2, x8): [0, 2, 40, 1, 7].
  //   0 -> '0'; 2 -> '2';
  //   40 = 0b01000 + (1 << 5): group 8 | 0x20 = 40 -> 'X', then 1 -> '1';
  //   1 - 2 = -1: group 31 (0x10 set), rest -1 -> stop: 31 -> 'O';
  //   7 - 40 = -33: group 31, rest -2 -> continue: 63 -> 'o';
  //                 group 30 (0x10 set), rest -1 -> stop: 30 -> 'N'.
  std::vector<uint8_t> m(50, 0);
  m[0 * 10 + 0] = m[1 * 10 + 0] = m[2 * 10 + 8] = 1;
  const Rle r = MaskToRle(m.data(), 5, 10);
  CHECK(r.counts == std::vector<uint32_t>{0, 2, 40, 1, 7});
  CHECK(RleToCocoString(r) == "02X1OoN");
  // 1500 x 1500 all false: 2250000 = 0x225510, 5-bit groups low first
  // 16, 8, 21, 4, 2; every group but the last has a nonzero rest:
  //   16|0x20 = 48 -> '`', 8|0x20 = 40 -> 'X', 21|0x20 = 53 -> 'e',
  //   4|0x20 = 36 -> 'T', 2 (rest 0) -> '2'.
  CHECK(coco({2250000}, 1500, 1500) == "`XeT2");
  // 16 alone: group 16 has 0x10 set and its rest 0 is not -1, so a 0 group
  // must follow to mark it positive: 48 -> '`', then '0'.
  CHECK(coco({16}, 4, 4) == "`0");

  CHECK(CocoStringToRle("02X1OoN", 5, 10).counts == r.counts);
  CHECK(CocoStringToRle("`XeT2", 1500, 1500).counts == std::vector<uint32_t>{2250000});
  CHECK(CocoStringToRle("`0", 4, 4).counts == std::vector<uint32_t>{16});
}

TEST_CASE("COCO string round trip on random masks; malformed strings throw") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    const int h = std::uniform_int_distribution<int>(1, 120)(rng);
    const int w = std::uniform_int_distribution<int>(1, 120)(rng);
    const double density = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const std::vector<uint8_t> m = RandomMask(&rng, h, w, density, 1 + trial % 50);
    const Rle r = MaskToRle(m.data(), h, w);
    const std::string s = RleToCocoString(r);
    for (const char c : s) REQUIRE((c >= '0' && c <= 'o'));
    const Rle back = CocoStringToRle(s, h, w);
    REQUIRE(back.counts == r.counts);
    CHECK(RleToMask(back) == m);
  }
  CHECK_THROWS_AS(CocoStringToRle("4", 2, 3), Error);           // sums to 4, not 6
  CHECK_THROWS_AS(CocoStringToRle("X", 2, 2), Error);           // ends inside a count
  CHECK_THROWS_AS(CocoStringToRle("4 ", 2, 2), Error);          // ' ' is below '0'
  CHECK_THROWS_AS(CocoStringToRle("4p", 2, 2), Error);          // 'p' is above 'o'
  CHECK_THROWS_AS(CocoStringToRle("O", 1, 1), Error);           // -1: a negative count
  CHECK_THROWS_AS(CocoStringToRle("ooooooooo0", 1, 1), Error);  // too many groups
}

// ---------------------------------------------------------------- NMS

TEST_CASE("BatchedNms: greedy suppression in stable descending score order") {
  const std::vector<BoxF> boxes = {
      {0, 0, 10, 10},    // 0
      {1, 0, 11, 10},    // 1: IoU with 0 = 90 / 110 = 0.818
      {20, 20, 30, 30},  // 2
      {0, 0, 10, 10},    // 3: equal to 0
      {21, 20, 31, 30},  // 4: IoU with 2 = 0.818
  };
  // 0 and 3 tie: the stable order takes 0 first, so 3 is suppressed by 0.
  CHECK(BatchedNms(boxes, {0.9f, 0.95f, 0.5f, 0.9f, 0.6f}, 0.7) == std::vector<int>{1, 4});
  CHECK(BatchedNms(boxes, {0.9f, 0.5f, 0.5f, 0.9f, 0.6f}, 0.7) == std::vector<int>{0, 4});
  // Threshold above every IoU: nothing suppressed, equal scores in index order.
  CHECK(BatchedNms(boxes, {0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, 1.0) == std::vector<int>{0, 1, 2, 3, 4});
  // NaN scores sort first (PyTorch's descending order).
  CHECK(BatchedNms(boxes, {0.1f, 0.2f, std::nanf(""), 0.3f, 0.4f}, 1.0) ==
        std::vector<int>{2, 4, 3, 1, 0});
  CHECK(BatchedNms({}, {}, 0.5).empty());
  CHECK_THROWS_AS(BatchedNms(boxes, {0.5f}, 0.5), Error);
}

TEST_CASE("BatchedNms: IoU in f32, strict comparison in f64") {
  // IoU exactly 0.5 (inter 50, union 100): `ovr > 0.5` is false.
  const std::vector<BoxF> half = {{0, 0, 10, 10}, {0, 0, 10, 5}};
  CHECK(BatchedNms(half, {0.9f, 0.8f}, 0.5) == std::vector<int>{0, 1});
  CHECK(BatchedNms(half, {0.9f, 0.8f}, 0.4999) == std::vector<int>{0});
  // IoU 2/3 in f32 is 0.666666686534881591796875 > 2/3 in f64: a threshold
  // of 2/3 suppresses, while an f64 IoU would not (it equals the threshold).
  const std::vector<BoxF> third = {{0, 0, 3, 1}, {0, 0, 2, 1}};
  CHECK(BatchedNms(third, {0.9f, 0.8f}, 2.0 / 3.0) == std::vector<int>{0});
  CHECK(BatchedNms(third, {0.9f, 0.8f}, 0.6666667) == std::vector<int>{0, 1});
  // Zero-area boxes (one-pixel-wide masks: inclusive coordinates): two equal
  // ones give 0 / 0 = NaN, which never suppresses, even at threshold -1.
  const std::vector<BoxF> flat = {{5, 5, 5, 9}, {5, 5, 5, 9}, {5, 5, 6, 6}};
  CHECK(BatchedNms(flat, {0.9f, 0.8f, 0.7f}, -1.0) == std::vector<int>{0, 1});
  // A zero-area box against a box with area: 0 / area = 0 > -1 suppresses.
  CHECK(BatchedNms({{0, 0, 4, 4}, {1, 1, 1, 3}}, {0.9f, 0.8f}, -1.0) == std::vector<int>{0});
  // An infinite coordinate makes the coordinate trick's offset 0 * (inf + 1)
  // = NaN for every box (torchvision adds it on the <= 1000-box path), so
  // even identical boxes no longer suppress each other.
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(BatchedNms({{0, 0, 4, 4}, {0, 0, 4, 4}, {0, 0, inf, 4}}, {0.9f, 0.8f, 0.7f}, 0.5) ==
        std::vector<int>{0, 1, 2});
  // Disjoint boxes: IoU 0 is not > 0.
  CHECK(BatchedNms({{0, 0, 4, 4}, {4, 4, 8, 8}}, {0.9f, 0.8f}, 0.0) == std::vector<int>{0, 1});
}

TEST_CASE("BatchedNms: more than 1000 boxes, kept set re-sorted by std::sort") {
  // 1001 disjoint boxes with many tied scores: nothing is suppressed, the
  // kept set is everything, the output is a permutation sorted by score.
  std::vector<BoxF> boxes;
  std::vector<float> scores;
  for (int i = 0; i < 1001; ++i) {
    const float x = static_cast<float>(3 * i);
    boxes.push_back({x, 0, x + 2, 2});
    scores.push_back(static_cast<float>(i % 7) / 8.0f);
  }
  scores[500] = std::nanf("");
  const std::vector<int> keep = BatchedNms(boxes, scores, 0.5);
  REQUIRE(keep.size() == 1001);
  CHECK(keep[0] == 500);  // NaN first
  for (size_t k = 2; k < keep.size(); ++k) CHECK(scores[keep[k - 1]] >= scores[keep[k]]);
  std::vector<int> sorted = keep;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 1001; ++i) REQUIRE(sorted[i] == i);

  // The expected order is literally std::sort over (score, index) pairs of
  // the ascending kept indices, as PyTorch's unstable CPU sort runs it.
  std::vector<std::pair<float, int>> pairs;
  for (int i = 0; i < 1001; ++i) pairs.emplace_back(scores[i], i);
  std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
    return (std::isnan(a.first) && !std::isnan(b.first)) || a.first > b.first;
  });
  for (int i = 0; i < 1001; ++i) REQUIRE(keep[i] == pairs[i].second);

  // With exactly 1000 boxes the stable path keeps index order within ties.
  boxes.pop_back();
  scores.pop_back();
  const std::vector<int> stable = BatchedNms(boxes, scores, 0.5);
  REQUIRE(stable.size() == 1000);
  for (size_t k = 2; k < stable.size(); ++k) {
    if (scores[stable[k - 1]] == scores[stable[k]]) REQUIRE(stable[k - 1] < stable[k]);
  }
}

void CheckFixtureNms(const std::string& name) {
  const std::string dir = "ref/amg/";
  const NpyArray b = ReadNpyRaw(testing::FixturePath(dir + name + "_crop0_prenms_boxes.npy"));
  const NpyArray s = ReadNpyRaw(testing::FixturePath(dir + name + "_crop0_prenms_iou_preds.npy"));
  REQUIRE(b.descr == "<i8");
  REQUIRE(s.descr == "<f4");
  REQUIRE(b.shape.size() == 2);
  REQUIRE(b.shape[1] == 4);
  REQUIRE(s.shape == std::vector<int64_t>{b.shape[0]});
  const size_t n = static_cast<size_t>(b.shape[0]);
  std::vector<BoxF> boxes(n);
  std::vector<float> scores(n);
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 4; ++k) {
      int64_t v;
      std::memcpy(&v, b.data.data() + (i * 4 + k) * 8, 8);
      boxes[i][k] = static_cast<float>(v);  // the reference's .float()
    }
    std::memcpy(&scores[i], s.data.data() + i * 4, 4);
  }
  const JsonValue doc = ParseJsonFile(testing::FixturePath(dir + name + ".json"));
  const JsonValue& nms = doc.At("trace").At("crops").Items()[0].At("nms");
  const double threshold = doc.At("params").At("box_nms_thresh").AsDouble();
  CHECK(nms.At("threshold").AsDouble() == threshold);
  REQUIRE(nms.At("n_in").AsInt64() == static_cast<int64_t>(n));
  std::vector<int> expected;
  for (const JsonValue& k : nms.At("keep").Items())
    expected.push_back(static_cast<int>(k.AsInt64()));
  const std::vector<int> keep = BatchedNms(boxes, scores, threshold);
  CHECK(keep.size() == expected.size());
  CHECK(keep == expected);
}

TEST_CASE("BatchedNms: torchvision's keep lists of the fixtures, exactly") {
  if (!testing::HaveFixtures("amg nms fixtures")) return;
  SUBCASE("f_stub_single_crop: 1057 boxes, the per-class path, many ties") {
    CheckFixtureNms("f_stub_single_crop");
  }
  SUBCASE("a_permissive: 768 boxes, the coordinate-trick path") { CheckFixtureNms("a_permissive"); }
}

// ---------------------------------------------------------------- regions

TEST_CASE("MaskToBox: inclusive extent, [0, 0, 0, 0] when empty") {
  std::vector<uint8_t> m(20 * 30, 0);
  CHECK(MaskToBox(m.data(), 20, 30) == std::array<int, 4>{0, 0, 0, 0});
  m[7 * 30 + 5] = 1;
  CHECK(MaskToBox(m.data(), 20, 30) == std::array<int, 4>{5, 7, 5, 7});
  m[19 * 30 + 29] = 255;
  m[10 * 30 + 0] = 1;
  CHECK(MaskToBox(m.data(), 20, 30) == std::array<int, 4>{0, 7, 29, 19});
  // Random masks against a plain scan.
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const int h = std::uniform_int_distribution<int>(1, 40)(rng);
    const int w = std::uniform_int_distribution<int>(1, 40)(rng);
    const std::vector<uint8_t> r = RandomMask(&rng, h, w, trial % 2 ? 0.01 : 0.2);
    std::array<int, 4> e = {w, h, -1, -1};
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        if (!r[static_cast<size_t>(y) * w + x]) continue;
        e = {std::min(e[0], x), std::min(e[1], y), std::max(e[2], x), std::max(e[3], y)};
      }
    }
    if (e[2] < 0) e = {0, 0, 0, 0};
    REQUIRE(MaskToBox(r.data(), h, w) == e);
  }
}

// The hand-made label expectations below agree with OpenCV 4.6's
// connectedComponentsWithStats(.., 8) (checked while developing; OpenCV is
// not a dependency of the tests).
TEST_CASE("LabelComponents8: OpenCV's 2 x 2 block order, not raster order") {
  // A's first pixel (row 0, col 5) comes before B's (row 1, col 0) in raster
  // order, but B lies in block (0, 0) and A in block (0, 2): B is label 1.
  const std::vector<uint8_t> m = MaskFromRows({
      ".....#..",
      "#.......",
      "........",
      "........",
  });
  std::vector<int32_t> labels;
  const std::vector<int64_t> sizes = LabelComponents8(m.data(), 4, 8, 1, &labels);
  CHECK(sizes == std::vector<int64_t>{1, 1});
  CHECK(labels[1 * 8 + 0] == 1);
  CHECK(labels[0 * 8 + 5] == 2);
  CHECK(labels[0] == 0);

  // 8-connectivity joins the diagonal C. Raster order meets E (row 0)
  // before C (row 1); block order meets C in block (0, 1) before E in block
  // (0, 3), and D (block rows 1 and 2) last.
  const std::vector<uint8_t> m2 = MaskFromRows({
      "......##",  // E: blocks (0, 3)
      "...#....",  // C: row 1 col 3 -> block (0, 1)
      "..#.....",  //    row 2 col 2 -> block (1, 1)
      "#.......",  // D: block (1, 0)
      "#.......",  //    block (2, 0)
  });
  const std::vector<int64_t> sizes2 = LabelComponents8(m2.data(), 5, 8, 1, &labels);
  REQUIRE(sizes2.size() == 3);
  CHECK(labels[1 * 8 + 3] == 1);  // C
  CHECK(labels[2 * 8 + 2] == 1);
  CHECK(labels[0 * 8 + 6] == 2);  // E
  CHECK(labels[3 * 8 + 0] == 3);  // D
  CHECK(sizes2 == std::vector<int64_t>{2, 2, 2});

  // The false pixels (value 0): the border background (7 px) and the hole
  // at (row 2, col 2), whose 8 neighbours are all true.
  const std::vector<uint8_t> ring = MaskFromRows({
      "....",
      ".###",
      ".#.#",
      ".###",
  });
  const std::vector<int64_t> bg = LabelComponents8(ring.data(), 4, 4, 0, &labels);
  CHECK(bg == std::vector<int64_t>{7, 1});
  CHECK(labels[2 * 4 + 2] == 2);
  CHECK(labels[0] == 1);
  CHECK(labels[1 * 4 + 1] == 0);
  CHECK(labels[3 * 4 + 0] == 1);
  CHECK_THROWS_AS(LabelComponents8(ring.data(), 4, 4, 2, &labels), Error);
}

// Independent labelling for the random comparison: BFS, then renumbering by
// the smallest 2 x 2 block index of each component.
std::vector<int64_t> NaiveLabels(const std::vector<uint8_t>& m, int h, int w, uint8_t value,
                                 std::vector<int32_t>* labels) {
  std::vector<int32_t> comp(m.size(), -1);
  std::vector<int64_t> key, size;
  for (int s = 0; s < h * w; ++s) {
    if ((m[s] != 0) != (value != 0) || comp[s] >= 0) continue;
    const int c = static_cast<int>(key.size());
    key.push_back(std::numeric_limits<int64_t>::max());
    size.push_back(0);
    std::vector<int> stack = {s};
    comp[s] = c;
    while (!stack.empty()) {
      const int p = stack.back();
      stack.pop_back();
      const int y = p / w, x = p % w;
      key[c] = std::min<int64_t>(key[c], static_cast<int64_t>(y / 2) * ((w + 1) / 2) + x / 2);
      ++size[c];
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          const int q = yy * w + xx;
          if ((m[q] != 0) == (value != 0) && comp[q] < 0) {
            comp[q] = c;
            stack.push_back(q);
          }
        }
      }
    }
  }
  std::vector<int> order(key.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return key[a] < key[b]; });
  std::vector<int32_t> rank(key.size());
  std::vector<int64_t> sizes(key.size());
  for (size_t k = 0; k < order.size(); ++k) {
    rank[order[k]] = static_cast<int32_t>(k + 1);
    sizes[k] = size[order[k]];
  }
  labels->assign(m.size(), 0);
  for (size_t i = 0; i < m.size(); ++i) {
    if (comp[i] >= 0) (*labels)[i] = rank[comp[i]];
  }
  return sizes;
}

TEST_CASE("LabelComponents8 equals a BFS labelling renumbered by block on random masks") {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    const int h = std::uniform_int_distribution<int>(1, 50)(rng);
    const int w = std::uniform_int_distribution<int>(1, 50)(rng);
    const double density = std::uniform_real_distribution<double>(0.05, 0.7)(rng);
    const std::vector<uint8_t> m = RandomMask(&rng, h, w, density, 1 + trial % 3);
    for (const uint8_t value : {uint8_t{0}, uint8_t{1}}) {
      std::vector<int32_t> got, expected;
      const std::vector<int64_t> sizes = LabelComponents8(m.data(), h, w, value, &got);
      REQUIRE(sizes == NaiveLabels(m, h, w, value, &expected));
      REQUIRE(got == expected);
    }
  }
}

TEST_CASE("RemoveSmallRegions: holes, including background touching the border") {
  // Two false components: the enclosed hole (1 px) and the border background
  // (7 px). min_area 5 fills only the hole; min_area 8 fills both.
  const std::vector<uint8_t> ring = MaskFromRows({
      "....",
      ".###",
      ".#.#",
      ".###",
  });
  std::vector<uint8_t> m = ring;
  CHECK(RemoveSmallRegions(&m, 4, 4, 5, RegionMode::kHoles));
  CHECK(m == MaskFromRows({"....", ".###", ".###", ".###"}));
  m = ring;
  CHECK(RemoveSmallRegions(&m, 4, 4, 8, RegionMode::kHoles));
  CHECK(m == std::vector<uint8_t>(16, 1));
  // Every false component has >= min_area pixels (strict <): unchanged.
  m = ring;
  CHECK_FALSE(RemoveSmallRegions(&m, 4, 4, 1, RegionMode::kHoles));
  CHECK(m == ring);
  // No false pixels at all.
  m.assign(16, 1);
  CHECK_FALSE(RemoveSmallRegions(&m, 4, 4, 100, RegionMode::kHoles));
}

TEST_CASE("RemoveSmallRegions: islands, the largest kept when all are small") {
  const std::vector<uint8_t> islands = MaskFromRows({
      "##....#.",
      "##......",
      "........",
      "...###..",
      "...###..",
  });  // sizes in label order: 4 (block (0,0)), 1 (block (0,3)), 6
  std::vector<uint8_t> m = islands;
  CHECK(RemoveSmallRegions(&m, 5, 8, 2, RegionMode::kIslands));
  CHECK(m == MaskFromRows({"##......", "##......", "........", "...###..", "...###.."}));
  m = islands;
  CHECK(RemoveSmallRegions(&m, 5, 8, 5, RegionMode::kIslands));
  CHECK(m == MaskFromRows({"........", "........", "........", "...###..", "...###.."}));
  // All small: keep the largest.
  m = islands;
  CHECK(RemoveSmallRegions(&m, 5, 8, 100, RegionMode::kIslands));
  CHECK(m == MaskFromRows({"........", "........", "........", "...###..", "...###.."}));
  // None small: unchanged, "changed" false.
  m = islands;
  CHECK_FALSE(RemoveSmallRegions(&m, 5, 8, 1, RegionMode::kIslands));
  CHECK(m == islands);
  // A mask that is one small island: the result equals the input but the
  // reference still reports a change (its score becomes 0).
  m = MaskFromRows({"....", ".#..", "....", "...."});
  const std::vector<uint8_t> single = m;
  CHECK(RemoveSmallRegions(&m, 4, 4, 2, RegionMode::kIslands));
  CHECK(m == single);
  // Empty mask: no islands, unchanged.
  m.assign(16, 0);
  CHECK_FALSE(RemoveSmallRegions(&m, 4, 4, 2, RegionMode::kIslands));
}

TEST_CASE("RemoveSmallRegions: equal largest islands, the first OpenCV label wins") {
  // Two one-pixel islands: raster order meets A (row 0, col 5) first, block
  // order meets B (row 1, col 0) first, so OpenCV labels B 1 and keeps it.
  std::vector<uint8_t> m = MaskFromRows({
      ".....#..",
      "#.......",
      "........",
      "........",
  });
  CHECK(RemoveSmallRegions(&m, 4, 8, 5, RegionMode::kIslands));
  CHECK(m == MaskFromRows({"........", "#.......", "........", "........"}));
  std::vector<uint8_t> wrong(5, 0);
  CHECK_THROWS_AS(RemoveSmallRegions(&wrong, 4, 8, 5, RegionMode::kIslands), Error);
}

}  // namespace
}  // namespace persam::amg
