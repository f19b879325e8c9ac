// PerSAM / PerSAM-F over the C API: a reference image + mask, then targets.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "capi/guard.h"
#include "capi/handles.h"

using persam::capi::Guard;
using persam::capi::InvalidArgument;

extern "C" {

void persam_personalize_options_init(persam_personalize_options* options) {
  if (options != nullptr) std::memset(options, 0, sizeof(*options));
}

persam_status persam_personalizer_create(const persam_model* model, const persam_image* reference,
                                         const uint8_t* reference_mask, int mask_width, int mask_height,
                                         const persam_personalize_options* options,
                                         persam_personalizer** out_personalizer) {
  PERSAM_CAPI_REQUIRE(model, "persam_personalizer_create");
  PERSAM_CAPI_REQUIRE(reference, "persam_personalizer_create");
  PERSAM_CAPI_REQUIRE(reference_mask, "persam_personalizer_create");
  PERSAM_CAPI_REQUIRE(out_personalizer, "persam_personalizer_create");
  *out_personalizer = nullptr;
  return Guard("persam_personalizer_create", [&] {
    const persam::RgbImage& image = reference->image;
    if (mask_width != image.width || mask_height != image.height) {
      throw InvalidArgument{"the reference mask is " + std::to_string(mask_width) + " x " +
                            std::to_string(mask_height) + ", the reference image " + std::to_string(image.width) +
                            " x " + std::to_string(image.height)};
    }
    persam::RgbImage mask;
    mask.width = mask_width;
    mask.height = mask_height;
    mask.pixels.resize(static_cast<size_t>(mask_width) * mask_height * 3);
    for (size_t i = 0; i < static_cast<size_t>(mask_width) * mask_height; ++i) {
      mask.pixels[3 * i] = mask.pixels[3 * i + 1] = mask.pixels[3 * i + 2] = reference_mask[i] ? 255 : 0;
    }
    persam::PersonalizeOptions opts;
    opts.finetune = options != nullptr && options->finetune != 0;
    auto handle = std::make_unique<persam_personalizer>();
    handle->personalizer = std::make_unique<persam::Personalizer>(*model->model, opts);
    handle->personalizer->SetReference(image, mask, "reference_mask");
    *out_personalizer = handle.release();
  });
}

persam_status persam_personalizer_segment(const persam_personalizer* personalizer, const persam_image* target,
                                          uint8_t* out_mask, size_t capacity, float* out_point) {
  PERSAM_CAPI_REQUIRE(personalizer, "persam_personalizer_segment");
  PERSAM_CAPI_REQUIRE(target, "persam_personalizer_segment");
  PERSAM_CAPI_REQUIRE(out_mask, "persam_personalizer_segment");
  return Guard("persam_personalizer_segment", [&] {
    const size_t pixels = static_cast<size_t>(target->image.width) * target->image.height;
    if (capacity < pixels) {
      throw InvalidArgument{"capacity " + std::to_string(capacity) + " bytes is less than the target's " +
                            std::to_string(pixels) + " pixels"};
    }
    const persam::ImageOutcome outcome = personalizer->personalizer->Segment(target->image);
    std::memcpy(out_mask, outcome.mask.data(), pixels);
    if (out_point != nullptr) {
      const bool has = !outcome.prior_points.empty();
      out_point[0] = has ? static_cast<float>(outcome.prior_points[0].x) : NAN;
      out_point[1] = has ? static_cast<float>(outcome.prior_points[0].y) : NAN;
    }
  });
}

void persam_personalizer_free(persam_personalizer* personalizer) { delete personalizer; }

}  // extern "C"
