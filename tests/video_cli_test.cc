// `persam video` end to end and on bad input, and the box update when an
// object vanishes (reference: positional; corrected: by id).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/image.h"
#include "engine/sam_model.h"
#include "tests/cli_test_util.h"
#include "tests/fixtures.h"
#include "tests/video_first_mask.h"
#include "video/label_png.h"
#include "video/video_segmenter.h"
#include "weights/json.h"

namespace persam {
namespace {

namespace fs = std::filesystem;
using testing::FixturePath;
using testing::HaveFixtures;
using testing::MakeTempDir;
using testing::PathExists;
using testing::RunPersam;

std::string Model() { return "--model '" + FixturePath("models/sam_vit_tiny.pth") + "'"; }

RgbImage Gradient(int height, int width, int seed) {
  RgbImage im;
  im.height = height, im.width = width;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) im.pixels.push_back(static_cast<uint8_t>((x * 3 + y * 5 + c * 40 + seed * 7) & 255));
  return im;
}

// A frame folder of `count` frames and a first mask with a square object.
std::string MakeFrameFolder(const std::string& root, int count, int height, int width) {
  const std::string frames = root + "/clip";
  fs::create_directories(frames);
  for (int t = 0; t < count; ++t) SavePng(frames + "/f" + std::to_string(t) + ".png", Gradient(height, width, t));
  testing::WriteSquareFirstMask(root + "/first.png", height, width);
  return frames;
}

TEST_CASE("cli video: a frame folder end to end (corrected mode, overlay, report)") {
  if (!HaveFixtures("cli video frames")) return;
  const std::string dir = MakeTempDir("video_frames");
  const std::string frames = MakeFrameFolder(dir, 3, 48, 64);
  const testing::CliRun r = RunPersam("video " + Model() + " --frames '" + frames + "' --first-mask '" + dir +
                                      "/first.png' --mode corrected --overlay --report '" + dir + "/r.json' --out '" + dir + "/out'");
  CHECK_MESSAGE(r.code == 0, r.output);
  for (int t = 1; t < 3; ++t) {
    const std::string png = dir + "/out/clip/f" + std::to_string(t) + ".png";
    REQUIRE(PathExists(png));
    const LabelMap m = ReadLabelPng(png);
    CHECK(m.height == 48);
    CHECK(m.width == 64);
    CHECK(m.palette == DavisPalette());
    CHECK(*std::max_element(m.ids.begin(), m.ids.end()) <= 1);
    CHECK(PathExists(dir + "/out/clip/overlay/f" + std::to_string(t) + ".jpg"));
  }
  CHECK(!PathExists(dir + "/out/clip/f0.png"));  // frame 0 is never written
  const JsonValue report = ParseJsonFile(dir + "/r.json");
  CHECK(report.At("mode").AsString() == "corrected");
  const JsonValue& seq = report.At("sequences").Items().at(0);
  CHECK(seq.At("frames").size() == 2);
  CHECK(seq.At("objects").size() == 1);
  CHECK(seq.At("error").IsNull());
  fs::remove_all(dir);
}

TEST_CASE("cli video: bad input is reported naming the file") {
  if (!HaveFixtures("cli video bad input")) return;
  const std::string dir = MakeTempDir("video_bad");
  SUBCASE("a non-image file in the frame folder") {
    const std::string frames = MakeFrameFolder(dir, 2, 48, 64);
    std::ofstream(frames + "/notes.txt") << "hello";
    const testing::CliRun r = RunPersam("video " + Model() + " --frames '" + frames + "' --first-mask '" + dir +
                                        "/first.png' --out '" + dir + "/out'");
    CHECK(r.code != 0);
    CHECK(r.output.find("notes.txt' in the frame folder is not a JPEG or PNG frame") != std::string::npos);
    CHECK(!PathExists(dir + "/out/clip"));
  }
  SUBCASE("frames of different sizes") {
    const std::string frames = MakeFrameFolder(dir, 2, 48, 64);
    SavePng(frames + "/f1.png", Gradient(32, 32, 1));
    const testing::CliRun r = RunPersam("video " + Model() + " --frames '" + frames + "' --first-mask '" + dir +
                                        "/first.png' --out '" + dir + "/out'");
    CHECK(r.code != 0);
    CHECK(r.output.find("f1.png' is 32x32 but the sequence's first frame is 64x48") != std::string::npos);
  }
  SUBCASE("an empty first mask") {
    const std::string frames = MakeFrameFolder(dir, 2, 48, 64);
    LabelMap empty;
    empty.height = 48, empty.width = 64;
    empty.ids.assign(48 * 64, 0);
    empty.palette = DavisPalette();
    WriteLabelPng(dir + "/first.png", empty);
    const testing::CliRun r = RunPersam("video " + Model() + " --frames '" + frames + "' --first-mask '" + dir +
                                        "/first.png' --out '" + dir + "/out'");
    CHECK(r.code != 0);
    CHECK(r.output.find("first.png' is empty") != std::string::npos);
  }
  SUBCASE("DAVIS: a missing first annotation, a stray file in a frame folder; each sequence reports its own") {
    const std::string root = dir + "/davis";
    fs::copy(FixturePath("davis-mini"), root, fs::copy_options::recursive);
    fs::permissions(root, fs::perms::owner_all, fs::perm_options::add);
    for (const auto& e : fs::recursive_directory_iterator(root)) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    fs::remove(root + "/Annotations/480p/duck-pavement/00000.png");
    std::ofstream(root + "/JPEGImages/480p/cat-sneaker-lake/notes.txt") << "x";
    // A stray file counts as a frame (T = 7), so 00006.jpg is looked for.
    const testing::CliRun r = RunPersam("video " + Model() + " --davis '" + root + "' --out '" + dir + "/out'");
    CHECK(r.code != 0);
    CHECK(r.output.find("duck-pavement/00000.png' not found") != std::string::npos);
    CHECK(r.output.find("cat-sneaker-lake/00006.jpg' not found") != std::string::npos);
  }
  SUBCASE("usage errors") {
    CHECK(RunPersam("video " + Model() + " --out x").code != 0);
    const testing::CliRun r = RunPersam("video " + Model() + " --frames a --davis b --out x");
    CHECK(r.code != 0);
    CHECK(r.output.find("one of --davis ROOT, --frames DIR or --video FILE") != std::string::npos);
    CHECK(RunPersam("video " + Model() + " --frames a --first-mask b --mode fixed --out x").output.find("--mode expects") !=
          std::string::npos);
  }
  fs::remove_all(dir);
}

// An object absent from the previous label map: the reference's boxes are
// positional (object 1 gets object 2's box, object 2 is dropped); corrected
// mode keeps object 1's last box and says so.
TEST_CASE("video: a vanished object in reference and corrected mode") {
  if (!HaveFixtures("video vanished object")) return;
  const std::unique_ptr<SamModel> model = SamModel::Load(FixturePath("models/sam_vit_tiny.pth"));
  const std::string seq = "cat-sneaker-lake";
  const LabelMap first = ReadLabelPng(FixturePath("davis-mini/Annotations/480p/" + seq + "/00000.png"));
  const ImageEmbedding e0 = model->EncodeImage(LoadImage(FixturePath("davis-mini/JPEGImages/480p/" + seq + "/00000.jpg")));
  LabelMap only2 = first;
  std::vector<uint8_t> map1(first.ids.size()), map2(first.ids.size());
  for (size_t i = 0; i < first.ids.size(); ++i) {
    map1[i] = first.ids[i] == 1;
    map2[i] = first.ids[i] == 2;
    if (only2.ids[i] == 1) only2.ids[i] = 0;
  }
  const IntBox box1 = GrownBox(map1, first.height, first.width, 10)->box;
  const IntBox box2 = GrownBox(map2, first.height, first.width, 10)->box;
  {
    VideoSegmenter reference(*model, VideoOptions{});
    reference.Start(e0, first);
    reference.SetBoxesFrom(only2);
    const VideoFrameResult r = reference.Segment(e0, 1);
    REQUIRE(r.objects.size() == 1);
    CHECK(r.objects[0].box.x0 == box2.x0);
    CHECK(r.objects[0].box.y1 == box2.y1);
    // The survivor is written as id 1.
    CHECK(*std::max_element(r.labels.ids.begin(), r.labels.ids.end()) <= 1);
    CHECK(reference.deviations().empty());
  }
  {
    VideoOptions options;
    options.mode = VideoMode::kCorrected;
    VideoSegmenter corrected(*model, options);
    corrected.Start(e0, first);
    corrected.SetBoxesFrom(only2);
    REQUIRE(!corrected.deviations().empty());
    CHECK(corrected.deviations()[0].find("object 1 vanished") != std::string::npos);
    const VideoFrameResult r = corrected.Segment(e0, 1);
    REQUIRE(r.objects.size() == 2);
    CHECK(r.objects[0].box.x0 == box1.x0);
    CHECK(r.objects[0].box.y1 == box1.y1);
    CHECK(r.objects[1].box.x0 == box2.x0);
  }
}

// An object smaller than one embedding cell: the reference's target feature
// is the mean of nothing (256 NaNs, BUG 2.1.4); corrected mode uses the cells
// of highest coverage and says so.
TEST_CASE("video: an object below one cell gives NaN features in reference mode, a fallback in corrected mode") {
  if (!HaveFixtures("video tiny object")) return;
  const std::unique_ptr<SamModel> model = SamModel::Load(FixturePath("models/sam_vit_tiny.pth"));
  const ImageEmbedding e0 = model->EncodeImage(Gradient(480, 854, 0));
  LabelMap first;
  first.height = 480, first.width = 854;
  first.ids.assign(480 * 854, 0);
  first.ids[200 * 854 + 300] = 1;  // one pixel
  VideoSegmenter reference(*model, VideoOptions{});
  reference.Start(e0, first);
  REQUIRE(reference.objects().size() == 1);
  CHECK(reference.objects()[0].nan_target);
  CHECK(reference.objects()[0].target_cells == 0);
  CHECK(std::all_of(reference.objects()[0].target_feat.begin(), reference.objects()[0].target_feat.end(),
                    [](float v) { return std::isnan(v); }));
  VideoOptions options;
  options.mode = VideoMode::kCorrected;
  VideoSegmenter corrected(*model, options);
  corrected.Start(e0, first);
  CHECK(!corrected.objects()[0].nan_target);
  CHECK(std::none_of(corrected.objects()[0].target_feat.begin(), corrected.objects()[0].target_feat.end(),
                     [](float v) { return std::isnan(v); }));
  REQUIRE(corrected.deviations().size() == 1);
  CHECK(corrected.deviations()[0].find("object 1 covers no 64x64 cell") != std::string::npos);
}

}  // namespace
}  // namespace persam
