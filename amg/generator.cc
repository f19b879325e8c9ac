#include "amg/generator.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <string>
#include <utility>

#include "amg/nms.h"
#include "amg/regions.h"
#include "engine/preprocess.h"
#include "base/error.h"

namespace persam::amg {
namespace {

// The model's mask_threshold (modeling/sam.py Sam.mask_threshold).
constexpr double kMaskThreshold = 0.0;
// amg.py is_box_near_crop_edge's default atol.
constexpr int kCropEdgeTolerance = 20;

// Everything the reference's MaskData holds for one mask, in crop or image
// coordinates depending on the stage.
struct MaskEntry {
  Rle rle;
  int64_t area = 0;
  std::array<int, 4> box{};
  float iou = 0, stability = 0;
  std::array<double, 2> point{};
};

// "points_per_side (--points-per-side)": the official parameter name, which
// the C API and Python use too, and the CLI's flag.
std::string OptionName(const char* name) {
  std::string flag = name;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return std::string(name) + " (--" + flag + ")";
}

void CheckFinite(double v, const char* name) {
  if (!std::isfinite(v)) throw Error(OptionName(name) + " must be a finite number");
}

RgbImage CropImage(const RgbImage& image, const CropBox& box) {
  RgbImage crop;
  crop.height = box.height();
  crop.width = box.width();
  crop.pixels.resize(static_cast<size_t>(crop.height) * crop.width * 3);
  for (int y = 0; y < crop.height; ++y) {
    const uint8_t* src = image.pixels.data() + (static_cast<size_t>(box.y0 + y) * image.width + box.x0) * 3;
    std::copy(src, src + static_cast<size_t>(crop.width) * 3,
              crop.pixels.data() + static_cast<size_t>(y) * crop.width * 3);
  }
  return crop;
}

// ref: amg.py is_box_near_crop_edge (box in crop coordinates, inclusive).
bool NearCropEdge(const std::array<int, 4>& box, const CropBox& crop, int height, int width) {
  const int shifted[4] = {box[0] + crop.x0, box[1] + crop.y0, box[2] + crop.x0, box[3] + crop.y0};
  const int crop_edges[4] = {crop.x0, crop.y0, crop.x1, crop.y1};
  const int image_edges[4] = {0, 0, width, height};
  for (int i = 0; i < 4; ++i) {
    const bool near_crop = std::abs(shifted[i] - crop_edges[i]) <= kCropEdgeTolerance;
    const bool near_image = std::abs(shifted[i] - image_edges[i]) <= kCropEdgeTolerance;
    if (near_crop && !near_image) return true;
  }
  return false;
}

// The reference's boxes.float() for its NMS.
BoxF ToBoxF(const std::array<int, 4>& box) {
  return {static_cast<float>(box[0]), static_cast<float>(box[1]), static_cast<float>(box[2]),
          static_cast<float>(box[3])};
}

std::vector<BoxF> ToFloatBoxes(const std::vector<MaskEntry>& entries) {
  std::vector<BoxF> boxes(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) boxes[i] = ToBoxF(entries[i].box);
  return boxes;
}

template <class T>
std::vector<T> Reorder(std::vector<T>&& items, const std::vector<int>& order) {
  std::vector<T> out;
  out.reserve(order.size());
  for (int i : order) out.push_back(std::move(items[i]));
  return out;
}

// Runs body(i) for i in [0, count) over the threads, one item at a time
// (masks differ in cost); the first exception is rethrown after the loop.
template <class Body>
void ParallelItems(int count, const Body& body) {
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < count; ++i) {
    try {
      body(i);
    } catch (...) {
#pragma omp critical(persam_amg_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// One mask of a batch after the IoU filter: the logits at crop resolution ->
// stability score, binary mask, box, crop-edge test, RLE
// (AMG._process_batch, REFERENCE-AMG.md steps 4c-4h).
struct BatchMask {
  int prompt = 0, k = 0;
  bool stable = true, near_edge = false;
  MaskEntry entry;
};

void ProcessMask(const MaskSource& source, const GeneratorOptions& o, const CropBox& crop, int height,
                 int width, std::vector<float>* logits, std::vector<uint8_t>* binary, BatchMask* m) {
  source.MaskLogits(m->prompt, m->k, logits);
  const int h = crop.height(), w = crop.width();
  // ref: amg.py calculate_stability_score; the thresholds are rounded to f32
  // as torch does for `tensor > python_float`.
  const float hi = static_cast<float>(kMaskThreshold + o.stability_score_offset);
  const float lo = static_cast<float>(kMaskThreshold - o.stability_score_offset);
  const float* l = logits->data();
  binary->resize(static_cast<size_t>(h) * w);
  uint8_t* b = binary->data();
  int64_t inter = 0, uni = 0, area = 0;
  const size_t pixels = static_cast<size_t>(h) * w;
  for (size_t i = 0; i < pixels; ++i) {
    const float v = l[i];
    inter += v > hi;
    uni += v > lo;
    const uint8_t on = v > static_cast<float>(kMaskThreshold);
    b[i] = on;
    area += on;
  }
  m->entry.stability = static_cast<float>(inter) / static_cast<float>(uni);  // 0 / 0 = NaN as in torch
  if (o.stability_score_thresh > 0.0 &&
      !(m->entry.stability >= static_cast<float>(o.stability_score_thresh))) {
    m->stable = false;
    return;
  }
  // ref: amg.py batched_mask_to_box: inclusive; [0, 0, 0, 0] when empty.
  m->entry.box = MaskToBox(b, h, w);
  m->near_edge = NearCropEdge(m->entry.box, crop, height, width);
  if (m->near_edge) return;
  m->entry.area = area;
  m->entry.rle = CropMaskToRle(b, h, w, crop.x0, crop.y0, height, width);
}

// AMG._process_crop: the crop's batches, its NMS, back to image coordinates.
std::vector<MaskEntry> ProcessCrop(const RgbImage& image, const CropBox& crop, const PointGrid& grid,
                                   const GeneratorOptions& o, MaskSource* source, CropTrace* trace,
                                   StageTimings* timings) {
  const int h = crop.height(), w = crop.width();
  {
    ScopedStage stage(timings, "encoder");
    if (crop.x0 == 0 && crop.y0 == 0 && h == image.height && w == image.width) {
      source->SetImage(image);
    } else {
      source->SetImage(CropImage(image, crop));
    }
  }
  const InputSize input = ResizedSize(h, w);
  // ResizeLongestSide.apply_coords: the ratio first, then the product.
  const double sx = static_cast<double>(input.width) / w, sy = static_cast<double>(input.height) / h;
  const int total = static_cast<int>(grid.size());

  std::vector<MaskEntry> entries;
  std::vector<double> in_xy;
  std::vector<float> scores;
  std::vector<BatchMask> masks;
  const int threads = omp_get_max_threads();
  std::vector<std::vector<float>> logits(threads);
  std::vector<std::vector<uint8_t>> binary(threads);
  for (int start = 0; start < total; start += o.points_per_batch) {
    const int count = std::min(o.points_per_batch, total - start);
    std::vector<std::array<double, 2>> points(count);
    in_xy.resize(2 * static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      // The layer's grid times (w, h): crop pixels, f64.
      points[i] = {grid[start + i][0] * w, grid[start + i][1] * h};
      in_xy[2 * i] = points[i][0] * sx;
      in_xy[2 * i + 1] = points[i][1] * sy;
    }
    scores.resize(3 * static_cast<size_t>(count));
    {
      ScopedStage stage(timings, "decoder");
      source->DecodeBatch(in_xy.data(), count, scores.data());
    }
    if (trace != nullptr && start == 0) {
      trace->batch0_in_points = in_xy;
      trace->batch0_raw_iou = scores;
    }
    BatchTrace bt;
    bt.n_points = count;
    bt.n_masks = 3 * count;
    // Masks in the reference's flattened order, 3 * prompt + k; the IoU
    // filter needs only the scores, so rejected masks are never upscaled.
    masks.clear();
    const float iou_thresh = static_cast<float>(o.pred_iou_thresh);
    for (int m = 0; m < 3 * count; ++m) {
      if (o.pred_iou_thresh > 0.0 && !(scores[m] > iou_thresh)) continue;
      BatchMask bm;
      bm.prompt = m / 3;
      bm.k = m % 3;
      bm.entry.iou = scores[m];
      bm.entry.point = points[m / 3];
      masks.push_back(std::move(bm));
    }
    bt.after_iou_filter = static_cast<int>(masks.size());
    {
      ScopedStage stage(timings, "masks");
      ParallelItems(static_cast<int>(masks.size()), [&](int i) {
        const int t = omp_get_thread_num();
        ProcessMask(*source, o, crop, image.height, image.width, &logits[t], &binary[t], &masks[i]);
      });
    }
    for (BatchMask& m : masks) {
      if (!m.stable) continue;
      ++bt.after_stability_filter;
      if (m.near_edge) {
        ++bt.removed_near_crop_edge;
        continue;
      }
      entries.push_back(std::move(m.entry));
    }
    bt.n_out = bt.after_stability_filter - bt.removed_near_crop_edge;
    if (trace != nullptr) trace->batches.push_back(bt);
  }

  if (trace != nullptr) {
    for (const MaskEntry& e : entries) {
      trace->prenms_iou.push_back(e.iou);
      trace->prenms_stability.push_back(e.stability);
      trace->prenms_boxes.push_back(e.box);
      trace->prenms_points.push_back(e.point);
      trace->prenms_areas.push_back(e.area);
    }
  }
  std::vector<int> keep;
  {
    ScopedStage stage(timings, "nms");
    std::vector<float> iou(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) iou[i] = entries[i].iou;
    keep = BatchedNms(ToFloatBoxes(entries), iou, o.box_nms_thresh);
  }
  if (trace != nullptr) {
    trace->nms.n_in = static_cast<int>(entries.size());
    trace->nms.keep = keep;
  }
  entries = Reorder(std::move(entries), keep);
  // ref: amg.py uncrop_boxes_xyxy, uncrop_points (the RLE is already uncropped).
  for (MaskEntry& e : entries) {
    e.box = {e.box[0] + crop.x0, e.box[1] + crop.y0, e.box[2] + crop.x0, e.box[3] + crop.y0};
    e.point = {e.point[0] + crop.x0, e.point[1] + crop.y0};
  }
  return entries;
}

// AMG.postprocess_small_regions (REFERENCE-AMG.md step 7), in place.
void RemoveSmallRegionsAll(std::vector<MaskEntry>* entries, std::vector<CropBox>* crops, const GeneratorOptions& o,
                           GeneratorTrace* trace) {
  const int n = static_cast<int>(entries->size());
  std::vector<float> scores(n);
  std::vector<std::array<int, 4>> boxes(n);
  std::vector<Rle> changed_rles(n);
  std::vector<uint8_t> holes_changed(n), islands_changed(n);
  ParallelItems(n, [&](int i) {
    const Rle& rle = (*entries)[i].rle;
    std::vector<uint8_t> mask = RleToMask(rle);
    holes_changed[i] = RemoveSmallRegions(&mask, rle.height, rle.width, o.min_mask_region_area, RegionMode::kHoles);
    islands_changed[i] =
        RemoveSmallRegions(&mask, rle.height, rle.width, o.min_mask_region_area, RegionMode::kIslands);
    const bool unchanged = !holes_changed[i] && !islands_changed[i];
    scores[i] = unchanged ? 1.0f : 0.0f;
    boxes[i] = MaskToBox(mask.data(), rle.height, rle.width);
    if (!unchanged) changed_rles[i] = MaskToRle(mask.data(), rle.height, rle.width);
  });
  std::vector<BoxF> float_boxes(n);
  for (int i = 0; i < n; ++i) float_boxes[i] = ToBoxF(boxes[i]);
  const std::vector<int> keep = BatchedNms(float_boxes, scores, std::max(o.box_nms_thresh, o.crop_nms_thresh));
  for (int i : keep) {
    if (scores[i] == 0.0f) {
      (*entries)[i].rle = std::move(changed_rles[i]);
      (*entries)[i].area = RleArea((*entries)[i].rle);
      (*entries)[i].box = boxes[i];
    }
  }
  if (trace != nullptr) {
    trace->has_postprocess = true;
    for (int i = 0; i < n; ++i) {
      trace->changed_holes += holes_changed[i];
      trace->changed_islands += islands_changed[i];
    }
    trace->postprocess_scores = scores;
    trace->postprocess_nms.n_in = n;
    trace->postprocess_nms.keep = keep;
  }
  *entries = Reorder(std::move(*entries), keep);
  *crops = Reorder(std::move(*crops), keep);
}

}  // namespace

OutputMode ParseOutputMode(const std::string& name) {
  if (name == "binary_mask") return OutputMode::kBinaryMask;
  if (name == "uncompressed_rle") return OutputMode::kUncompressedRle;
  if (name == "coco_rle") return OutputMode::kCocoRle;
  throw Error(OptionName("output_mode") + " must be binary_mask, uncompressed_rle or coco_rle, got '" + name + "'");
}

void GeneratorOptions::Validate() const {
  CheckFinite(pred_iou_thresh, "pred_iou_thresh");
  CheckFinite(stability_score_thresh, "stability_score_thresh");
  CheckFinite(stability_score_offset, "stability_score_offset");
  CheckFinite(box_nms_thresh, "box_nms_thresh");
  CheckFinite(crop_nms_thresh, "crop_nms_thresh");
  CheckFinite(crop_overlap_ratio, "crop_overlap_ratio");
  // Beyond 1024 x 1024 prompts per crop the grid only exhausts memory and time.
  if (points_per_side < 1 || points_per_side > 1024) {
    throw Error(OptionName("points_per_side") + " must be 1 .. 1024, got " + std::to_string(points_per_side));
  }
  if (points_per_batch < 1) {
    throw Error(OptionName("points_per_batch") + " must be at least 1, got " + std::to_string(points_per_batch));
  }
  if (crop_n_layers < 0 || crop_n_layers > 8) {
    throw Error(OptionName("crop_n_layers") + " must be in 0..8, got " + std::to_string(crop_n_layers));
  }
  if (crop_n_points_downscale_factor < 1) {
    throw Error(OptionName("crop_n_points_downscale_factor") + " must be at least 1, got " +
                std::to_string(crop_n_points_downscale_factor));
  }
  if (crop_overlap_ratio < 0.0 || crop_overlap_ratio >= 1.0) {
    throw Error(OptionName("crop_overlap_ratio") + " must be in [0, 1), got " + std::to_string(crop_overlap_ratio));
  }
  if (min_mask_region_area < 0) {
    throw Error(OptionName("min_mask_region_area") + " must be 0 (off) or positive, got " +
                std::to_string(min_mask_region_area));
  }
  // Throws naming the layer that would get zero points per side.
  BuildAllLayerPointGrids(points_per_side, crop_n_layers, crop_n_points_downscale_factor);
}

// ref: automatic_mask_generator.py SamAutomaticMaskGenerator.generate, _generate_masks
std::vector<MaskRecord> GenerateMasks(const RgbImage& image, const GeneratorOptions& options, MaskSource* source,
                                      GeneratorTrace* trace, StageTimings* timings) {
  options.Validate();
  if (source == nullptr) throw Error("mask generator: no mask source");
  if (image.height <= 0 || image.width <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.height) * image.width * 3) {
    throw Error("mask generator: the image has no pixels or an inconsistent size");
  }
  const std::vector<PointGrid> grids = BuildAllLayerPointGrids(
      options.points_per_side, options.crop_n_layers, options.crop_n_points_downscale_factor);
  const std::vector<CropBox> crop_boxes =
      GenerateCropBoxes(image.height, image.width, options.crop_n_layers, options.crop_overlap_ratio);

  std::vector<MaskEntry> entries;
  std::vector<CropBox> entry_crops;
  for (const CropBox& crop : crop_boxes) {
    CropTrace* crop_trace = nullptr;
    if (trace != nullptr) {
      trace->crops.emplace_back();
      crop_trace = &trace->crops.back();
      crop_trace->crop_box = crop;
    }
    std::vector<MaskEntry> crop_entries =
        ProcessCrop(image, crop, grids[crop.layer], options, source, crop_trace, timings);
    for (MaskEntry& e : crop_entries) {
      entries.push_back(std::move(e));
      entry_crops.push_back(crop);
    }
  }

  // Masks found in several crops: the smaller crop's wins (score 1 / area).
  if (crop_boxes.size() > 1) {
    ScopedStage stage(timings, "nms");
    std::vector<float> scores(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      const int64_t area = static_cast<int64_t>(entry_crops[i].width()) * entry_crops[i].height();
      scores[i] = 1.0f / static_cast<float>(area);
    }
    const std::vector<int> keep = BatchedNms(ToFloatBoxes(entries), scores, options.crop_nms_thresh);
    if (trace != nullptr) {
      trace->has_cross_crop_nms = true;
      trace->cross_crop_nms.n_in = static_cast<int>(entries.size());
      trace->cross_crop_nms.keep = keep;
    }
    entries = Reorder(std::move(entries), keep);
    entry_crops = Reorder(std::move(entry_crops), keep);
  }

  if (options.min_mask_region_area > 0 && !entries.empty()) {
    ScopedStage stage(timings, "small_regions");
    RemoveSmallRegionsAll(&entries, &entry_crops, options, trace);
  }

  std::vector<MaskRecord> records(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    MaskRecord& r = records[i];
    r.rle = std::move(entries[i].rle);
    r.area = entries[i].area;
    r.box = entries[i].box;
    r.predicted_iou = entries[i].iou;
    r.point = entries[i].point;
    r.stability_score = entries[i].stability;
    r.crop_box = entry_crops[i];
  }
  return records;
}

}  // namespace persam::amg
