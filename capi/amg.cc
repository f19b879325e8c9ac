// The automatic mask generator over the C API.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "amg/sam_mask_source.h"
#include "capi/guard.h"
#include "capi/handles.h"

using persam::capi::Guard;
using persam::capi::InvalidArgument;

extern "C" {

void persam_amg_options_init(persam_amg_options* options) {
  if (options == nullptr) return;
  const persam::amg::GeneratorOptions d;
  options->points_per_side = d.points_per_side;
  options->points_per_batch = d.points_per_batch;
  options->pred_iou_thresh = d.pred_iou_thresh;
  options->stability_score_thresh = d.stability_score_thresh;
  options->stability_score_offset = d.stability_score_offset;
  options->box_nms_thresh = d.box_nms_thresh;
  options->crop_n_layers = d.crop_n_layers;
  options->crop_nms_thresh = d.crop_nms_thresh;
  options->crop_overlap_ratio = d.crop_overlap_ratio;
  options->crop_n_points_downscale_factor = d.crop_n_points_downscale_factor;
  options->min_mask_region_area = d.min_mask_region_area;
}

persam_status persam_generate_masks(const persam_model* model, const persam_image* image,
                                    const persam_amg_options* options, persam_mask_set** out_masks) {
  PERSAM_CAPI_REQUIRE(model, "persam_generate_masks");
  PERSAM_CAPI_REQUIRE(image, "persam_generate_masks");
  PERSAM_CAPI_REQUIRE(out_masks, "persam_generate_masks");
  *out_masks = nullptr;
  return Guard("persam_generate_masks", [&] {
    persam_amg_options o;
    persam_amg_options_init(&o);
    if (options != nullptr) o = *options;
    persam::amg::GeneratorOptions g;
    g.points_per_side = o.points_per_side;
    g.points_per_batch = o.points_per_batch;
    g.pred_iou_thresh = o.pred_iou_thresh;
    g.stability_score_thresh = o.stability_score_thresh;
    g.stability_score_offset = o.stability_score_offset;
    g.box_nms_thresh = o.box_nms_thresh;
    g.crop_n_layers = o.crop_n_layers;
    g.crop_nms_thresh = o.crop_nms_thresh;
    g.crop_overlap_ratio = o.crop_overlap_ratio;
    g.crop_n_points_downscale_factor = o.crop_n_points_downscale_factor;
    g.min_mask_region_area = o.min_mask_region_area;
    // The generator's own checks name each option by its official name,
    // which is also this struct's field name; a bad value is the caller's
    // argument, not an engine failure.
    try {
      g.Validate();
    } catch (const persam::Error& e) {
      throw InvalidArgument{std::string("options: ") + e.what()};
    }
    persam::amg::SamMaskSource source(*model->model);
    auto handle = std::make_unique<persam_mask_set>();
    handle->height = image->image.height;
    handle->width = image->image.width;
    handle->records = persam::amg::GenerateMasks(image->image, g, &source);
    *out_masks = handle.release();
  });
}

int persam_mask_set_count(const persam_mask_set* masks) {
  return masks == nullptr ? 0 : static_cast<int>(masks->records.size());
}

namespace {
void CheckIndex(const persam_mask_set* masks, int index) {
  if (index < 0 || index >= static_cast<int>(masks->records.size())) {
    throw InvalidArgument{"index " + std::to_string(index) + " is outside the " +
                          std::to_string(masks->records.size()) + " records"};
  }
}
}  // namespace

persam_status persam_mask_set_get(const persam_mask_set* masks, int index, persam_mask_record* out_record) {
  PERSAM_CAPI_REQUIRE(masks, "persam_mask_set_get");
  PERSAM_CAPI_REQUIRE(out_record, "persam_mask_set_get");
  return Guard("persam_mask_set_get", [&] {
    CheckIndex(masks, index);
    const persam::amg::MaskRecord& r = masks->records[index];
    out_record->area = r.area;
    const std::array<int, 4> bbox = r.BboxXywh(), crop = r.CropBoxXywh();
    std::copy(bbox.begin(), bbox.end(), out_record->bbox);
    std::copy(crop.begin(), crop.end(), out_record->crop_box);
    out_record->predicted_iou = r.predicted_iou;
    out_record->point_coords[0] = r.point[0];
    out_record->point_coords[1] = r.point[1];
    out_record->stability_score = r.stability_score;
  });
}

persam_status persam_mask_set_copy_mask(const persam_mask_set* masks, int index, uint8_t* out, size_t capacity) {
  PERSAM_CAPI_REQUIRE(masks, "persam_mask_set_copy_mask");
  PERSAM_CAPI_REQUIRE(out, "persam_mask_set_copy_mask");
  return Guard("persam_mask_set_copy_mask", [&] {
    CheckIndex(masks, index);
    const size_t pixels = static_cast<size_t>(masks->height) * masks->width;
    if (capacity < pixels) {
      throw InvalidArgument{"capacity " + std::to_string(capacity) + " bytes is less than the image's " +
                            std::to_string(pixels) + " pixels"};
    }
    const std::vector<uint8_t> mask = persam::amg::RleToMask(masks->records[index].rle);
    std::memcpy(out, mask.data(), pixels);
  });
}

void persam_mask_set_free(persam_mask_set* masks) { delete masks; }

}  // extern "C"
