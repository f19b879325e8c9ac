// PerSeg evaluation (eval_miou.py semantics) and the dataset layout scanner.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/image.h"
#include "persam/dataset.h"
#include "persam/eval.h"
#include "base/error.h"

namespace persam {
namespace {
namespace fs = std::filesystem;

RgbImage Solid(int h, int w, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage im;
  im.height = h;
  im.width = w;
  im.pixels.resize(static_cast<size_t>(h) * w * 3);
  for (size_t i = 0; i < im.pixels.size(); i += 3) {
    im.pixels[i] = r;
    im.pixels[i + 1] = g;
    im.pixels[i + 2] = b;
  }
  return im;
}

// Foreground = the first `rows` rows.
RgbImage Rows(int h, int w, int rows) {
  RgbImage im = Solid(h, w, 0, 0, 0);
  for (int i = 0; i < rows * w; ++i) im.pixels[3 * i] = 128;
  return im;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char name[] = "/tmp/persam_eval_testXXXXXX";
    path = mkdtemp(name);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

TEST_CASE("GrayForeground follows OpenCV's BGR2GRAY fixed point") {
  // Expected values printed by cv2 4.6 (cvtColor(BGR2GRAY) > 0) for these RGB pixels.
  const uint8_t px[8][3] = {{1, 0, 0}, {2, 0, 0}, {0, 1, 0}, {0, 0, 4}, {0, 0, 5}, {1, 0, 1}, {0, 0, 1}, {1, 1, 1}};
  const uint8_t expected[8] = {0, 1, 1, 0, 1, 0, 0, 1};
  RgbImage im = Solid(1, 8, 0, 0, 0);
  for (int i = 0; i < 8; ++i) {
    for (int c = 0; c < 3; ++c) im.pixels[3 * i + c] = px[i][c];
  }
  const std::vector<uint8_t> fg = GrayForeground(im);
  for (int i = 0; i < 8; ++i) CHECK(fg[i] == expected[i]);
}

TEST_CASE("CountMaskPair: intersection, union, target") {
  const std::vector<uint8_t> pred = {1, 1, 0, 0, 1};
  const std::vector<uint8_t> gt = {1, 0, 1, 0, 1};
  const MaskPairCounts c = CountMaskPair(pred, gt);
  CHECK(c.intersection == 2);
  CHECK(c.union_ == 4);
  CHECK(c.target == 3);
}

TEST_CASE("EvaluatePredictions: sums per object, skips the reference, means over objects") {
  TempDir tmp;
  const fs::path gt = tmp.path / "Annotations", pred = tmp.path / "pred";
  for (const char* obj : {"a", "b"}) {
    fs::create_directories(gt / obj);
    fs::create_directories(pred / obj);
  }
  // Object a: 00 (reference, ignored even though it is wrong), 01, 02.
  SavePng((gt / "a/00.png").string(), Rows(10, 10, 5));
  SavePng((pred / "a/00.png").string(), Rows(10, 10, 0));
  SavePng((gt / "a/01.png").string(), Rows(10, 10, 4));   // 40 px
  SavePng((pred / "a/01.png").string(), Rows(10, 10, 6)); // 60 px: I 40, U 60
  SavePng((gt / "a/02.png").string(), Rows(10, 10, 5));   // 50 px
  SavePng((pred / "a/02.png").string(), Rows(10, 10, 2)); // 20 px: I 20, U 50
  // Visualisations are JPEGs and ignored.
  SavePng((gt / "b/00.png").string(), Rows(4, 4, 1));
  SavePng((pred / "b/00.png").string(), Rows(4, 4, 1));
  SavePng((gt / "b/01.png").string(), Rows(4, 4, 2));     // 8 px
  SavePng((pred / "b/01.png").string(), Rows(4, 4, 1));   // 4 px: I 4, U 8
  const EvalResult r = EvaluatePredictions(pred.string(), gt.string(), "00");
  REQUIRE(r.objects.size() == 2);
  CHECK(r.objects[0].name == "a");
  CHECK(r.objects[0].images == 2);
  CHECK(r.objects[0].counts.intersection == 60);
  CHECK(r.objects[0].counts.union_ == 110);
  CHECK(r.objects[0].counts.target == 90);
  CHECK(r.objects[0].iou == doctest::Approx(60.0 / 110));
  CHECK(r.objects[0].accuracy == doctest::Approx(60.0 / 90));
  CHECK(r.objects[1].iou == doctest::Approx(0.5));
  CHECK(r.objects[1].accuracy == doctest::Approx(0.5));
  CHECK(r.mean_iou == doctest::Approx((60.0 / 110 + 0.5) / 2));
  const std::string text = FormatEvalText(r);
  CHECK(text == "a, IoU: 54.55, Acc: 66.67\n\nb, IoU: 50.00, Acc: 50.00\n\n\nmIoU: 52.27\nmAcc: 58.33\n\n");

  // Masks of different sizes are an error naming both files.
  SavePng((pred / "b/01.png").string(), Rows(5, 4, 1));
  CHECK_THROWS_AS(EvaluatePredictions(pred.string(), gt.string(), "00"), Error);
  CHECK_THROWS_AS(EvaluatePredictions((tmp.path / "missing").string(), gt.string(), "00"), Error);
}

TEST_CASE("ScanPerSegDataset: layout, numbering, errors") {
  TempDir tmp;
  const fs::path images = tmp.path / "Images", masks = tmp.path / "Annotations";
  fs::create_directories(images / "dog");
  fs::create_directories(masks / "dog");
  CHECK_THROWS_AS(ScanPerSegDataset(tmp.path.string()), Error);  // object without images
  SavePng((images / "dog/00.png").string(), Solid(2, 2, 1, 2, 3));
  SaveJpeg((images / "dog/01.jpg").string(), Solid(2, 2, 1, 2, 3));
  SavePng((images / "dog/notes.png").string(), Solid(2, 2, 1, 2, 3));  // not numbered: ignored
  CHECK_THROWS_AS(ScanPerSegDataset(tmp.path.string()), Error);  // no reference mask
  SavePng((masks / "dog/00.png").string(), Rows(2, 2, 1));
  const std::vector<DatasetObject> objects = ScanPerSegDataset(tmp.path.string());
  REQUIRE(objects.size() == 1);
  REQUIRE(objects[0].images.size() == 2);
  CHECK(objects[0].images[0].name == "00");
  CHECK(objects[0].images[1].name == "01");
  CHECK(fs::path(objects[0].ref_mask).filename() == "00.png");
  CHECK_THROWS_AS(ScanPerSegDataset(tmp.path.string(), "03"), Error);  // no image 03
  SavePng((images / "dog/1.png").string(), Solid(2, 2, 1, 2, 3));       // duplicate number 1
  CHECK_THROWS_AS(ScanPerSegDataset(tmp.path.string()), Error);
  CHECK_THROWS_AS(ScanPerSegDataset((tmp.path / "nothing").string()), Error);
}

}  // namespace
}  // namespace persam
