// The automatic mask generator's model: a SamModel's image encoder, its
// batched single-point decoder (SamModel::PredictSinglePoints) and the
// postprocessing of one low-resolution mask at a time to the crop's size.
#ifndef PERSAM_AMG_SAM_MASK_SOURCE_H_
#define PERSAM_AMG_SAM_MASK_SOURCE_H_

#include <vector>

#include "amg/mask_source.h"
#include "engine/sam_model.h"

namespace persam::amg {

class SamMaskSource : public MaskSource {
 public:
  explicit SamMaskSource(const SamModel& model) : model_(model) {}
  void SetImage(const RgbImage& image) override;
  void DecodeBatch(const double* input_xy, int count, float* scores) override;
  void MaskLogits(int prompt, int k, std::vector<float>* out) const override;

 private:
  const SamModel& model_;
  ImageEmbedding embedding_;
  std::vector<float> low_res_;  // [count, 3, 256, 256] of the last batch
  int count_ = 0;
};

}  // namespace persam::amg

#endif  // PERSAM_AMG_SAM_MASK_SOURCE_H_
