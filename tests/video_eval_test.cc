// DAVIS J&F (video/davis_eval, davis_metrics) and the label PNG reader/writer:
// parity with the reference evaluation of the fixtures' result folders, the
// toolkit's formulas on small cases, and bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "base/error.h"
#include "tests/cli_test_util.h"
#include "tests/fixtures.h"
#include "video/davis_eval.h"
#include "video/davis_metrics.h"
#include "video/label_png.h"
#include "weights/json.h"

namespace persam {
namespace {

using testing::FixturePath;
using testing::HaveFixtures;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> Lines(const std::string& text) {
  std::set<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) lines.insert(line);
  return lines;
}

// The reference evaluation `ref` of the result folder ref/video/<results>.
void CheckEvalCase(const std::string& name, const JsonValue& ref, const std::string& results) {
  const DavisEvaluation e = EvaluateDavis(FixturePath("davis-mini"), FixturePath("ref/video/" + results));
  REQUIRE(e.sequences.size() == ref.At("sequences").size());
  double max_err = 0;
  for (const DavisSequenceScores& s : e.sequences) {
    CAPTURE(s.name);
    const JsonValue& rs = ref.At("sequences").At(s.name);
    CHECK(s.gt_objects == rs.At("gt_objects").AsInt64());
    CHECK(s.res_objects == rs.At("res_objects").AsInt64());
    CHECK(s.bound_pix == rs.At("bound_pix").AsDouble());
    CHECK(s.height == rs.At("size").Items()[0].AsInt64());
    REQUIRE(s.frames.size() == rs.At("frames").size());
    for (size_t t = 0; t < s.frames.size(); ++t) CHECK(s.frames[t] == rs.At("frames").Items()[t].AsString());
    REQUIRE(static_cast<int>(s.objects.size()) == s.gt_objects);
    for (const DavisObjectScores& o : s.objects) {
      const auto& rj = rs.At("J").At(std::to_string(o.id)).Items();
      const auto& rf = rs.At("F").At(std::to_string(o.id)).Items();
      REQUIRE(rj.size() == o.j.size());
      REQUIRE(rf.size() == o.f.size());
      for (size_t t = 0; t < o.j.size(); ++t) {
        max_err = std::max({max_err, std::fabs(o.j[t] - rj[t].AsDouble()), std::fabs(o.f[t] - rf[t].AsDouble())});
      }
    }
  }
  MESSAGE(name << ": max |J, F - reference| = " << max_err);
  CHECK(max_err <= 1e-6);
  // Global row: identical text. Per-object rows: the reference's order is
  // its directory order, ours the name order, so compare them as sets.
  const JsonValue& csv = ref.At("csv_text");
  CHECK(DavisGlobalCsv(e) == csv.At("global_results-val.csv").AsString());
  CHECK(Lines(DavisPerSequenceCsv(e)) == Lines(csv.At("per-sequence_results-val.csv").AsString()));
}

TEST_CASE("davis eval: J and F per frame and the CSVs match the reference on the perturbed result sets") {
  if (!HaveFixtures("davis eval parity")) return;
  const JsonValue cases = ParseJsonFile(FixturePath("ref/video/eval_perturbed.json"));
  CheckEvalCase("perturbed", cases.At("perturbed"), "eval_perturbed");
  CheckEvalCase("perturbed_pad", cases.At("perturbed_pad"), "eval_perturbed_pad");
}

TEST_CASE("davis eval: the reference's own video results score as eval_video.py scored them") {
  if (!HaveFixtures("davis eval of the video runs")) return;
  for (const char* run : {"vit_persam", "vit_persam_f"}) {
    CheckEvalCase(run, ParseJsonFile(FixturePath(std::string("ref/video/") + run + ".json")).At("eval"), run);
  }
}

TEST_CASE("davis eval: the stdout tables are pandas' to_string(index=False)") {
  if (!HaveFixtures("davis eval tables")) return;
  // Printed by pandas 1.5.3 from the same values in the same (name) order.
  const DavisEvaluation e = EvaluateDavis(FixturePath("davis-mini"), FixturePath("ref/video/eval_perturbed"));
  CHECK(DavisTables(e) ==
        "--------------------------- Global results for val ---------------------------\n"
        " J&F-Mean  J-Mean  J-Recall  J-Decay   F-Mean  F-Recall  F-Decay\n"
        " 0.775226 0.77278  0.833333 0.036613 0.777672  0.833333 0.099657\n"
        "\n---------- Per sequence results for val ----------\n"
        "          Sequence   J-Mean   F-Mean\n"
        "cat-sneaker-lake_1 0.914556 0.920134\n"
        "cat-sneaker-lake_2 0.689516 0.690607\n"
        "   duck-pavement_1 0.714268 0.722273\n");
  const DavisEvaluation pad = EvaluateDavis(FixturePath("davis-mini"), FixturePath("ref/video/eval_perturbed_pad"));
  CHECK(DavisTables(pad) ==
        "--------------------------- Global results for val ---------------------------\n"
        " J&F-Mean   J-Mean  J-Recall  J-Decay   F-Mean  F-Recall  F-Decay\n"
        " 0.666667 0.666667  0.666667      0.0 0.666667  0.666667      0.0\n"
        "\n---------- Per sequence results for val ----------\n"
        "          Sequence  J-Mean  F-Mean\n"
        "cat-sneaker-lake_1     1.0     1.0\n"
        "cat-sneaker-lake_2     0.0     0.0\n"
        "   duck-pavement_1     1.0     1.0\n");
}

TEST_CASE("davis eval: where the toolkit exits silently we throw naming the file") {
  if (!HaveFixtures("davis eval errors")) return;
  const std::string root = FixturePath("davis-mini");
  SUBCASE("an id above the object count") {
    const std::string dir = FixturePath("ref/video/eval_error_extra_id");
    CHECK_THROWS_WITH_AS(EvaluateDavis(root, dir),
                         doctest::Contains("eval_error_extra_id/cat-sneaker-lake/00002.png' holds object id 3"), Error);
  }
  SUBCASE("a missing result frame") {
    const std::string dir = FixturePath("ref/video/eval_error_missing_frame");
    CHECK_THROWS_WITH_AS(EvaluateDavis(root, dir),
                         doctest::Contains("eval_error_missing_frame/cat-sneaker-lake/00002.png' not found"), Error);
  }
  SUBCASE("a folder that is not a sequence of the set") {
    const std::string dir = testing::MakeTempDir("davis_stray");
    std::filesystem::create_directories(dir + "/not-a-sequence");
    CHECK_THROWS_WITH_AS(EvaluateDavis(root, dir), doctest::Contains("not-a-sequence' is not a sequence"), Error);
    std::filesystem::remove_all(dir);
  }
  SUBCASE("a result frame of another size") {
    const std::string dir = testing::MakeTempDir("davis_size");
    std::filesystem::copy(FixturePath("ref/video/eval_perturbed/duck-pavement"), dir + "/duck-pavement");
    LabelMap small;
    small.height = 4, small.width = 5;
    small.ids.assign(20, 0);
    small.palette = DavisPalette();
    WriteLabelPng(dir + "/duck-pavement/00003.png", small);
    CHECK_THROWS_WITH_AS(EvaluateDavis(root, dir), doctest::Contains("duck-pavement/00003.png' is 5x4"), Error);
    std::filesystem::remove_all(dir);
  }
  SUBCASE("an unknown set") {
    CHECK_THROWS_WITH_AS(EvaluateDavis(root, FixturePath("ref/video/eval_perturbed"), "test-dev"),
                         doctest::Contains("test-dev.txt' not found"), Error);
  }
}

TEST_CASE("davis statistics: mean, recall (> 0.5 strict) and the decay bins") {
  // Spec section 4.6: m = 4 -> bins (v0, v1) and (v2, v3); m = 5 -> (v0, v1),
  // (v3, v4); m = 6 -> (v0, v1), (v4, v5); m = 1 -> 0.
  const MeasureStatistics s4 = DavisStatistics({0.9, 0.7, 0.5, 0.1});
  CHECK(s4.mean == doctest::Approx(0.55).epsilon(1e-15));
  CHECK(s4.recall == 0.5);
  CHECK(s4.decay == doctest::Approx((0.9 + 0.7) / 2 - (0.5 + 0.1) / 2).epsilon(1e-15));
  const MeasureStatistics s5 = DavisStatistics({1.0, 0.8, 0.0, 0.4, 0.2});
  CHECK(s5.decay == doctest::Approx(0.9 - 0.3).epsilon(1e-15));
  const MeasureStatistics s6 = DavisStatistics({1.0, 0.8, 0.0, 0.0, 0.4, 0.2});
  CHECK(s6.decay == doctest::Approx(0.9 - 0.3).epsilon(1e-15));
  const MeasureStatistics s1 = DavisStatistics({0.7});
  CHECK(s1.decay == 0.0);
  CHECK(s1.recall == 1.0);
  CHECK(std::isnan(DavisStatistics({}).mean));
}

TEST_CASE("davis metrics: J, boundary radius, boundary map and F special cases") {
  CHECK(BoundaryRadius(480, 854) == 8);
  CHECK(BoundaryRadius(480, 640) == 7);
  const uint8_t empty[4] = {0, 0, 0, 0}, one[4] = {1, 0, 0, 0};
  CHECK(JaccardIndex(empty, empty, 4) == 1.0);
  CHECK(JaccardIndex(one, empty, 4) == 0.0);
  CHECK(BoundaryF(empty, empty, 2, 2) == 1.0);
  CHECK(BoundaryF(one, empty, 2, 2) == 0.0);  // spurious result
  CHECK(BoundaryF(empty, one, 2, 2) == 0.0);  // missed object
  // _seg2bmap of a 3 x 3 square in a 5 x 5 map (expected values printed by
  // the toolkit's numpy code): a pixel is set when its right, lower or
  // lower-right neighbour differs from it.
  std::vector<uint8_t> sq(25, 0);
  for (int y = 1; y <= 3; ++y)
    for (int x = 1; x <= 3; ++x) sq[y * 5 + x] = 1;
  const std::vector<uint8_t> b = BoundaryMap(sq.data(), 5, 5);
  const std::vector<uint8_t> expected = {1, 1, 1, 1, 0,  //
                                         1, 0, 0, 1, 0,  //
                                         1, 0, 0, 1, 0,  //
                                         1, 1, 1, 1, 0,  //
                                         0, 0, 0, 0, 0};
  CHECK(b == expected);
  // A full mask has no boundary (not even at the image edge), an L shape
  // in the last row / column: b[-1, :] = seg ^ e, b[:, -1] = seg ^ s,
  // b[-1, -1] = 0 (numpy: [[0, 0, 0], [0, 1, 1], [0, 1, 0]] for the corner pixel).
  const uint8_t full[4] = {1, 1, 1, 1};
  CHECK(BoundaryMap(full, 2, 2) == std::vector<uint8_t>{0, 0, 0, 0});
  const uint8_t corner[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
  CHECK(BoundaryMap(corner, 3, 3) == std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 0, 1, 0});
}

// F with a brute-force disk dilation (every pixel against every boundary
// pixel) on random masks: the row-span dilation must agree exactly.
TEST_CASE("davis metrics: F equals a brute-force disk matching") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 6; ++trial) {
    const int h = 20 + trial * 7, w = 31 + trial * 5;
    std::vector<uint8_t> r(h * w), g(h * w);
    for (int i = 0; i < h * w; ++i) r[i] = rng() % 5 == 0, g[i] = rng() % 7 == 0;
    const int rad = BoundaryRadius(h, w);
    const std::vector<uint8_t> br = BoundaryMap(r.data(), h, w), bg = BoundaryMap(g.data(), h, w);
    auto matched = [&](const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
      int64_t n = 0, hit = 0;
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          if (!a[y * w + x]) continue;
          ++n;
          bool any = false;
          for (int yy = 0; yy < h && !any; ++yy)
            for (int xx = 0; xx < w && !any; ++xx)
              any = b[yy * w + xx] && (yy - y) * (yy - y) + (xx - x) * (xx - x) <= rad * rad;
          hit += any;
        }
      return std::pair<int64_t, int64_t>(hit, n);
    };
    const auto [fh, fn] = matched(br, bg);
    const auto [gh, gn] = matched(bg, br);
    const double p = static_cast<double>(fh) / fn, rc = static_cast<double>(gh) / gn;
    CHECK(BoundaryF(r.data(), g.data(), h, w) == 2 * p * rc / (p + rc));
  }
}

TEST_CASE("davis eval: CSV folder as the reference names it") {
  CHECK(DavisCsvDir("out/results/result_x") == "out/result_csvs/result_csv_x");
  CHECK(DavisCsvDir("out/video") == "out/video");
}

TEST_CASE("label png: palette indices round trip; the DAVIS palette") {
  const std::vector<PaletteEntry> pal = DavisPalette();
  REQUIRE(pal.size() == 256);
  CHECK(pal[1] == PaletteEntry{128, 0, 0});
  CHECK(pal[2] == PaletteEntry{0, 128, 0});
  CHECK(pal[3] == PaletteEntry{128, 128, 0});
  CHECK(pal[255] == PaletteEntry{224, 224, 192});
  LabelMap map;
  map.height = 3, map.width = 7;
  for (int i = 0; i < 21; ++i) map.ids.push_back(static_cast<uint8_t>(i * 12));
  map.palette = pal;
  const std::vector<uint8_t> png = EncodeLabelPng(map);
  const LabelMap back = DecodeLabelPng(png.data(), png.size(), "mem");
  CHECK(back.height == 3);
  CHECK(back.width == 7);
  CHECK(back.ids == map.ids);
  CHECK(back.palette == pal);
  map.palette.clear();  // greyscale
  const std::vector<uint8_t> grey = EncodeLabelPng(map);
  const LabelMap grey_back = DecodeLabelPng(grey.data(), grey.size(), "mem");
  CHECK(grey_back.ids == map.ids);
  CHECK(grey_back.palette.empty());
}

TEST_CASE("label png: the fixtures' annotations carry the DAVIS palette") {
  if (!HaveFixtures("label png palette")) return;
  const LabelMap a = ReadLabelPng(FixturePath("davis-mini/Annotations/480p/cat-sneaker-lake/00000.png"));
  CHECK(a.height == 480);
  CHECK(a.width == 854);
  REQUIRE(a.palette.size() >= 3);
  for (size_t i = 0; i < a.palette.size(); ++i) CHECK(a.palette[i] == DavisPalette()[i]);
  int64_t area1 = 0, area2 = 0;
  for (uint8_t v : a.ids) area1 += v == 1, area2 += v == 2;
  CHECK(area1 == 30820);  // manifest frame_info object_area
  CHECK(area2 == 32426);
}

TEST_CASE("label png: bad input is an error naming the file") {
  const uint8_t junk[] = {'n', 'o', 't', ' ', 'p', 'n', 'g', '!', 0, 0};
  CHECK_THROWS_WITH_AS(DecodeLabelPng(junk, sizeof(junk), "junk.png"), doctest::Contains("'junk.png' is not a PNG"), Error);
  LabelMap map;
  map.height = 16, map.width = 16;
  map.ids.assign(256, 3);
  map.palette = DavisPalette();
  std::vector<uint8_t> png = EncodeLabelPng(map);
  png.resize(png.size() / 2);
  CHECK_THROWS_WITH_AS(DecodeLabelPng(png.data(), png.size(), "cut.png"), doctest::Contains("'cut.png' cannot be decoded"),
                       Error);
  if (HaveFixtures("label png rgb")) {
    // An RGB PNG holds colours, not ids.
    const std::string rgb = FixturePath("perseg-mini/Annotations/cat/00.png");
    CHECK_THROWS_WITH_AS(ReadLabelPng(rgb), doctest::Contains("expected an indexed (palette) or 8-bit greyscale PNG"), Error);
  }
  CHECK_THROWS_WITH_AS(ReadLabelPng("/nonexistent/x.png"), doctest::Contains("'/nonexistent/x.png'"), Error);
}

TEST_CASE("cli: persam eval --davis writes the CSVs, prints the tables, fails naming the file") {
  if (!HaveFixtures("cli eval --davis")) return;
  const std::string csv = testing::MakeTempDir("davis_csv");
  const std::string json = csv + "/scores.json";
  const testing::CliRun ok = testing::RunPersam("eval --davis '" + FixturePath("davis-mini") + "' --results '" +
                                                FixturePath("ref/video/eval_perturbed") + "' --csv-dir '" + csv +
                                                "' --json-out '" + json + "'");
  CHECK(ok.code == 0);
  CHECK(ok.output.find(" J&F-Mean  J-Mean  J-Recall") != std::string::npos);
  CHECK(ReadText(csv + "/global_results-val.csv") == ReadText(FixturePath("ref/video/eval_perturbed_csv/global_results-val.csv")));
  CHECK(Lines(ReadText(csv + "/per-sequence_results-val.csv")) ==
        Lines(ReadText(FixturePath("ref/video/eval_perturbed_csv/per-sequence_results-val.csv"))));
  const JsonValue scores = ParseJsonFile(json);
  CHECK(scores.At("sequences").size() == 2);
  const testing::CliRun bad = testing::RunPersam("eval --davis '" + FixturePath("davis-mini") + "' --results '" +
                                                 FixturePath("ref/video/eval_error_missing_frame") + "' --csv-dir '" +
                                                 csv + "/none'");
  CHECK(bad.code != 0);
  CHECK(bad.output.find("cat-sneaker-lake/00002.png' not found") != std::string::npos);
  CHECK(!testing::PathExists(csv + "/none"));
  std::filesystem::remove_all(csv);
}

}  // namespace
}  // namespace persam
