// "Segment everything": SamAutomaticMaskGenerator.generate, step by step as
// REFERENCE-AMG.md specifies it, over any MaskSource (a SAM model, or a
// test's closed-form stand-in).
// ref: segment_anything/automatic_mask_generator.py SamAutomaticMaskGenerator
#ifndef PERSAM_AMG_GENERATOR_H_
#define PERSAM_AMG_GENERATOR_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "amg/geometry.h"
#include "amg/mask_source.h"
#include "amg/rle.h"
#include "engine/image.h"
#include "engine/timing.h"

namespace persam::amg {

enum class OutputMode { kBinaryMask, kUncompressedRle, kCocoRle };
// "binary_mask" | "uncompressed_rle" | "coco_rle"; throws persam::Error
// naming the accepted values otherwise.
OutputMode ParseOutputMode(const std::string& name);

// The constructor arguments of SamAutomaticMaskGenerator, same names and
// defaults (point_grids is not offered: the grids always come from
// points_per_side).
struct GeneratorOptions {
  int points_per_side = 32;
  int points_per_batch = 64;
  double pred_iou_thresh = 0.88;
  double stability_score_thresh = 0.95;
  double stability_score_offset = 1.0;
  double box_nms_thresh = 0.7;
  int crop_n_layers = 0;
  double crop_nms_thresh = 0.7;
  double crop_overlap_ratio = 512.0 / 1500.0;
  int crop_n_points_downscale_factor = 1;
  int64_t min_mask_region_area = 0;
  OutputMode output_mode = OutputMode::kBinaryMask;

  // Throws persam::Error naming the option, as "points_per_side
  // (--points-per-side)", and the accepted range (e.g. a layer left with zero
  // points per side, a negative overlap, NaN).
  void Validate() const;
};

// One mask of the result, in image coordinates.
struct MaskRecord {
  Rle rle;                       // column-major uncompressed RLE of the H x W mask
  int64_t area = 0;
  std::array<int, 4> box{};      // inclusive x_min, y_min, x_max, y_max
  float predicted_iou = 0;
  std::array<double, 2> point{};  // the prompt, image pixels
  float stability_score = 0;      // may be NaN (an empty mask with the filter off)
  CropBox crop_box;
  // The reference's bbox and crop_box: XYWH, w = x_max - x_min (one less
  // than the pixel extent) and the crop's true size.
  std::array<int, 4> BboxXywh() const { return {box[0], box[1], box[2] - box[0], box[3] - box[1]}; }
  std::array<int, 4> CropBoxXywh() const {
    return {crop_box.x0, crop_box.y0, crop_box.width(), crop_box.height()};
  }
};

// What happened, for tests and --verbose (FIXTURES.md, the `trace` field).
struct NmsTrace {
  int n_in = 0;
  std::vector<int> keep;
};
struct BatchTrace {
  int n_points = 0, n_masks = 0, after_iou_filter = 0, after_stability_filter = 0,
      removed_near_crop_edge = 0, n_out = 0;
};
struct CropTrace {
  CropBox crop_box;
  std::vector<BatchTrace> batches;
  NmsTrace nms;
  // The first batch's prompts as handed to the source ([n, 2] f64) and raw
  // scores ([n * 3]); the crop's data before its NMS (crop coordinates).
  std::vector<double> batch0_in_points;
  std::vector<float> batch0_raw_iou;
  std::vector<float> prenms_iou, prenms_stability;
  std::vector<std::array<int, 4>> prenms_boxes;
  std::vector<std::array<double, 2>> prenms_points;
  std::vector<int64_t> prenms_areas;
};
struct GeneratorTrace {
  std::vector<CropTrace> crops;
  bool has_cross_crop_nms = false;
  NmsTrace cross_crop_nms;
  bool has_postprocess = false;
  int changed_holes = 0, changed_islands = 0;
  std::vector<float> postprocess_scores;
  NmsTrace postprocess_nms;
};

// Runs the generator on `image` (H x W RGB). Records in the reference's
// order. Timings: "encoder" (the source's SetImage, per crop) and the
// stages "decoder", "masks" (upscaling, stability, boxes, RLE), "nms",
// "small_regions". Throws persam::Error on invalid options.
std::vector<MaskRecord> GenerateMasks(const RgbImage& image, const GeneratorOptions& options,
                                      MaskSource* source, GeneratorTrace* trace = nullptr,
                                      StageTimings* timings = nullptr);

}  // namespace persam::amg

#endif  // PERSAM_AMG_GENERATOR_H_
