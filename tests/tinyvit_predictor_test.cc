// MobileSAM predictor parity (FIXTURES.md case tinyvit_predictor): the
// prompt cases on the recorded embedding, and end to end on our own TinyViT
// embedding of the same image.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/image.h"
#include "engine/preprocess.h"
#include "engine/sam_model.h"
#include "tests/fixtures.h"
#include "weights/json.h"
#include "weights/npy.h"

namespace persam {
namespace {

const SamModel& MobileSamModel() {
  static const std::unique_ptr<SamModel> model =
      SamModel::Load(testing::FixturePath("models/mobile_sam_rand_fp16.pth"));
  return *model;
}

Prompt PromptOf(const JsonValue& c) {
  Prompt p;
  if (const JsonValue* coords = c.Find("point_coords"); coords != nullptr && !coords->IsNull()) {
    const std::vector<JsonValue>& labels = c.At("point_labels").Items();
    for (size_t i = 0; i < coords->Items().size(); ++i) {
      const std::vector<JsonValue>& xy = coords->Items()[i].Items();
      p.points.push_back({xy[0].AsDouble(), xy[1].AsDouble(), static_cast<int>(labels[i].AsInt64())});
    }
  }
  if (const JsonValue* box = c.Find("box"); box != nullptr && !box->IsNull()) {
    const std::vector<JsonValue>& b = box->Items();
    p.box = BoxPrompt{b[0].AsDouble(), b[1].AsDouble(), b[2].AsDouble(), b[3].AsDouble()};
  }
  p.multimask = c.At("multimask_output").AsBool();
  p.compute_high_res = false;
  return p;
}

// Runs every tinyvit_predictor prompt on `embedding`; low-res logits within
// 5e-4 and scores within 1e-4 of the reference (FIXTURES.md).
void CheckPredictorCases(const ImageEmbedding& embedding, const char* label) {
  const JsonValue manifest = ParseJsonFile(testing::FixturePath("manifest.json"));
  const JsonValue& cs = manifest.At("cases").At("tinyvit_predictor");
  Predictor predictor(MobileSamModel());
  predictor.SetEmbedding(embedding);
  std::map<std::string, std::vector<float>> low_res_of;
  for (const JsonValue& c : cs.At("prompts").Items()) {
    const std::string name = c.At("name").AsString();
    CAPTURE(name);
    Prompt prompt = PromptOf(c);
    std::vector<float> mask_input;
    if (const JsonValue* from = c.Find("mask_input_from")) {
      const std::vector<float>& src = low_res_of.at(from->AsString());
      const size_t index = static_cast<size_t>(c.At("mask_input_index").AsInt64());
      mask_input.assign(src.begin() + index * 256 * 256, src.begin() + (index + 1) * 256 * 256);
      prompt.mask_input = mask_input.data();
    }
    const Prediction pred = predictor.Predict(prompt);
    const Tensor ref_t = ReadNpy(testing::FixturePath("ref/" + c.At("low_res").AsString()));
    const std::vector<float> ref = ref_t.ToFloat32();
    const std::vector<JsonValue>& ref_scores = c.At("scores").Items();
    REQUIRE(pred.num_masks == static_cast<int>(ref_scores.size()));
    REQUIRE(pred.low_res.size() == ref.size());
    float low_err = 0.0f, score_err = 0.0f;
    for (size_t i = 0; i < ref.size(); ++i) low_err = std::max(low_err, std::fabs(pred.low_res[i] - ref[i]));
    for (int m = 0; m < pred.num_masks; ++m) {
      score_err = std::max(score_err, std::fabs(pred.scores[m] - static_cast<float>(ref_scores[m].AsDouble())));
    }
    std::printf("tinyvit predictor (%s) %-22s low-res max abs err %.2e, score err %.2e\n", label,
                name.c_str(), low_err, score_err);
    CHECK(low_err <= 5e-4f);
    CHECK(score_err <= 1e-4f);
    low_res_of[name] = pred.low_res;
  }
}

TEST_CASE("MobileSAM predictor matches the reference on the recorded embedding (tinyvit_predictor)") {
  if (!testing::HaveFixtures("tinyvit_predictor")) return;
  const JsonValue manifest = ParseJsonFile(testing::FixturePath("manifest.json"));
  const JsonValue& cs = manifest.At("cases").At("tinyvit_predictor");
  const RgbImage image = LoadImage(testing::FixturePath("perseg-mini/Images/" + cs.At("image").AsString()));
  ImageEmbedding e;
  e.orig_height = image.height;
  e.orig_width = image.width;
  const InputSize size = ResizedSize(image.height, image.width);
  e.input_height = size.height;
  e.input_width = size.width;
  const Tensor ref = ReadNpy(testing::FixturePath("ref/" + cs.At("files").At("embedding").AsString()));
  REQUIRE(ref.shape == std::vector<int64_t>{1, 256, 64, 64});
  e.data = ref.ToFloat32();
  CheckPredictorCases(e, "recorded embedding");
}

TEST_CASE("MobileSAM end to end: our embedding of cat/01.png and the predictor (tinyvit_predictor)") {
  if (!testing::HaveFixtures("tinyvit_predictor")) return;
  const JsonValue manifest = ParseJsonFile(testing::FixturePath("manifest.json"));
  const JsonValue& cs = manifest.At("cases").At("tinyvit_predictor");
  const RgbImage image = LoadImage(testing::FixturePath("perseg-mini/Images/" + cs.At("image").AsString()));
  const ImageEmbedding e = MobileSamModel().EncodeImage(image);
  const Tensor ref = ReadNpy(testing::FixturePath("ref/" + cs.At("files").At("embedding").AsString()));
  REQUIRE(ref.shape == std::vector<int64_t>{1, 256, 64, 64});
  REQUIRE(e.data.size() == static_cast<size_t>(ref.NumElements()));
  const std::vector<float> r = ref.ToFloat32();
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    max_err = std::max(max_err, static_cast<double>(std::fabs(e.data[i] - r[i])));
    max_ref = std::max(max_ref, static_cast<double>(std::fabs(r[i])));
  }
  std::printf("tinyvit cat/01 embedding: max abs err %.3g (max abs ref %.3g)\n", max_err, max_ref);
  CHECK(max_err <= 1e-4 * max_ref);
  CheckPredictorCases(e, "our embedding");
}

}  // namespace
}  // namespace persam
