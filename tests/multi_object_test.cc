// The multi-object script's reference mode (concepts/multi_object.h) against
// the recordings of persam_f_multi_obj.py (FIXTURES.md, "Video, J&F and
// multi-object", tolerances there): training per reference image, then
// every iteration given the reference's previous state (the image blacked
// out with the reference's earlier masks, the reference's prior point), then
// the free-running run (iteration counts, stops, output PNGs). Corrected
// mode on the same images, and the errors where the script crashes.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "concepts/multi_object.h"
#include "engine/image.h"
#include "engine/sam_model.h"
#include "persam/dataset.h"
#include "persam/location_prior.h"
#include "tests/cli_test_util.h"
#include "tests/fixtures.h"
#include "weights/json.h"

namespace persam {
namespace {
namespace fs = std::filesystem;
using testing::FixturePath;
using testing::HaveFixtures;
using testing::MakeTempDir;
using testing::PathExists;

std::vector<uint8_t> MaskPng(const std::string& path) {
  const RgbImage image = LoadImage(path);
  std::vector<uint8_t> mask(static_cast<size_t>(image.height) * image.width);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = image.pixels[3 * i] > 0;
  return mask;
}

std::string RefMaskPath(const std::string& file) { return FixturePath("ref/multi_obj/" + file); }

std::string DataPath(const std::string& rel) { return FixturePath("perseg-multi/" + rel); }

const SamModel& Model() {
  static const std::unique_ptr<SamModel> model = SamModel::Load(FixturePath("models/sam_vit_tiny.pth"), {});
  return *model;
}

MultiObjectTraining Train(const std::string& object, int count, MultiObjectMode mode) {
  std::vector<std::string> images, masks;
  for (int i = 0; i < count; ++i) {
    const std::string nn = (i < 10 ? "0" : "") + std::to_string(i);
    images.push_back(DataPath("Images/" + object + "/" + nn + ".png"));
    masks.push_back(DataPath("Annotations/" + object + "/" + nn + ".png"));
  }
  MultiObjectOptions options;
  options.mode = mode;
  return TrainMultiObject(Model(), images, masks, options);
}

TEST_CASE("multi-object reference mode: training, then every iteration given the reference's state") {
  if (!HaveFixtures("multi-object parity")) return;
  const JsonValue ref = ParseJsonFile(FixturePath("ref/multi_obj/vit.json"));
  CHECK(ref.At("args").At("train_epoch_inside").AsInt64() == MultiObjectOptions().training.steps);
  CHECK(ref.At("args").At("max_objects").AsInt64() == MultiObjectOptions().max_objects);
  for (const auto& [object, info] : ref.At("objects").Members()) {
    CAPTURE(object);
    const auto& training = info.At("training").Items();
    const MultiObjectTraining trained =
        Train(object, static_cast<int>(training.size()), MultiObjectMode::kReference);
    REQUIRE(trained.summaries.size() == training.size());
    for (size_t r = 0; r < training.size(); ++r) {
      CAPTURE(r);
      const ReferenceSummary& s = trained.summaries[r];
      CHECK(s.selected_cells == training[r].At("target_cells").AsInt64());
      const auto& point = training[r].At("points").Items()[0].Items();
      CHECK(std::abs(s.training_point->x - point[0].AsDouble()) <= 1.0);
      CHECK(std::abs(s.training_point->y - point[1].AsDouble()) <= 1.0);
      const auto& mixing = training[r].At("mixing_w0_w1_w2").Items();
      for (int k = 0; k < 3; ++k) CHECK(std::abs(s.training->weights[k] - mixing[k].AsDouble()) <= 1e-3);
      const auto& dice = training[r].At("losses").At("calculate_dice_loss").Items();
      const auto& focal = training[r].At("losses").At("calculate_sigmoid_focal_loss").Items();
      CHECK(std::abs(s.training->final_dice - dice.back().AsDouble()) <= 1e-4);
      CHECK(std::abs(s.training->final_focal - focal.back().AsDouble()) <= 1e-4);
    }
    // Only the last training image's weights are used.
    const auto& last = training.back().At("mixing_w0_w1_w2").Items();
    for (int k = 0; k < 3; ++k) CHECK(std::abs(trained.weights[k] - last[k].AsDouble()) <= 1e-3);

    PersonalizeOptions popt;
    popt.finetune = true;
    Personalizer personalizer(Model(), popt);
    personalizer.SetLearned(trained.target, trained.weights, trained.ref_height, trained.ref_width);
    for (const auto& [nn, image_info] : info.At("images").Members()) {
      CAPTURE(nn);
      const RgbImage original = LoadImage(DataPath("Images/" + object + "/" + nn + ".png"));
      const auto& iterations = image_info.At("iterations").Items();
      std::vector<std::vector<uint8_t>> ref_masks, history;
      for (const JsonValue& it : iterations) ref_masks.push_back(MaskPng(RefMaskPath(it.At("final_mask").AsString())));
      for (size_t i = 0; i < iterations.size(); ++i) {
        CAPTURE(i);
        const JsonValue& it = iterations[i];
        RgbImage image = original;
        for (size_t j = 0; j < i; ++j) {
          for (size_t p = 0; p < ref_masks[j].size(); ++p) {
            if (ref_masks[j][p]) image.pixels[3 * p] = image.pixels[3 * p + 1] = image.pixels[3 * p + 2] = 0;
          }
        }
        const ImageEmbedding embedding = Model().EncodeImage(image, nullptr);
        // The prior point: within 1 pixel, or a position tying the top within 1e-6.
        const std::vector<float> sim = SimilarityMap(embedding, trained.target.feat);
        const PointPrompt mine = ArgMaxPoint(sim, image.width);
        const auto& rp = it.At("points").Items()[0].Items();
        const int rx = static_cast<int>(rp[0].AsInt64()), ry = static_cast<int>(rp[1].AsInt64());
        const bool near = std::abs(mine.x - rx) <= 1 && std::abs(mine.y - ry) <= 1;
        CHECK((near || sim[static_cast<size_t>(ry) * image.width + rx] >= sim[static_cast<size_t>(mine.y) * image.width + static_cast<size_t>(mine.x)] - 1e-6f));
        PointPrompt pinned;
        pinned.x = rx, pinned.y = ry;
        const ImageOutcome out = personalizer.SegmentWithPoints(embedding, std::vector<PointPrompt>{pinned});
        const auto& steps = it.At("steps").Items();
        REQUIRE(out.steps.size() == steps.size());
        for (size_t s = 0; s < steps.size(); ++s) {
          CAPTURE(s);
          const auto& scores = steps[s].At("scores").Items();
          REQUIRE(out.steps[s].scores.size() == scores.size());
          for (size_t k = 0; k < scores.size(); ++k) CHECK(std::abs(out.steps[s].scores[k] - scores[k].AsDouble()) <= 1e-3);
          if (s > 0) CHECK(out.steps[s].chosen == steps[s].At("best_index").AsInt64());
        }
        const double weighted = steps[0].At("weighted_area").AsDouble();
        CHECK(std::abs(out.steps[0].chosen_mask_area - weighted) <= 1e-3 * weighted + 1);
        const double iou = MaskIoU(out.mask, ref_masks[i]);
        CHECK(iou >= 0.99);
        // The IoU rule against the reference's accepted masks.
        const auto& ious = it.At("iou_vs_history").Items();
        for (size_t h = 0; h < ious.size(); ++h) {
          const double v = MaskIoU(history[h], out.mask);
          CHECK(std::abs(v - ious[h].AsDouble()) <= 1e-3);
          CHECK((v >= 0.8) == (ious[h].AsDouble() >= 0.8));
        }
        if (ious.empty() || ious.back().AsDouble() < 0.8) history.push_back(ref_masks[i]);
      }
    }
  }
}

TEST_CASE("multi-object reference mode, free-running: iteration counts, stops, objects found and NN.png") {
  if (!HaveFixtures("multi-object free-running")) return;
  const JsonValue ref = ParseJsonFile(FixturePath("ref/multi_obj/vit.json"));
  const std::string out = MakeTempDir("multi_obj_ref");
  MultiObjectOptions options;
  options.out_dir = out;
  const MultiObjectReport report = RunMultiObject(Model(), FixturePath("perseg-multi"), options);
  CHECK(report.deviations.empty());
  REQUIRE(report.objects.size() == ref.At("objects").Members().size());
  for (const MultiObjectObject& object : report.objects) {
    CAPTURE(object.name);
    const JsonValue& info = ref.At("objects").At(object.name);
    REQUIRE(object.images.size() == info.At("images").Members().size());
    for (const MultiObjectImage& image : object.images) {
      CAPTURE(image.name);
      const JsonValue& ri = info.At("images").At(image.name);
      const auto& iterations = ri.At("iterations").Items();
      REQUIRE(image.iterations.size() == iterations.size());
      CHECK(image.objects_found == ri.At("objects_found").AsInt64());
      CHECK(image.stopped_by_iou == ri.At("stopped_by_iou").AsBool());
      for (size_t i = 0; i < iterations.size(); ++i) {
        CAPTURE(i);
        CHECK(MaskIoU(image.iterations[i].outcome.mask, MaskPng(RefMaskPath(iterations[i].At("final_mask").AsString()))) >= 0.99);
      }
      const std::string written = out + "/" + object.name + "/" + image.name + ".png";
      const std::string expected = RefMaskPath(info.At("outputs").At(image.name + ".png").At("file").AsString());
      CHECK(MaskIoU(MaskPng(written), MaskPng(expected)) >= 0.99);
      CHECK(PathExists(out + "/" + object.name + "/vis_mask_" + image.name + "_objects:" +
                       std::to_string(image.objects_found) + ".jpg"));
    }
  }
  fs::remove_all(out);
}

TEST_CASE("multi-object corrected mode: NN.png is the union of the instances, deviations named") {
  if (!HaveFixtures("multi-object corrected")) return;
  const JsonValue ref = ParseJsonFile(FixturePath("ref/multi_obj/vit.json"));
  // One object with one training image: the training is the reference's.
  const std::string data = MakeTempDir("multi_obj_data");
  for (const char* part : {"Images", "Annotations"}) {
    fs::create_directories(data + "/" + part + "/cat");
    for (const char* nn : {"00", "02"}) {
      fs::copy_file(DataPath(std::string(part) + "/cat/" + nn + ".png"),
                    data + "/" + part + "/cat/" + (nn[1] == '0' ? "00" : "01") + ".png");
    }
  }
  MultiObjectOptions options;
  options.mode = MultiObjectMode::kCorrected;
  const MultiObjectReport report = RunMultiObject(Model(), data, options);
  CHECK(report.deviations == MultiObjectDeviations());
  REQUIRE(report.objects.size() == 1);
  const auto& images = report.objects[0].images;
  REQUIRE(images.size() == 2);
  // Our 01 is the fixture's cat/02.
  const JsonValue& ri = ref.At("objects").At("cat").At("images").At("02");
  const auto& iterations = ri.At("iterations").Items();
  CHECK(images[1].objects_found == ri.At("objects_found").AsInt64());
  std::vector<uint8_t> expected(images[1].output.size(), 0);
  for (int i = 0; i < ri.At("objects_found").AsInt64(); ++i) {
    const std::vector<uint8_t> m = MaskPng(RefMaskPath(iterations[i].At("final_mask").AsString()));
    for (size_t p = 0; p < m.size(); ++p) expected[p] |= m[p];
  }
  CHECK(MaskIoU(images[1].output, expected) >= 0.99);
  fs::remove_all(data);
}

TEST_CASE("multi-object: where the script crashes for want of a training image, an error; corrected trains on one") {
  if (!HaveFixtures("multi-object no training image")) return;
  const std::string data = MakeTempDir("multi_obj_one");
  for (const char* part : {"Images", "Annotations"}) {
    fs::create_directories(data + "/" + part + "/cat");
    fs::copy_file(DataPath(std::string(part) + "/cat/00.png"), data + "/" + part + "/cat/00.png");
  }
  MultiObjectOptions options;
  options.max_objects = 1;
  options.training.steps = 2;
  options.out_dir = data + "/out";
  try {
    RunMultiObject(Model(), data, options);
    FAIL("expected MultiObjectCrash");
  } catch (const MultiObjectCrash& e) {
    CHECK(std::string(e.what()).find("object 'cat'") != std::string::npos);
    CHECK(std::string(e.what()).find("NameError") != std::string::npos);
  }
  CHECK(!PathExists(data + "/out"));
  options.mode = MultiObjectMode::kCorrected;
  const MultiObjectReport report = RunMultiObject(Model(), data, options);
  REQUIRE(report.objects.size() == 1);
  CHECK(report.objects[0].training.images.size() == 1);
  CHECK(report.deviations.size() == MultiObjectDeviations().size() + 1);
  CHECK(PathExists(data + "/out/cat/00.png"));
  options.training_percentage = 0;
  CHECK_THROWS_WITH_AS(RunMultiObject(Model(), data, options), doctest::Contains("training percentage"), Error);
  options.training_percentage = 0.5;
  options.max_objects = 0;
  CHECK_THROWS_WITH_AS(RunMultiObject(Model(), data, options), doctest::Contains("max objects"), Error);
  fs::remove_all(data);
}

TEST_CASE("multi-object: IoU as the script computes it") {
  CHECK(MaskIoU({1, 1, 0, 0}, {1, 0, 1, 0}) == doctest::Approx(1.0 / 3.0));
  CHECK(MaskIoU({1, 1, 0}, {1, 1, 0}) == 1.0);
  CHECK(std::isnan(MaskIoU({0, 0}, {0, 0})));
  CHECK(MaskIoU({0, 0}, {1, 0}) == 0.0);
}

}  // namespace
}  // namespace persam
