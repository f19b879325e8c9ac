// PerSAM and PerSAM-F on one concept: a reference image + mask, then any
// number of target images (REFERENCE.md sections 7 and 8).
// ref: Personalize-SAM/persam.py persam(), persam_f.py persam_f().
#ifndef PERSAM_PERSAM_PERSONALIZER_H_
#define PERSAM_PERSAM_PERSONALIZER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/image.h"
#include "engine/sam_model.h"
#include "engine/timing.h"
#include "persam/location_prior.h"
#include "persam/mask_weights.h"
#include "persam/reference_mask.h"

namespace persam {

struct PersonalizeOptions {
  bool finetune = false;          // PerSAM-F
  MaskWeightsOptions training;    // PerSAM-F only
  bool keep_step_maps = false;    // keep each step's low-res logits and the attn_sim (tests)
};

// One decoder call of the cascade.
struct DecoderStep {
  std::vector<PointPrompt> points;
  std::optional<BoxPrompt> box;
  bool has_mask_input = false;
  bool multimask = false;
  std::vector<float> scores;
  int chosen = -1;  // index taken from this step (-1: PerSAM-F's weighted mix)
  int64_t chosen_mask_area = 0;  // pixels with high-res logit > 0 of the chosen mask (or the mix)
  std::vector<float> low_res;       // [masks, 256, 256] when keep_step_maps
};

struct ImageOutcome {
  int height = 0, width = 0;
  std::vector<PointPrompt> prior_points;  // positive (and negative for PerSAM)
  std::vector<DecoderStep> steps;
  std::vector<uint8_t> mask;  // [height * width] 0/1, the final mask
  int64_t mask_area = 0;
  std::vector<std::string> warnings;  // e.g. an empty mask stopped the cascade
  // The decoder call (1-based) whose chosen mask was empty, so that the
  // cascade stopped early and kept a fallback: where the reference crashes
  // taking that mask's box. 0 when the cascade ran through.
  int empty_at_step = 0;
  std::vector<float> attn_sim;        // [64 * 64] when keep_step_maps (PerSAM)
  StageTimings timings;               // prior, decoder (+ encoder when encoded here)
};

struct ReferenceSummary {
  int height = 0, width = 0;
  int selected_cells = 0;
  bool cell_fallback = false;  // the reference would have selected no cell
  std::vector<std::string> warnings;
  TargetFeatures target;
  // PerSAM-F
  std::optional<PointPrompt> training_point;
  std::optional<MaskWeightsResult> training;
  StageTimings timings;  // encoder, prior, decoder, fine-tuning
};

class Personalizer {
 public:
  Personalizer(const SamModel& model, PersonalizeOptions options);

  // mask: any non-zero pixel is foreground, same size as the image. Encodes
  // the reference and, with finetune, learns the mask weights. Throws
  // persam::Error (empty mask, size mismatch) naming `mask_source`.
  void SetReference(const RgbImage& image, const RgbImage& mask, const std::string& mask_source);
  // The same with the reference image already encoded.
  void SetReference(ImageEmbedding embedding, const RgbImage& mask, const std::string& mask_source);
  // A concept learned earlier (concepts/ keeps it in a file): the target
  // features and, with finetune, the mask weights, in place of a reference
  // image; Segment then computes exactly what it computes after SetReference.
  // reference_embedding() stays empty. Throws persam::Error when the features
  // are empty or the size is not positive.
  void SetLearned(TargetFeatures target, const std::array<float, 3>& mask_weights, int ref_height, int ref_width);
  const ReferenceSummary& reference() const { return reference_; }
  // The mask weights in use (PerSAM-F; zero for PerSAM).
  const std::array<float, 3>& mask_weights() const { return weights_; }
  // The reference image's embedding (reuse it when it is also a target).
  const ImageEmbedding& reference_embedding() const { return reference_embedding_; }

  ImageOutcome Segment(const RgbImage& image) const;
  ImageOutcome Segment(const ImageEmbedding& embedding) const;
  // The cascade from given prior points instead of the location prior's
  // (PerSAM: positive then negative point; PerSAM-F: the positive point). The
  // target-guided attention still comes from the similarity map. Lets a
  // caller (or a parity test, where the prior has exact ties) pin the points.
  ImageOutcome SegmentWithPoints(const ImageEmbedding& embedding, const std::vector<PointPrompt>& points) const;
  // Both with the similarity map SimilarityMap(embedding, reference().target.feat)
  // already computed by the caller (find gates on it first): the same
  // results without computing it again. `points` may be null (the prior's).
  ImageOutcome SegmentWithSimilarity(const ImageEmbedding& embedding, const std::vector<float>& sim,
                                     const std::vector<PointPrompt>* points) const;

 private:
  // sim: the similarity map when the caller has it, else null.
  ImageOutcome SegmentPersam(const ImageEmbedding& embedding, const std::vector<PointPrompt>* points,
                             const std::vector<float>* sim = nullptr) const;
  ImageOutcome SegmentPersamF(const ImageEmbedding& embedding, const std::vector<PointPrompt>* points,
                              const std::vector<float>* sim = nullptr) const;

  const SamModel& model_;
  PersonalizeOptions options_;
  ReferenceSummary reference_;
  ImageEmbedding reference_embedding_;
  std::array<float, 3> weights_{};
};

}  // namespace persam

#endif  // PERSAM_PERSAM_PERSONALIZER_H_
