// PerSAM's target features, location prior, point selection and
// target-guided attention map (REFERENCE.md sections 7.2-7.5, 8.2-8.3).
// ref: Personalize-SAM/persam.py persam(), point_selection();
//      persam_f.py persam_f().
#ifndef PERSAM_PERSAM_LOCATION_PRIOR_H_
#define PERSAM_PERSAM_LOCATION_PRIOR_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/sam_model.h"

namespace persam {

struct TargetFeatures {
  std::vector<float> embedding;  // [C] mean over the selected cells (target_embedding)
  std::vector<float> feat;       // [C] unit length (target_feat)
};

enum class TargetPooling {
  kMean,        // PerSAM: target_feat = mean / |mean|
  kMaxPlusMean  // PerSAM-F: (max / 2 + mean / 2) normalised
};

// embedding: [C, grid, grid]; cells: [grid * grid] 0/1 with at least one set.
TargetFeatures ComputeTargetFeatures(const ImageEmbedding& embedding, const std::vector<uint8_t>& cells,
                                     TargetPooling pooling);
// Several references (concepts/): mean and max over the selected cells of
// all of them, in order; one reference gives exactly the call above.
TargetFeatures ComputeTargetFeatures(const std::vector<const ImageEmbedding*>& embeddings,
                                     const std::vector<const std::vector<uint8_t>*>& cells, TargetPooling pooling);

// Cosine similarity of every embedding position with `feat`, upsampled x4
// (bilinear) and postprocessed like a mask to the original image size:
// [orig_height * orig_width].
std::vector<float> SimilarityMap(const ImageEmbedding& embedding, const std::vector<float>& feat);

// torch.topk(1) (largest / smallest) on the flattened map: the first
// occurrence in row-major order, as (x, y) = (column, row).
PointPrompt ArgMaxPoint(const std::vector<float>& sim, int width);
PointPrompt ArgMinPoint(const std::vector<float>& sim, int width);

// (sim - mean) / std (unbiased), bilinear straight from H x W to 64 x 64 (the
// padding is ignored, as in the reference), sigmoid: [64 * 64].
std::vector<float> TargetGuidedAttention(const std::vector<float>& sim, int height, int width, int grid = 64);

// Bounding box (x_min, y_min, x_max, y_max) of the pixels with logit > 0 of
// a [height, width] map, as np.nonzero + min/max: nullopt when empty.
std::optional<BoxPrompt> MaskBox(const float* logits, int height, int width);
int64_t MaskArea(const float* logits, int64_t count);

}  // namespace persam

#endif  // PERSAM_PERSAM_LOCATION_PRIOR_H_
