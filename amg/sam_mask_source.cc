#include "amg/sam_mask_source.h"

#include <string>

#include "engine/preprocess.h"
#include "base/error.h"

namespace persam::amg {

void SamMaskSource::SetImage(const RgbImage& image) {
  embedding_ = model_.EncodeImage(image);
  count_ = 0;
}

void SamMaskSource::DecodeBatch(const double* input_xy, int count, float* scores) {
  const int side = 4 * model_.config().embed_grid;
  low_res_.resize(static_cast<size_t>(count) * 3 * side * side);
  model_.PredictSinglePoints(embedding_, input_xy, count, low_res_.data(), scores);
  count_ = count;
}

// ref: segment_anything/modeling/sam.py Sam.postprocess_masks on the batch's
// [B, 3, 256, 256] tensor: C = 3 > 1, so torch's multi-channel rounding for
// every map, postprocessed one at a time here.
void SamMaskSource::MaskLogits(int prompt, int k, std::vector<float>* out) const {
  if (prompt < 0 || prompt >= count_ || k < 0 || k > 2) {
    throw Error("MaskLogits: no mask " + std::to_string(k) + " of prompt " + std::to_string(prompt));
  }
  const int side = 4 * model_.config().embed_grid;
  const size_t plane = static_cast<size_t>(side) * side;
  PostprocessMapsInto(low_res_.data() + (static_cast<size_t>(prompt) * 3 + k) * plane, 1, side, side,
                      embedding_.orig_height, embedding_.orig_width, out,
                      kernels::BilinearRounding::kTorchMultiChannel, model_.config().image_size);
}

}  // namespace persam::amg
