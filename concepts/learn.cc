#include "concepts/learn.h"

#include <algorithm>

#include "base/error.h"
#include "persam/location_prior.h"
#include "persam/reference_mask.h"

namespace persam {
namespace {

// Peak and mean of the reference's own similarity map inside its mask: the
// scale `find` divides a target's peak by.
void InMaskSimilarity(const std::vector<float>& sim, const std::vector<uint8_t>& mask, ConceptReference* out) {
  float peak = -1.0f;
  double sum = 0;
  int64_t count = 0;
  for (size_t i = 0; i < mask.size() && i < sim.size(); ++i) {
    if (!mask[i]) continue;
    peak = std::max(peak, sim[i]);
    sum += sim[i];
    ++count;
  }
  out->peak_similarity = peak;
  out->mean_similarity = count > 0 ? static_cast<float>(sum / count) : 0.0f;
}

}  // namespace

LearnResult LearnConcept(const SamModel& model, const ModelIdentity& identity,
                         const std::vector<ReferenceInput>& references, const PersonalizeOptions& options) {
  if (references.empty()) throw Error("learn: no reference image given");
  if (references.size() > 1) {
    throw Error("learn: " + std::to_string(references.size()) +
                " references given; this version learns from one reference image and mask");
  }
  const ReferenceInput& input = references[0];
  const RgbImage image = LoadImage(input.image);
  const RgbImage mask = LoadImage(input.mask);
  Personalizer personalizer(model, options);
  personalizer.SetReference(image, mask, input.mask);

  LearnResult result;
  Concept& c = result.learned;
  c.finetune = options.finetune;
  c.model = identity;
  c.target = personalizer.reference().target;
  c.mask_weights = personalizer.mask_weights();
  c.training = options.training;
  ConceptReference ref;
  ref.image = input.image;
  ref.mask = input.mask;
  ref.height = image.height;
  ref.width = image.width;
  const std::vector<float> sim = SimilarityMap(personalizer.reference_embedding(), c.target.feat);
  InMaskSimilarity(sim, ForegroundPixels(NormalizeReferenceMask(mask, input.mask)), &ref);
  if (!(ref.peak_similarity > 0.0f)) {
    throw Error("learn: reference mask '" + input.mask +
                "': no pixel inside it resembles the concept (peak similarity " +
                std::to_string(ref.peak_similarity) + "); the mask or the model is not usable");
  }
  c.references.push_back(ref);
  result.summaries.push_back(personalizer.reference());
  return result;
}

}  // namespace persam
