// Prompts and predictions: SamPredictor.predict over the C API.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "capi/guard.h"
#include "capi/handles.h"

using persam::capi::Guard;
using persam::capi::InvalidArgument;

extern "C" {

void persam_prompt_init(persam_prompt* prompt) {
  if (prompt != nullptr) std::memset(prompt, 0, sizeof(*prompt));
}

persam_status persam_predict(const persam_model* model, const persam_embedding* embedding,
                             const persam_prompt* prompt, persam_prediction** out_prediction) {
  PERSAM_CAPI_REQUIRE(model, "persam_predict");
  PERSAM_CAPI_REQUIRE(embedding, "persam_predict");
  PERSAM_CAPI_REQUIRE(prompt, "persam_predict");
  PERSAM_CAPI_REQUIRE(out_prediction, "persam_predict");
  *out_prediction = nullptr;
  return Guard("persam_predict", [&] {
    const persam::SamModel& m = *model->model;
    const persam::ImageEmbedding& e = embedding->embedding;
    // A prompt's size fields are checked before any pointer is read.
    constexpr int kMaxPoints = 1 << 16, kMaxBoxes = 1 << 12;
    if (prompt->num_points < 0 || prompt->num_points > kMaxPoints) {
      throw InvalidArgument{"prompt num_points " + std::to_string(prompt->num_points) + " must be 0 .. " +
                            std::to_string(kMaxPoints)};
    }
    if (prompt->num_boxes < 0 || prompt->num_boxes > kMaxBoxes) {
      throw InvalidArgument{"prompt num_boxes " + std::to_string(prompt->num_boxes) + " must be 0 .. " +
                            std::to_string(kMaxBoxes)};
    }
    if (prompt->num_points > 0 && (prompt->point_coords == nullptr || prompt->point_labels == nullptr)) {
      throw InvalidArgument{"prompt has num_points " + std::to_string(prompt->num_points) +
                            " but point_coords or point_labels is NULL"};
    }
    if (prompt->num_boxes > 0 && prompt->boxes == nullptr) {
      throw InvalidArgument{"prompt has num_boxes " + std::to_string(prompt->num_boxes) + " but boxes is NULL"};
    }
    persam::Prompt base;
    for (int i = 0; i < prompt->num_points; ++i) {
      const float x = prompt->point_coords[2 * i], y = prompt->point_coords[2 * i + 1];
      if (!std::isfinite(x) || !std::isfinite(y)) {
        throw InvalidArgument{"point " + std::to_string(i) + " has a non-finite coordinate"};
      }
      const int label = prompt->point_labels[i];
      if (label != 0 && label != 1) {
        throw InvalidArgument{"point " + std::to_string(i) + " has label " + std::to_string(label) +
                              ", expected 1 (foreground) or 0 (background)"};
      }
      base.points.push_back({x, y, label});
    }
    base.mask_input = prompt->mask_input;
    base.multimask = prompt->multimask_output != 0;
    const int batch = std::max(1, prompt->num_boxes);
    auto handle = std::make_unique<persam_prediction>();
    persam::Prediction one;
    for (int b = 0; b < batch; ++b) {
      persam::Prompt p = base;
      if (prompt->num_boxes > 0) {
        const float* v = prompt->boxes + 4 * b;
        for (int j = 0; j < 4; ++j) {
          if (!std::isfinite(v[j])) throw InvalidArgument{"box " + std::to_string(b) + " has a non-finite coordinate"};
        }
        if (v[2] < v[0] || v[3] < v[1]) {
          throw InvalidArgument{"box " + std::to_string(b) + " needs x0 <= x1 and y0 <= y1"};
        }
        p.box = persam::BoxPrompt{v[0], v[1], v[2], v[3]};
      }
      m.PredictInto(e, p, &one);
      if (b == 0) {
        handle->batch = batch;
        handle->num_masks = one.num_masks;
        handle->height = one.height;
        handle->width = one.width;
        handle->scores.reserve(static_cast<size_t>(batch) * one.num_masks);
        handle->low_res.reserve(one.low_res.size() * batch);
        handle->logits.reserve(one.high_res.size() * batch);
      }
      handle->scores.insert(handle->scores.end(), one.scores.begin(), one.scores.end());
      handle->low_res.insert(handle->low_res.end(), one.low_res.begin(), one.low_res.end());
      handle->logits.insert(handle->logits.end(), one.high_res.begin(), one.high_res.end());
    }
    *out_prediction = handle.release();
  });
}

int persam_prediction_batch(const persam_prediction* p) { return p == nullptr ? 0 : p->batch; }
int persam_prediction_num_masks(const persam_prediction* p) { return p == nullptr ? 0 : p->num_masks; }
int persam_prediction_width(const persam_prediction* p) { return p == nullptr ? 0 : p->width; }
int persam_prediction_height(const persam_prediction* p) { return p == nullptr ? 0 : p->height; }
const float* persam_prediction_scores(const persam_prediction* p) { return p == nullptr ? nullptr : p->scores.data(); }
const float* persam_prediction_low_res(const persam_prediction* p) {
  return p == nullptr ? nullptr : p->low_res.data();
}
const float* persam_prediction_logits(const persam_prediction* p) { return p == nullptr ? nullptr : p->logits.data(); }

persam_status persam_prediction_copy_masks(const persam_prediction* p, uint8_t* out, size_t capacity) {
  PERSAM_CAPI_REQUIRE(p, "persam_prediction_copy_masks");
  PERSAM_CAPI_REQUIRE(out, "persam_prediction_copy_masks");
  return Guard("persam_prediction_copy_masks", [&] {
    if (capacity < p->logits.size()) {
      throw InvalidArgument{"capacity " + std::to_string(capacity) + " bytes is less than the " +
                            std::to_string(p->logits.size()) + " mask pixels (batch x masks x height x width)"};
    }
    for (size_t i = 0; i < p->logits.size(); ++i) out[i] = p->logits[i] > 0.0f;
  });
}

void persam_prediction_free(persam_prediction* p) { delete p; }

}  // extern "C"
