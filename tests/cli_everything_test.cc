// `persam everything` end to end: the files it writes and what they hold,
// each output mode, and its argument checks (exit code, message, nothing
// written).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "amg/rle.h"
#include "engine/image.h"
#include "tests/cli_test_util.h"
#include "tests/fixtures.h"
#include "weights/json.h"

namespace persam {
namespace {

using testing::FixturePath;
using testing::HaveFixtures;

testing::CliRun Persam(const std::string& args) { return testing::RunPersam(args); }

std::string TempDir() { return testing::MakeTempDir("persam_everything_test"); }

bool Exists(const std::string& path) { return testing::PathExists(path); }

std::string Model() { return "--model " + FixturePath("models/sam_vit_tiny.pth"); }

// A small photo-like image (a crop of a fixture photo) of the given size.
std::string SmallImage(const std::string& dir, int height, int width) {
  const RgbImage photo = LoadImage(FixturePath("perseg-mini/Images/cat/01.png"));
  RgbImage small;
  small.height = height;
  small.width = width;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < 3; ++c) {
        small.pixels.push_back(photo.pixels[(static_cast<size_t>(y + 300) * photo.width + x + 400) * 3 + c]);
      }
    }
  }
  const std::string path = dir + "/small.png";
  SavePng(path, small);
  return path;
}

amg::Rle RleOf(const JsonValue& segmentation) {
  amg::Rle rle;
  rle.height = static_cast<int>(segmentation.At("size").Items()[0].AsInt64());
  rle.width = static_cast<int>(segmentation.At("size").Items()[1].AsInt64());
  if (segmentation.At("counts").IsString()) {
    return amg::CocoStringToRle(segmentation.At("counts").AsString(), rle.height, rle.width);
  }
  for (const JsonValue& c : segmentation.At("counts").Items()) rle.counts.push_back(static_cast<uint32_t>(c.AsInt64()));
  return rle;
}

const char kPermissive[] = " --points-per-side 3 --pred-iou-thresh -100 --stability-score-thresh 0 --box-nms-thresh 1";

TEST_CASE("everything: binary masks, masks.json and overlay agree") {
  if (!HaveFixtures("cli everything binary")) return;
  const std::string dir = TempDir();
  const std::string image = SmallImage(dir, 120, 160);
  const std::string out = dir + "/out";
  const testing::CliRun r = Persam("everything " + Model() + " --image " + image + " --out " + out + kPermissive);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(r.output.find("masks") != std::string::npos);
  const JsonValue records = ParseJsonFile(out + "/masks.json");
  REQUIRE(records.IsArray());
  // 9 points x 3 masks, nothing filtered; box NMS at 1.0 keeps all but exact duplicates.
  CHECK(records.size() >= 1);
  CHECK(records.size() <= 27);
  CHECK(Exists(out + "/overlay.png"));
  for (size_t i = 0; i < records.size(); ++i) {
    const JsonValue& rec = records.Items()[i];
    char name[32];
    std::snprintf(name, sizeof(name), "%03zu.png", i);
    CHECK(rec.At("segmentation").AsString() == name);
    const RgbImage png = LoadImage(out + "/" + name);
    REQUIRE(png.height == 120);
    REQUIRE(png.width == 160);
    int64_t area = 0, not_binary = 0;
    int x_min = 160, y_min = 120, x_max = -1, y_max = -1;
    for (int y = 0; y < 120; ++y) {
      for (int x = 0; x < 160; ++x) {
        const uint8_t v = png.pixels[(static_cast<size_t>(y) * 160 + x) * 3];
        not_binary += v != 0 && v != 255;
        if (v) {
          ++area;
          x_min = std::min(x_min, x), x_max = std::max(x_max, x);
          y_min = std::min(y_min, y), y_max = std::max(y_max, y);
        }
      }
    }
    CHECK(not_binary == 0);
    CHECK(rec.At("area").AsInt64() == area);
    const auto& bbox = rec.At("bbox").Items();
    if (area > 0) {
      CHECK(bbox[0].AsInt64() == x_min);
      CHECK(bbox[1].AsInt64() == y_min);
      CHECK(bbox[2].AsInt64() == x_max - x_min);  // the reference's XYWH of an inclusive box
      CHECK(bbox[3].AsInt64() == y_max - y_min);
    }
    const auto& crop = rec.At("crop_box").Items();
    CHECK(crop[2].AsInt64() == 160);
    CHECK(crop[3].AsInt64() == 120);
    CHECK(rec.At("point_coords").Items()[0].size() == 2);
  }
}

TEST_CASE("everything: uncompressed and COCO RLE outputs describe the same masks") {
  if (!HaveFixtures("cli everything rle")) return;
  const std::string dir = TempDir();
  const std::string image = SmallImage(dir, 90, 70);
  std::vector<std::vector<uint8_t>> masks[2];
  const char* modes[2] = {"uncompressed_rle", "coco_rle"};
  for (int m = 0; m < 2; ++m) {
    const std::string out = dir + "/" + modes[m];
    const testing::CliRun r = Persam("everything " + Model() + " --image " + image + " --out " + out + kPermissive +
                                     " --output-mode " + modes[m]);
    REQUIRE_MESSAGE(r.code == 0, r.output);
    CHECK(!Exists(out + "/000.png"));
    const JsonValue records = ParseJsonFile(out + "/masks.json");
    REQUIRE(records.size() >= 1);
    for (const JsonValue& rec : records.Items()) {
      const amg::Rle rle = RleOf(rec.At("segmentation"));
      CHECK(rle.height == 90);
      CHECK(rle.width == 70);
      CHECK(amg::RleArea(rle) == rec.At("area").AsInt64());
      masks[m].push_back(amg::RleToMask(rle));
    }
  }
  CHECK(masks[0] == masks[1]);
}

TEST_CASE("everything: an image smaller than the crop overlap, with crop layers") {
  if (!HaveFixtures("cli everything small image")) return;
  const std::string dir = TempDir();
  const std::string image = SmallImage(dir, 12, 9);
  const std::string out = dir + "/out";
  const testing::CliRun r = Persam("everything " + Model() + " --image " + image + " --out " + out +
                                   " --points-per-side 4 --crop-n-layers 2 --crop-n-points-downscale-factor 2"
                                   " --pred-iou-thresh 0 --stability-score-thresh 0 --min-mask-region-area 5");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  const JsonValue records = ParseJsonFile(out + "/masks.json");
  REQUIRE(records.IsArray());
  for (const JsonValue& rec : records.Items()) {
    const auto& crop = rec.At("crop_box").Items();
    CHECK(crop[0].AsInt64() + crop[2].AsInt64() <= 9);
    CHECK(crop[1].AsInt64() + crop[3].AsInt64() <= 12);
  }
}

TEST_CASE("everything: no mask survives -> a valid empty masks.json") {
  if (!HaveFixtures("cli everything empty")) return;
  const std::string dir = TempDir();
  const std::string image = SmallImage(dir, 64, 48);
  const std::string out = dir + "/out";
  // An IoU threshold above any score the decoder can predict.
  const testing::CliRun r = Persam("everything " + Model() + " --image " + image + " --out " + out +
                                   " --points-per-side 4 --pred-iou-thresh 1000");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(r.output.find("0 masks") != std::string::npos);
  const JsonValue records = ParseJsonFile(out + "/masks.json");
  CHECK(records.IsArray());
  CHECK(records.size() == 0);
  CHECK(!Exists(out + "/000.png"));
  CHECK(Exists(out + "/overlay.png"));
}

TEST_CASE("everything: invalid parameters are refused before anything is written") {
  if (!HaveFixtures("cli everything errors")) return;
  const std::string dir = TempDir();
  const std::string image = SmallImage(dir, 40, 40);
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      // int(7 / 3^2) = 0 points per side on layer 2: the reference divides by zero.
      {"--points-per-side 7 --crop-n-layers 2 --crop-n-points-downscale-factor 3", "layer 2"},
      {"--points-per-side 0", "--points-per-side"},
      {"--points-per-side 100000", "--points-per-side"},
      {"--points-per-batch 0", "--points-per-batch"},
      {"--crop-overlap-ratio -0.1", "--crop-overlap-ratio"},
      {"--crop-n-layers -1", "--crop-n-layers"},
      {"--crop-n-points-downscale-factor 0", "--crop-n-points-downscale-factor"},
      {"--min-mask-region-area -5", "--min-mask-region-area"},
      {"--output-mode png", "--output-mode"},
      {"--pred-iou-thresh nan", "--pred-iou-thresh"},
      {"--box-nms-thresh abc", "--box-nms-thresh"},
      {"--points-per-side 2.5", "--points-per-side"},
  };
  for (const Case& c : cases) {
    INFO(c.args);
    const std::string out = dir + "/never";
    const testing::CliRun r = Persam("everything " + Model() + " --image " + image + " --out " + out + " " + c.args);
    CHECK(r.code != 0);
    CHECK_MESSAGE(r.output.find(c.message) != std::string::npos, r.output);
    CHECK(!Exists(out));
  }
  const testing::CliRun missing = Persam("everything " + Model() + " --image " + dir + "/absent.png --out " + dir + "/o");
  CHECK(missing.code != 0);
  CHECK(missing.output.find("absent.png") != std::string::npos);
}

}  // namespace
}  // namespace persam
