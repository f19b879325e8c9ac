// `persam everything`: SAM's automatic mask generator on one image
// (REFERENCE-AMG.md), every parameter of SamAutomaticMaskGenerator as a flag.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "amg/generator.h"
#include "amg/sam_mask_source.h"
#include "engine/image.h"
#include "engine/sam_model.h"
#include "engine/timing.h"
#include "persam/outputs.h"
#include "tools/cli.h"
#include "tools/print_timings.h"
#include "tools/precision_option.h"
#include "base/error.h"
#include "weights/json.h"

namespace persam::cli {
namespace {

amg::GeneratorOptions ParseOptions(const Args& args) {
  amg::GeneratorOptions o;
  o.points_per_side = args.Int("points-per-side", o.points_per_side);
  o.points_per_batch = args.Int("points-per-batch", o.points_per_batch);
  o.pred_iou_thresh = args.Double("pred-iou-thresh", o.pred_iou_thresh);
  o.stability_score_thresh = args.Double("stability-score-thresh", o.stability_score_thresh);
  o.stability_score_offset = args.Double("stability-score-offset", o.stability_score_offset);
  o.box_nms_thresh = args.Double("box-nms-thresh", o.box_nms_thresh);
  o.crop_n_layers = args.Int("crop-n-layers", o.crop_n_layers);
  o.crop_nms_thresh = args.Double("crop-nms-thresh", o.crop_nms_thresh);
  o.crop_overlap_ratio = args.Double("crop-overlap-ratio", o.crop_overlap_ratio);
  o.crop_n_points_downscale_factor = args.Int("crop-n-points-downscale-factor", o.crop_n_points_downscale_factor);
  o.min_mask_region_area = args.Int("min-mask-region-area", 0);
  if (auto mode = args.Value("output-mode")) o.output_mode = amg::ParseOutputMode(*mode);
  o.Validate();
  return o;
}

std::string MaskFileName(size_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "%03zu.png", index);
  return name;
}

JsonValue IntArray(const std::array<int, 4>& v) {
  return JsonValue::Array({JsonValue::Integer(v[0]), JsonValue::Integer(v[1]), JsonValue::Integer(v[2]),
                           JsonValue::Integer(v[3])});
}

// One record with the fields and order of SamAutomaticMaskGenerator.generate.
JsonValue RecordJson(const amg::MaskRecord& r, amg::OutputMode mode, size_t index) {
  JsonValue segmentation;
  const JsonValue size = JsonValue::Array({JsonValue::Integer(r.rle.height), JsonValue::Integer(r.rle.width)});
  switch (mode) {
    case amg::OutputMode::kBinaryMask:
      segmentation = JsonValue::String(MaskFileName(index));
      break;
    case amg::OutputMode::kUncompressedRle: {
      std::vector<JsonValue> counts;
      counts.reserve(r.rle.counts.size());
      for (uint32_t c : r.rle.counts) counts.push_back(JsonValue::Integer(c));
      segmentation = JsonValue::Object({{"size", size}, {"counts", JsonValue::Array(std::move(counts))}});
      break;
    }
    case amg::OutputMode::kCocoRle:
      segmentation = JsonValue::Object({{"size", size}, {"counts", JsonValue::String(amg::RleToCocoString(r.rle))}});
      break;
  }
  const JsonValue stability =
      std::isnan(r.stability_score) ? JsonValue::Null() : JsonValue::Number(r.stability_score);
  return JsonValue::Object({
      {"segmentation", segmentation},
      {"area", JsonValue::Integer(r.area)},
      {"bbox", IntArray(r.BboxXywh())},
      {"predicted_iou", JsonValue::Number(r.predicted_iou)},
      {"point_coords", JsonValue::Array({JsonValue::Array({JsonValue::Number(r.point[0]),
                                                           JsonValue::Number(r.point[1])})})},
      {"stability_score", stability},
      {"crop_box", IntArray(r.CropBoxXywh())},
  });
}

// Every mask tinted in its own colour (hues spread by the golden angle),
// largest first so that small masks stay visible on top.
RgbImage OverlayAll(const RgbImage& image, const std::vector<amg::MaskRecord>& records) {
  RgbImage out = image;
  std::vector<size_t> order(records.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return records[a].area > records[b].area; });
  for (size_t i : order) {
    const double hue = std::fmod(i * 137.508, 360.0) / 60.0;
    const double x = 1.0 - std::fabs(std::fmod(hue, 2.0) - 1.0);
    const double rgb_table[6][3] = {{1, x, 0}, {x, 1, 0}, {0, 1, x}, {0, x, 1}, {x, 0, 1}, {1, 0, x}};
    const double* rgb = rgb_table[static_cast<int>(hue) % 6];
    const amg::Rle& rle = records[i].rle;
    // Column-major runs: pixel index p -> (x = p / H, y = p % H).
    uint64_t p = 0;
    for (size_t run = 0; run < rle.counts.size(); ++run) {
      const uint64_t end = p + rle.counts[run];
      if (run % 2 == 1) {
        for (uint64_t q = p; q < end; ++q) {
          const size_t x = q / rle.height, y = q % rle.height;
          uint8_t* px = out.pixels.data() + (y * out.width + x) * 3;
          for (int c = 0; c < 3; ++c) px[c] = static_cast<uint8_t>(0.45 * px[c] + 0.55 * 255.0 * rgb[c]);
        }
      }
      p = end;
    }
  }
  return out;
}

int RunEverything(const Args& args) {
  const std::string model_path = args.Required("model");
  const std::string image_path = args.Required("image");
  const std::string out_dir = args.Required("out");
  const amg::GeneratorOptions options = ParseOptions(args);
  const LoadOptions load_options = ModelLoadOptions(args);
  StageTimings timings;
  RgbImage image;
  {
    ScopedStage stage(&timings, "load_image");
    image = LoadImage(image_path);
  }
  CheckOutputDirectory(out_dir, "--out");
  std::unique_ptr<SamModel> model;
  {
    ScopedStage stage(&timings, "load_model");
    model = SamModel::Load(model_path, load_options);
  }
  amg::SamMaskSource source(*model);
  StageTimings generator_timings;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<amg::MaskRecord> records =
      amg::GenerateMasks(image, options, &source, nullptr, &generator_timings);
  const double generator_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  timings.Add("everything", generator_seconds);
  {
    ScopedStage stage(&timings, "write");
    // The folder holds this run's outputs only: NNN.png beyond this run's
    // count (or any, when this run writes RLE) would read as this run's.
    const size_t written = options.output_mode == amg::OutputMode::kBinaryMask ? records.size() : 0;
    RemoveStaleOutputs(out_dir, [&](const std::string& name) {
      return name.size() >= 7 && name.size() <= 13 && name.compare(name.size() - 4, 4, ".png") == 0 &&
             name.find_first_not_of("0123456789") == name.size() - 4 &&
             std::stoul(name.substr(0, name.size() - 4)) >= written;
    });
    std::vector<JsonValue> json;
    json.reserve(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      json.push_back(RecordJson(records[i], options.output_mode, i));
      if (options.output_mode == amg::OutputMode::kBinaryMask) {
        std::vector<uint8_t> mask = amg::RleToMask(records[i].rle);
        for (uint8_t& v : mask) v = v ? 255 : 0;
        WriteAtomically(out_dir + "/" + MaskFileName(i), [&](const std::string& tmp) {
          SaveGrayPng(tmp, image.height, image.width, mask.data());
        });
      }
    }
    WriteFileAtomically(out_dir + "/masks.json", WriteJson(JsonValue::Array(std::move(json))) + "\n");
    WriteAtomically(out_dir + "/overlay.png",
                    [&](const std::string& tmp) { SavePng(tmp, OverlayAll(image, records)); });
  }
  Say(args, "%zu masks (%d x %d points, %d crop layers)\n", records.size(), options.points_per_side,
      options.points_per_side, options.crop_n_layers);
  Say(args, "wrote %s/masks.json%s, overlay.png\n", out_dir.c_str(),
      options.output_mode == amg::OutputMode::kBinaryMask ? ", NNN.png per mask" : "");
  double encoder = 0;
  for (const auto& [stage, seconds] : generator_timings.entries()) {
    if (stage == "encoder") encoder += seconds;
    timings.Add("everything/" + stage, seconds);
  }
  if (args.Flag("timing")) {
    Say(args, "timing: encoder %.4f s\n", encoder);
    Say(args, "timing: generate %.4f s\n", generator_seconds - encoder);
  }
  if (args.verbose()) {
    Say(args, "image encoder precision: %s\n", PrecisionName(model->precision()));
    PrintTimings(args, timings);
  }
  return 0;
}

}  // namespace

extern const Command kEverythingCommand = {
    "everything",
    "segment everything: SAM's automatic mask generator",
    "usage: persam everything --model MODEL --image IMAGE --out DIR [options]\n"
    "\n"
    "SamAutomaticMaskGenerator: a grid of single-point prompts (per crop),\n"
    "filtered by predicted IoU and stability, de-duplicated by box NMS.\n"
    "Options (the official parameters and defaults):\n"
    "  --points-per-side N                 32\n"
    "  --points-per-batch N                64\n"
    "  --pred-iou-thresh T                 0.88 (<= 0: off)\n"
    "  --stability-score-thresh T          0.95 (<= 0: off)\n"
    "  --stability-score-offset V          1.0\n"
    "  --box-nms-thresh T                  0.7\n"
    "  --crop-n-layers N                   0\n"
    "  --crop-nms-thresh T                 0.7\n"
    "  --crop-overlap-ratio R              0.3413 (512 / 1500)\n"
    "  --crop-n-points-downscale-factor N  1\n"
    "  --min-mask-region-area A            0 (off)\n"
    "  --output-mode MODE                  binary_mask | uncompressed_rle | coco_rle\n"
    "\n"
    "Writes DIR/masks.json: an array of records in the official order, each\n"
    "{segmentation, area, bbox [x, y, w, h], predicted_iou, point_coords\n"
    "[[x, y]], stability_score (null = NaN), crop_box [x, y, w, h]}; bbox w/h\n"
    "are x_max - x_min / y_max - y_min of the inclusive box, as the reference.\n"
    "segmentation is, per --output-mode: the name of the mask's PNG in DIR\n"
    "(binary_mask: DIR/000.png, 001.png, ... 0/255), {size: [H, W], counts:\n"
    "[...]} (uncompressed_rle, column-major runs starting with background) or\n"
    "{size, counts: \"...\"} (coco_rle, COCO's compressed string). Also\n"
    "DIR/overlay.png, every mask in its own colour.\n"
    PERSAM_PRECISION_HELP
    "  --timing       print 'timing: encoder S s' and 'timing: generate S s'\n"
    "  --verbose      per-stage timings\n",
    {"model", "image", "out", kPrecisionOptionName, "points-per-side", "points-per-batch", "pred-iou-thresh",
     "stability-score-thresh", "stability-score-offset", "box-nms-thresh", "crop-n-layers", "crop-nms-thresh",
     "crop-overlap-ratio", "crop-n-points-downscale-factor", "min-mask-region-area", "output-mode"},
    {"timing", kUnusualModelFlag},
    RunEverything,
};

}  // namespace persam::cli
