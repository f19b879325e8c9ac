// The automatic mask generator against the reference's recorded outputs
// (FIXTURES.md, "Automatic mask generation"): the real-model cases through
// SamMaskSource, the stub cases through the closed-form decoder the fixtures
// define, and the generator's own argument checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "amg/generator.h"
#include "amg/regions.h"
#include "amg/rle.h"
#include "amg/sam_mask_source.h"
#include "engine/image.h"
#include "engine/preprocess.h"
#include "engine/sam_model.h"
#include "tests/fixtures.h"
#include "base/error.h"
#include "weights/json.h"
#include "weights/npy.h"

namespace persam::amg {
namespace {
using testing::FixturePath;

const JsonValue& Case(const std::string& name) {
  static std::map<std::string, JsonValue> cases;
  auto it = cases.find(name);
  if (it == cases.end()) it = cases.emplace(name, ParseJsonFile(FixturePath("ref/amg/" + name + ".json"))).first;
  return it->second;
}

const SamModel& Model(const std::string& key) {
  static std::map<std::string, std::unique_ptr<SamModel>> models;
  auto& slot = models[key];
  if (!slot) {
    const JsonValue manifest = ParseJsonFile(FixturePath("manifest.json"));
    slot = SamModel::Load(FixturePath(manifest.At("models").At(key).At("file").AsString()));
  }
  return *slot;
}

GeneratorOptions OptionsOf(const JsonValue& params) {
  const JsonValue* grids = params.Find("point_grids");
  REQUIRE((grids == nullptr || grids->IsNull()));
  GeneratorOptions o;
  o.points_per_side = static_cast<int>(params.At("points_per_side").AsInt64());
  o.points_per_batch = static_cast<int>(params.At("points_per_batch").AsInt64());
  o.pred_iou_thresh = params.At("pred_iou_thresh").AsDouble();
  o.stability_score_thresh = params.At("stability_score_thresh").AsDouble();
  o.stability_score_offset = params.At("stability_score_offset").AsDouble();
  o.box_nms_thresh = params.At("box_nms_thresh").AsDouble();
  o.crop_n_layers = static_cast<int>(params.At("crop_n_layers").AsInt64());
  o.crop_nms_thresh = params.At("crop_nms_thresh").AsDouble();
  o.crop_overlap_ratio = params.At("crop_overlap_ratio").AsDouble();
  o.crop_n_points_downscale_factor = static_cast<int>(params.At("crop_n_points_downscale_factor").AsInt64());
  o.min_mask_region_area = params.At("min_mask_region_area").AsInt64();
  o.output_mode = ParseOutputMode(params.At("output_mode").AsString());
  return o;
}

std::vector<int> Ints(const JsonValue& array) {
  std::vector<int> v;
  for (const JsonValue& x : array.Items()) v.push_back(static_cast<int>(x.AsDouble()));  // may print as 12.0
  return v;
}

std::array<int, 4> Xywh(const JsonValue& v) {
  const std::vector<int> i = Ints(v);
  REQUIRE(i.size() == 4);
  return {i[0], i[1], i[2], i[3]};
}

Rle RleOf(const JsonValue& segmentation) {
  Rle rle;
  rle.height = static_cast<int>(segmentation.At("size").Items()[0].AsInt64());
  rle.width = static_cast<int>(segmentation.At("size").Items()[1].AsInt64());
  for (const JsonValue& c : segmentation.At("counts").Items()) rle.counts.push_back(static_cast<uint32_t>(c.AsInt64()));
  return rle;
}

double MaskIou(const Rle& a, const Rle& b) {
  const std::vector<uint8_t> ma = RleToMask(a), mb = RleToMask(b);
  REQUIRE(ma.size() == mb.size());
  int64_t inter = 0, uni = 0;
  for (size_t i = 0; i < ma.size(); ++i) {
    inter += ma[i] && mb[i];
    uni += ma[i] || mb[i];
  }
  return uni == 0 ? 1.0 : static_cast<double>(inter) / uni;
}

void CheckNms(const NmsTrace& ours, const JsonValue& ref, const std::string& where) {
  INFO(where);
  CHECK(ours.n_in == ref.At("n_in").AsInt64());
  CHECK(ours.keep == Ints(ref.At("keep")));
}

// trace counts and keep lists: exact (FIXTURES.md).
void CheckTrace(const GeneratorTrace& trace, const JsonValue& ref) {
  const auto& crops = ref.At("crops").Items();
  REQUIRE(trace.crops.size() == crops.size());
  for (size_t c = 0; c < crops.size(); ++c) {
    const CropTrace& ours = trace.crops[c];
    const std::vector<int> box = Ints(crops[c].At("crop_box"));
    CHECK(std::vector<int>{ours.crop_box.x0, ours.crop_box.y0, ours.crop_box.x1, ours.crop_box.y1} == box);
    CHECK(ours.crop_box.layer == crops[c].At("layer").AsInt64());
    const auto& batches = crops[c].At("batches").Items();
    REQUIRE(ours.batches.size() == batches.size());
    for (size_t b = 0; b < batches.size(); ++b) {
      INFO("crop " << c << " batch " << b);
      const BatchTrace& t = ours.batches[b];
      CHECK(t.n_points == batches[b].At("n_points").AsInt64());
      CHECK(t.n_masks == batches[b].At("n_masks").AsInt64());
      CHECK(t.after_iou_filter == batches[b].At("after_iou_filter").AsInt64());
      CHECK(t.after_stability_filter == batches[b].At("after_stability_filter").AsInt64());
      CHECK(t.removed_near_crop_edge == batches[b].At("removed_near_crop_edge").AsInt64());
      CHECK(t.n_out == batches[b].At("n_out").AsInt64());
    }
    CheckNms(ours.nms, crops[c].At("nms"), "nms of crop " + std::to_string(c));
  }
  const JsonValue* cross = ref.Find("cross_crop_nms");
  CHECK(trace.has_cross_crop_nms == (cross != nullptr && !cross->IsNull()));
  if (trace.has_cross_crop_nms) CheckNms(trace.cross_crop_nms, *cross, "cross-crop nms");
  const JsonValue* post = ref.Find("postprocess");
  CHECK(trace.has_postprocess == (post != nullptr && !post->IsNull()));
  if (trace.has_postprocess) {
    CHECK(trace.changed_holes == post->At("changed_holes").AsInt64());
    CHECK(trace.changed_islands == post->At("changed_islands").AsInt64());
    std::vector<float> scores;
    for (const JsonValue& s : post->At("scores").Items()) scores.push_back(static_cast<float>(s.AsDouble()));
    CHECK(trace.postprocess_scores == scores);
    CheckNms(trace.postprocess_nms, post->At("nms"), "postprocess nms");
  }
}

// Real-model records: count, order, boxes, points and crops exact; scores
// within 1e-4; masks IoU >= 0.999 and area within 0.1 %.
void CheckRealRecords(const std::vector<MaskRecord>& ours, const JsonValue& ref) {
  const auto& records = ref.Items();
  REQUIRE(ours.size() == records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    INFO("record " << i);
    const MaskRecord& r = ours[i];
    const JsonValue& e = records[i];
    CHECK(r.BboxXywh() == Xywh(e.At("bbox")));
    CHECK(r.CropBoxXywh() == Xywh(e.At("crop_box")));
    CHECK(r.point[0] == e.At("point_coords").Items()[0].Items()[0].AsDouble());
    CHECK(r.point[1] == e.At("point_coords").Items()[0].Items()[1].AsDouble());
    CHECK(std::fabs(r.predicted_iou - e.At("predicted_iou").AsDouble()) <= 1e-4);
    if (e.At("stability_score").IsNull()) {
      CHECK(std::isnan(r.stability_score));
    } else {
      CHECK(std::fabs(r.stability_score - e.At("stability_score").AsDouble()) <= 1e-4);
    }
    const Rle ref_rle = RleOf(e.At("segmentation"));
    CHECK(r.rle.height == ref_rle.height);
    CHECK(r.rle.width == ref_rle.width);
    CHECK(MaskIou(r.rle, ref_rle) >= 0.999);
    const double ref_area = static_cast<double>(e.At("area").AsInt64());
    CHECK(std::fabs(r.area - ref_area) <= 1e-3 * ref_area);
    CHECK(r.area == RleArea(r.rle));
  }
}

// Stub records: everything bit-exact, order included.
void CheckStubRecords(const std::vector<MaskRecord>& ours, const JsonValue& ref) {
  const auto& records = ref.Items();
  REQUIRE(ours.size() == records.size());
  int mismatches = 0;
  for (size_t i = 0; i < records.size() && mismatches < 5; ++i) {
    INFO("record " << i);
    const MaskRecord& r = ours[i];
    const JsonValue& e = records[i];
    const Rle ref_rle = RleOf(e.At("segmentation"));
    const bool same = r.BboxXywh() == Xywh(e.At("bbox")) && r.CropBoxXywh() == Xywh(e.At("crop_box")) &&
                      r.point[0] == e.At("point_coords").Items()[0].Items()[0].AsDouble() &&
                      r.point[1] == e.At("point_coords").Items()[0].Items()[1].AsDouble() &&
                      r.predicted_iou == static_cast<float>(e.At("predicted_iou").AsDouble()) &&
                      (e.At("stability_score").IsNull()
                           ? std::isnan(r.stability_score)
                           : r.stability_score == static_cast<float>(e.At("stability_score").AsDouble())) &&
                      r.area == e.At("area").AsInt64() && r.rle.counts == ref_rle.counts &&
                      r.rle.height == ref_rle.height && r.rle.width == ref_rle.width;
    CHECK(same);
    mismatches += !same;
  }
}

// The fixtures' closed-form stand-in for set_image / predict_torch
// (stub_decoder.definition): discs whose radius and score depend on the
// prompt, with a hole (k = 1) or a satellite island (k = 2). f64 arithmetic
// with one cast to f32, no fused multiply-add (x86-64-v2 has none, and
// ISO C++ mode does not contract), so every logit matches bit for bit.
class StubSource : public MaskSource {
 public:
  explicit StubSource(const JsonValue& constants) {
    for (const auto& [name, value] : constants.Members()) c_[name] = value.AsInt64();
  }
  void SetImage(const RgbImage& image) override {
    h_ = image.height;
    w_ = image.width;
    const InputSize input = ResizedSize(h_, w_);
    newh_ = input.height;
    neww_ = input.width;
  }
  void DecodeBatch(const double* input_xy, int count, float* scores) override {
    points_.assign(input_xy, input_xy + 2 * count);
    for (int i = 0; i < count; ++i) {
      const int64_t a = static_cast<int64_t>(std::floor(input_xy[2 * i]));
      const int64_t b = static_cast<int64_t>(std::floor(input_xy[2 * i + 1]));
      for (int k = 0; k < 3; ++k) {
        const int64_t m = (a * c("ia") + b * c("ib") + k * c("ik")) % c("iou_mod");
        scores[3 * i + k] = static_cast<float>(static_cast<double>(m) / static_cast<double>(c("iou_mod")));
      }
    }
  }
  void MaskLogits(int prompt, int k, std::vector<float>* out) const override {
    const double tx = points_[2 * prompt], ty = points_[2 * prompt + 1];
    const int64_t a = static_cast<int64_t>(std::floor(tx)), b = static_cast<int64_t>(std::floor(ty));
    const double r = static_cast<double>(c("r_base") + (a * c("ra") + b * c("rb") + k * c("rk")) % c("r_mod"));
    const double hole = static_cast<double>(c("hole_r")), sat = static_cast<double>(c("sat_r"));
    const double sx = static_cast<double>(neww_) / w_, sy = static_cast<double>(newh_) / h_;
    out->resize(static_cast<size_t>(h_) * w_);
    for (int y = 0; y < h_; ++y) {
      const double yy = (y + 0.5) * sy;
      const double dy = yy - ty;
      for (int x = 0; x < w_; ++x) {
        const double xx = (x + 0.5) * sx;
        const double dx = xx - tx;
        const double d2 = dx * dx + dy * dy;
        double l = (r * r - d2) / (2 * r);
        if (k == 1) l = std::min(l, (d2 - hole * hole) / (2 * hole));
        if (k == 2) {
          const double cx = tx + (r + static_cast<double>(c("sat_gap")));
          const double ds = xx - cx;
          const double d2s = ds * ds + dy * dy;
          l = std::max(l, (sat * sat - d2s) / (2 * sat));
        }
        (*out)[static_cast<size_t>(y) * w_ + x] = static_cast<float>(l);
      }
    }
  }

 private:
  int64_t c(const char* name) const { return c_.at(name); }
  std::map<std::string, int64_t> c_;
  int h_ = 0, w_ = 0, newh_ = 0, neww_ = 0;
  std::vector<double> points_;
};

RgbImage BlankImage(int height, int width) {
  RgbImage image;
  image.height = height;
  image.width = width;
  image.pixels.assign(static_cast<size_t>(height) * width * 3, 0);
  return image;
}

std::vector<MaskRecord> RunCase(const std::string& name, GeneratorTrace* trace) {
  const JsonValue& c = Case(name);
  const GeneratorOptions options = OptionsOf(c.At("params"));
  if (c.Find("stub_decoder") != nullptr && !c.At("stub_decoder").IsNull()) {
    StubSource source(c.At("stub_decoder").At("constants"));
    const auto& hw = c.At("image_size_hw").Items();
    return GenerateMasks(BlankImage(static_cast<int>(hw[0].AsInt64()), static_cast<int>(hw[1].AsInt64())),
                         options, &source, trace);
  }
  SamMaskSource source(Model(c.At("model").AsString()));
  const RgbImage image = LoadImage(FixturePath("perseg-mini/Images/" + c.At("image").AsString()));
  return GenerateMasks(image, options, &source, trace);
}

// The npy arrays of crop 0 before its NMS (FIXTURES.md: in_points, points,
// boxes exact; scores 1e-4; areas 0.1 %); batch0_* are the first batch's
// share of them.
void CheckCrop0Arrays(const std::string& name, const CropTrace& crop) {
  const std::string p = FixturePath("ref/amg/" + name + "_");
  const Tensor in_points = ReadNpy(p + "batch0_in_points.npy");
  REQUIRE(in_points.dtype == DType::kF64);
  REQUIRE(static_cast<size_t>(in_points.NumElements()) == crop.batch0_in_points.size());
  CHECK(std::memcmp(in_points.data, crop.batch0_in_points.data(), crop.batch0_in_points.size() * 8) == 0);
  const std::vector<float> raw = ReadNpy(p + "batch0_raw_iou_preds.npy").ToFloat32();
  REQUIRE(raw.size() == crop.batch0_raw_iou.size());
  double worst = 0;
  for (size_t i = 0; i < raw.size(); ++i) worst = std::max(worst, std::fabs(double(raw[i]) - crop.batch0_raw_iou[i]));
  CHECK(worst <= 1e-4);

  const std::vector<float> iou = ReadNpy(p + "crop0_prenms_iou_preds.npy").ToFloat32();
  const std::vector<float> stab = ReadNpy(p + "crop0_prenms_stability_score.npy").ToFloat32();
  const Tensor boxes = ReadNpy(p + "crop0_prenms_boxes.npy");
  const Tensor points = ReadNpy(p + "crop0_prenms_points.npy");
  const Tensor areas = ReadNpy(p + "crop0_prenms_areas.npy");
  REQUIRE(boxes.dtype == DType::kI64);
  REQUIRE(points.dtype == DType::kF64);
  REQUIRE(areas.dtype == DType::kI64);
  const size_t n = iou.size();
  REQUIRE(crop.prenms_iou.size() == n);
  const int64_t* b = reinterpret_cast<const int64_t*>(boxes.data);
  const double* pt = reinterpret_cast<const double*>(points.data);
  const int64_t* ar = reinterpret_cast<const int64_t*>(areas.data);
  int bad_boxes = 0, bad_points = 0, bad_areas = 0;
  double worst_iou = 0, worst_stab = 0;
  for (size_t i = 0; i < n; ++i) {
    worst_iou = std::max(worst_iou, std::fabs(double(iou[i]) - crop.prenms_iou[i]));
    worst_stab = std::max(worst_stab, std::fabs(double(stab[i]) - crop.prenms_stability[i]));
    for (int j = 0; j < 4; ++j) bad_boxes += b[4 * i + j] != crop.prenms_boxes[i][j];
    bad_points += pt[2 * i] != crop.prenms_points[i][0] || pt[2 * i + 1] != crop.prenms_points[i][1];
    bad_areas += std::fabs(double(ar[i] - crop.prenms_areas[i])) > 1e-3 * ar[i];
  }
  CHECK(worst_iou <= 1e-4);
  CHECK(worst_stab <= 1e-4);
  CHECK(bad_boxes == 0);
  CHECK(bad_points == 0);
  CHECK(bad_areas == 0);
}

TEST_CASE("amg: a_permissive (ViT, 16 points, no filter, NMS to one)") {
  if (!testing::HaveFixtures("amg a_permissive")) return;
  GeneratorTrace trace;
  const std::vector<MaskRecord> records = RunCase("a_permissive", &trace);
  CheckTrace(trace, Case("a_permissive").At("trace"));
  CheckRealRecords(records, Case("a_permissive").At("records"));
  CheckCrop0Arrays("a_permissive", trace.crops[0]);
}

TEST_CASE("amg: b_defaults (ViT, 32 x 32 points, the IoU filter removes every mask)") {
  if (!testing::HaveFixtures("amg b_defaults")) return;
  GeneratorTrace trace;
  const std::vector<MaskRecord> records = RunCase("b_defaults", &trace);
  CheckTrace(trace, Case("b_defaults").At("trace"));
  CheckRealRecords(records, Case("b_defaults").At("records"));
}

TEST_CASE("amg: c_crops_small_regions (ViT, crop layer, downscale 2, min area 200)") {
  if (!testing::HaveFixtures("amg c_crops_small_regions")) return;
  GeneratorTrace trace;
  const std::vector<MaskRecord> records = RunCase("c_crops_small_regions", &trace);
  CheckTrace(trace, Case("c_crops_small_regions").At("trace"));
  CheckRealRecords(records, Case("c_crops_small_regions").At("records"));
}

TEST_CASE("amg: d_odd_batch_rle (MobileSAM, batches of 17, tiny and empty masks)") {
  if (!testing::HaveFixtures("amg d_odd_batch_rle")) return;
  GeneratorTrace trace;
  const std::vector<MaskRecord> records = RunCase("d_odd_batch_rle", &trace);
  CheckTrace(trace, Case("d_odd_batch_rle").At("trace"));
  CheckRealRecords(records, Case("d_odd_batch_rle").At("records"));
}

TEST_CASE("amg: f_stub_single_crop (torchvision's > 1000-box NMS path, f32 IoU threshold)") {
  if (!testing::HaveFixtures("amg f_stub_single_crop")) return;
  GeneratorTrace trace;
  const std::vector<MaskRecord> records = RunCase("f_stub_single_crop", &trace);
  CheckTrace(trace, Case("f_stub_single_crop").At("trace"));
  CheckStubRecords(records, Case("f_stub_single_crop").At("records"));
  CheckCrop0Arrays("f_stub_single_crop", trace.crops[0]);
}

TEST_CASE("amg: g_stub_crops (21 crops, edge filter, cross-crop NMS, small regions)") {
  if (!testing::HaveFixtures("amg g_stub_crops")) return;
  GeneratorTrace trace;
  const std::vector<MaskRecord> records = RunCase("g_stub_crops", &trace);
  CheckTrace(trace, Case("g_stub_crops").At("trace"));
  CheckStubRecords(records, Case("g_stub_crops").At("records"));
}

}  // namespace
}  // namespace persam::amg
