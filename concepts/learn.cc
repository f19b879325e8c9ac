#include "concepts/learn.h"

#include <algorithm>
#include <array>
#include <memory>

#include "base/error.h"
#include "persam/location_prior.h"
#include "persam/mask_loss.h"
#include "persam/mask_weights.h"
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

// find divides by the peak: it must be a positive cosine.
void CheckPeak(const ConceptReference& ref) {
  if (!(ref.peak_similarity > 0.0f)) {
    throw Error("learn: reference mask '" + ref.mask + "': no pixel inside it resembles the concept (peak " +
                "similarity " + std::to_string(ref.peak_similarity) + "); the mask or the model is not usable");
  }
}

// PerSAM-F's two weights trained on the sum of the references' losses
// (dice + focal each, as persam_f.py computes them for one): the same AdamW
// and cosine schedule as TrainMaskWeights, the gradients added.
std::array<float, 3> TrainOnSeveral(const std::vector<std::unique_ptr<MaskMixtureProblem>>& problems,
                                    const MaskWeightsOptions& options) {
  float w[2] = {1.0f / 3.0f, 1.0f / 3.0f};
  AdamW optimizer(2, options.beta1, options.beta2, options.eps, options.weight_decay);
  CosineAnnealingLr scheduler(options.lr, std::max(options.steps, 1));
  for (int step = 0; step < options.steps; ++step) {
    double grad[2] = {0, 0};
    for (const auto& problem : problems) {
      const MaskLossValue value = EvaluateMaskLoss(*problem, w[0], w[1]);
      grad[0] += value.grad[0];
      grad[1] += value.grad[1];
    }
    const float g[2] = {static_cast<float>(grad[0]), static_cast<float>(grad[1])};
    optimizer.Step(w, g, scheduler.lr());
    scheduler.Step();
  }
  return {1.0f - (w[0] + w[1]), w[0], w[1]};
}

// Several references fused: the target features pool the selected cells of
// all of them (mean, and max for PerSAM-F); each reference's statistics are
// taken with the fused feature; PerSAM-F trains one pair of weights on the
// sum of the references' losses, each reference prompted at its own peak of
// the fused feature's similarity.
LearnResult LearnFromSeveral(const SamModel& model, const ConceptModelIdentity& identity,
                             const std::vector<ReferenceInput>& references, const PersonalizeOptions& options) {
  struct Loaded {
    RgbImage mask128;
    ImageEmbedding embedding;
    MaskCells cells;
  };
  std::vector<Loaded> loaded(references.size());
  LearnResult result;
  for (size_t r = 0; r < references.size(); ++r) {
    const ReferenceInput& input = references[r];
    const RgbImage image = LoadImage(input.image);
    const RgbImage mask = LoadImage(input.mask);
    if (image.height != mask.height || image.width != mask.width) {
      throw Error("reference mask '" + input.mask + "' is " + std::to_string(mask.width) + "x" +
                  std::to_string(mask.height) + " but its image '" + input.image + "' is " +
                  std::to_string(image.width) + "x" + std::to_string(image.height));
    }
    loaded[r].mask128 = NormalizeReferenceMask(mask, input.mask);
    loaded[r].embedding = model.EncodeImage(image, nullptr);
    loaded[r].cells = SelectReferenceCells(loaded[r].mask128);
    ReferenceSummary summary;
    summary.height = image.height;
    summary.width = image.width;
    summary.selected_cells = loaded[r].cells.count;
    summary.cell_fallback = loaded[r].cells.fallback;
    if (loaded[r].cells.fallback) {
      summary.warnings.push_back("reference mask '" + input.mask + "' covers no embedding cell; used the " +
                                 std::to_string(loaded[r].cells.count) + " cell(s) of highest coverage");
    }
    result.summaries.push_back(std::move(summary));
  }
  std::vector<const ImageEmbedding*> embeddings;
  std::vector<const std::vector<uint8_t>*> cells;
  for (const Loaded& l : loaded) {
    embeddings.push_back(&l.embedding);
    cells.push_back(&l.cells.selected);
  }
  Concept& c = result.learned;
  c.finetune = options.finetune;
  c.model = identity;
  c.training = options.training;
  c.target = ComputeTargetFeatures(embeddings, cells,
                                   options.finetune ? TargetPooling::kMaxPlusMean : TargetPooling::kMean);
  std::vector<std::unique_ptr<MaskMixtureProblem>> problems;
  for (size_t r = 0; r < references.size(); ++r) {
    ConceptReference ref;
    ref.image = references[r].image;
    ref.mask = references[r].mask;
    ref.height = loaded[r].mask128.height;
    ref.width = loaded[r].mask128.width;
    const std::vector<float> sim = SimilarityMap(loaded[r].embedding, c.target.feat);
    const std::vector<uint8_t> target = ForegroundPixels(loaded[r].mask128);
    InMaskSimilarity(sim, target, &ref);
    CheckPeak(ref);
    c.references.push_back(ref);
    if (options.finetune) {
      Prompt prompt;
      prompt.points = {ArgMaxPoint(sim, ref.width)};
      prompt.multimask = true;
      const Prediction prediction = model.Predict(loaded[r].embedding, prompt, nullptr);
      problems.push_back(std::make_unique<MaskMixtureProblem>(prediction.high_res.data(), target.data(),
                                                              static_cast<int64_t>(target.size())));
    }
  }
  if (options.finetune) c.mask_weights = TrainOnSeveral(problems, options.training);
  return result;
}

}  // namespace

LearnResult LearnConcept(const SamModel& model, const ConceptModelIdentity& identity,
                         const std::vector<ReferenceInput>& references, const PersonalizeOptions& options) {
  if (references.empty()) throw Error("learn: no reference image given");
  if (references.size() > 1) return LearnFromSeveral(model, identity, references, options);
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
  CheckPeak(ref);
  c.references.push_back(ref);
  result.summaries.push_back(personalizer.reference());
  return result;
}

}  // namespace persam
