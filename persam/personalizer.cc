#include "persam/personalizer.h"

#include <algorithm>
#include <utility>

#include "engine/preprocess.h"
#include "base/error.h"

namespace persam {
namespace {

// np.argmax: the first maximum.
int BestIndex(const std::vector<float>& scores) {
  return static_cast<int>(std::max_element(scores.begin(), scores.end()) - scores.begin());
}

// The cascade's full-size maps, per thread, kept from image to image: a
// fresh map per decoder call (4.9 MB each at 1280 x 960, PerSAM-F's first
// call 15 MB) was mostly zero fill and page faults, ~70% of PerSAM-F's
// "postprocess" time past the encoder there. One slot per cascade step
// (a step reads the earlier steps' maps).
struct CascadeBuffers {
  Prediction prediction[3];
  std::vector<float> chosen_high_res[3];
  std::vector<float> mixed_high, mixed_low;  // PerSAM-F's weighted first-step maps
};

CascadeBuffers& Buffers() {
  thread_local CascadeBuffers buffers;
  return buffers;
}

// A step's outputs, in its slot of Buffers() (valid until this thread's
// next image).
struct StepRun {
  const Prediction& prediction;
  const std::vector<float>& chosen_high_res;  // [height, width] logits of the chosen mask
  int chosen = 0;
  DecoderStep* step;
};

// One decoder call. The cascade only ever reads the chosen mask (np.argmax
// of the scores) at full resolution, so only that one is upsampled (the
// postprocessing is per mask: the others would be computed and dropped).
// With `all_high_res` every mask is (PerSAM-F mixes all three).
StepRun RunStep(const SamModel& model, const ImageEmbedding& embedding, Prompt prompt,
                bool all_high_res, bool keep_maps, int slot, ImageOutcome* outcome) {
  CascadeBuffers& buffers = Buffers();
  Prediction& prediction = buffers.prediction[slot];
  std::vector<float>& chosen_high_res = buffers.chosen_high_res[slot];
  StepRun run{prediction, chosen_high_res, 0, nullptr};
  StageTimings inner;
  prompt.compute_high_res = all_high_res;
  {
    ScopedStage stage(&outcome->timings, "decoder");
    model.PredictInto(embedding, prompt, &prediction, &inner);
    const Prediction& p = prediction;
    run.chosen = BestIndex(p.scores);
    if (!all_high_res) {
      ScopedStage post(&inner, "postprocess");
      const int ms = model.config().embed_grid * 4;
      PostprocessMapsInto(p.low_res.data() + static_cast<size_t>(run.chosen) * ms * ms, 1, ms, ms, p.height,
                          p.width, &chosen_high_res, model.config().image_size);
    } else {
      chosen_high_res.clear();
    }
  }
  // The engine's own split (prompt encoder, transformer, postprocessing...).
  for (const auto& [name, seconds] : inner.entries()) outcome->timings.Add("decoder/" + name, seconds);
  const Prediction& p = run.prediction;
  DecoderStep step;
  step.points = prompt.points;
  step.box = prompt.box;
  step.has_mask_input = prompt.mask_input != nullptr;
  step.multimask = prompt.multimask;
  step.scores = p.scores;
  step.chosen = run.chosen;
  if (!all_high_res) {
    step.chosen_mask_area = MaskArea(run.chosen_high_res.data(), static_cast<int64_t>(p.height) * p.width);
  }
  if (keep_maps) step.low_res = p.low_res;
  outcome->steps.push_back(std::move(step));
  run.step = &outcome->steps.back();
  return run;
}

void SetFinalMask(const float* logits, ImageOutcome* outcome) {
  const size_t n = static_cast<size_t>(outcome->height) * outcome->width;
  outcome->mask.resize(n);
  int64_t area = 0;
  for (size_t i = 0; i < n; ++i) {
    outcome->mask[i] = logits[i] > 0.0f;
    area += outcome->mask[i];
  }
  outcome->mask_area = area;
}

// Cascaded post-refinement 2 of both cascades: the box of refinement 1's
// chosen mask plus its low-res logits as the mask input; the final mask is
// that step's choice. Returns false, running nothing, when the chosen mask is
// empty (where the reference crashes: x.min() of an empty array).
bool RefineWithBox(const SamModel& model, const ImageEmbedding& embedding, const StepRun& run1, bool keep_maps,
                   ImageOutcome* out) {
  const std::optional<BoxPrompt> box = MaskBox(run1.chosen_high_res.data(), out->height, out->width);
  if (!box) return false;
  const Prediction& p1 = run1.prediction;
  const size_t low_plane = p1.low_res.size() / static_cast<size_t>(p1.num_masks);
  Prompt third;
  third.points = out->prior_points;
  third.box = box;
  third.mask_input = p1.low_res.data() + static_cast<size_t>(run1.chosen) * low_plane;
  third.multimask = true;
  const StepRun run2 = RunStep(model, embedding, third, false, keep_maps, 2, out);
  SetFinalMask(run2.chosen_high_res.data(), out);
  return true;
}

}  // namespace

Personalizer::Personalizer(const SamModel& model, PersonalizeOptions options)
    : model_(model), options_(std::move(options)) {}

void Personalizer::SetReference(const RgbImage& image, const RgbImage& mask, const std::string& mask_source) {
  if (image.height != mask.height || image.width != mask.width) {
    throw Error("reference mask '" + mask_source + "' is " + std::to_string(mask.width) + "x" +
                std::to_string(mask.height) + " but its image is " + std::to_string(image.width) + "x" +
                std::to_string(image.height));
  }
  NormalizeReferenceMask(mask, mask_source);  // fail on an empty mask before encoding
  StageTimings timings;
  ImageEmbedding embedding;
  {
    ScopedStage stage(&timings, "encoder");
    embedding = model_.EncodeImage(image, nullptr);
  }
  SetReference(std::move(embedding), mask, mask_source);
  for (const auto& [name, seconds] : timings.entries()) reference_.timings.Add(name, seconds);
}

void Personalizer::SetReference(ImageEmbedding embedding, const RgbImage& mask, const std::string& mask_source) {
  if (embedding.orig_height != mask.height || embedding.orig_width != mask.width) {
    throw Error("reference mask '" + mask_source + "' is " + std::to_string(mask.width) + "x" +
                std::to_string(mask.height) + " but its image is " + std::to_string(embedding.orig_width) + "x" +
                std::to_string(embedding.orig_height));
  }
  ReferenceSummary ref;
  ref.height = mask.height;
  ref.width = mask.width;
  const RgbImage mask128 = NormalizeReferenceMask(mask, mask_source);
  reference_embedding_ = std::move(embedding);
  const MaskCells cells = SelectReferenceCells(mask128);
  ref.selected_cells = cells.count;
  ref.cell_fallback = cells.fallback;
  if (cells.fallback) {
    ref.warnings.push_back("the reference mask covers no 64x64 embedding cell after the reference's "
                           "resizing (it would compute NaN features); used the " +
                           std::to_string(cells.count) + " cell(s) of highest mask coverage");
  }
  ref.target = ComputeTargetFeatures(reference_embedding_, cells.selected,
                                     options_.finetune ? TargetPooling::kMaxPlusMean : TargetPooling::kMean);
  if (options_.finetune) {
    // ref: persam_f.py: self location prior on the reference, one positive
    // point, multimask logits of the frozen SAM, then the weights.
    std::vector<float> sim;
    {
      ScopedStage stage(&ref.timings, "prior");
      sim = SimilarityMap(reference_embedding_, ref.target.feat);
    }
    const PointPrompt point = ArgMaxPoint(sim, ref.width);
    ref.training_point = point;
    Prompt prompt;
    prompt.points = {point};
    prompt.multimask = true;
    Prediction prediction;
    {
      ScopedStage stage(&ref.timings, "decoder");
      prediction = model_.Predict(reference_embedding_, prompt, nullptr);
    }
    if (prediction.num_masks != 3) throw Error("PerSAM-F: the decoder returned " + std::to_string(prediction.num_masks) + " masks, expected 3");
    const std::vector<uint8_t> target = ForegroundPixels(mask128);
    {
      ScopedStage stage(&ref.timings, "fine-tuning");
      ref.training = TrainMaskWeights(prediction.high_res.data(), target.data(),
                                      static_cast<int64_t>(target.size()), options_.training);
    }
    weights_ = ref.training->weights;
  }
  reference_ = std::move(ref);
}

void Personalizer::SetLearned(TargetFeatures target, const std::array<float, 3>& mask_weights, int ref_height,
                              int ref_width) {
  if (target.feat.empty() || target.embedding.size() != target.feat.size() || ref_height <= 0 || ref_width <= 0) {
    throw Error("PerSAM: learned target features are empty or inconsistent");
  }
  ReferenceSummary ref;
  ref.height = ref_height;
  ref.width = ref_width;
  ref.target = std::move(target);
  reference_ = std::move(ref);
  reference_embedding_ = ImageEmbedding();
  weights_ = options_.finetune ? mask_weights : std::array<float, 3>{};
}

ImageOutcome Personalizer::Segment(const RgbImage& image) const {
  StageTimings encode;
  ImageEmbedding embedding;
  {
    ScopedStage stage(&encode, "encoder");
    embedding = model_.EncodeImage(image, nullptr);
  }
  ImageOutcome outcome = Segment(embedding);
  for (const auto& [name, seconds] : encode.entries()) outcome.timings.Add(name, seconds);
  return outcome;
}

ImageOutcome Personalizer::Segment(const ImageEmbedding& embedding) const {
  if (reference_.height == 0) throw Error("PerSAM: no reference set");
  return options_.finetune ? SegmentPersamF(embedding, nullptr) : SegmentPersam(embedding, nullptr);
}

ImageOutcome Personalizer::SegmentWithPoints(const ImageEmbedding& embedding,
                                             const std::vector<PointPrompt>& points) const {
  if (reference_.height == 0) throw Error("PerSAM: no reference set");
  if (points.size() != (options_.finetune ? 1u : 2u)) {
    throw Error(std::string("PerSAM: expected ") + (options_.finetune ? "1 prior point" : "2 prior points"));
  }
  return options_.finetune ? SegmentPersamF(embedding, &points) : SegmentPersam(embedding, &points);
}

ImageOutcome Personalizer::SegmentWithSimilarity(const ImageEmbedding& embedding, const std::vector<float>& sim,
                                                 const std::vector<PointPrompt>* points) const {
  if (reference_.height == 0) throw Error("PerSAM: no reference set");
  if (sim.size() != static_cast<size_t>(embedding.orig_height) * embedding.orig_width) {
    throw Error("PerSAM: the similarity map does not match the image size");
  }
  if (points != nullptr && points->size() != (options_.finetune ? 1u : 2u)) {
    throw Error(std::string("PerSAM: expected ") + (options_.finetune ? "1 prior point" : "2 prior points"));
  }
  return options_.finetune ? SegmentPersamF(embedding, points, &sim) : SegmentPersam(embedding, points, &sim);
}

ImageOutcome Personalizer::SegmentPersam(const ImageEmbedding& embedding, const std::vector<PointPrompt>* points,
                                         const std::vector<float>* given_sim) const {
  ImageOutcome out;
  out.height = embedding.orig_height;
  out.width = embedding.orig_width;
  out.steps.reserve(3);  // DecoderStep pointers stay valid
  std::vector<float> attn_sim;
  {
    ScopedStage stage(&out.timings, "prior");
    std::vector<float> computed;
    if (given_sim == nullptr) computed = SimilarityMap(embedding, reference_.target.feat);
    const std::vector<float>& sim = given_sim ? *given_sim : computed;
    // ref: point_selection(sim, topk=1): positive and negative location prior.
    out.prior_points = {ArgMaxPoint(sim, out.width), ArgMinPoint(sim, out.width)};
    if (points != nullptr) out.prior_points = *points;
    attn_sim = TargetGuidedAttention(sim, out.height, out.width);
  }
  if (options_.keep_step_maps) out.attn_sim = attn_sim;

  // First step: target-guided attention + target-semantic prompting.
  Prompt first;
  first.points = out.prior_points;
  first.multimask = false;
  first.attn_sim = attn_sim.data();
  first.target_embedding = reference_.target.embedding.data();
  StepRun run0 = RunStep(model_, embedding, first, false, options_.keep_step_maps, 0, &out);

  // Cascaded post-refinement 1: the first mask's logits as mask input.
  Prompt second;
  second.points = out.prior_points;
  second.mask_input = run0.prediction.low_res.data();
  second.multimask = true;
  const StepRun run1 = RunStep(model_, embedding, second, false, options_.keep_step_maps, 1, &out);

  // Cascaded post-refinement 2: + the box of that mask.
  if (!RefineWithBox(model_, embedding, run1, options_.keep_step_maps, &out)) {
    const bool first_empty = out.steps[0].chosen_mask_area == 0;
    out.empty_at_step = 2;
    out.warnings.push_back(std::string("refinement 1 produced an empty mask (the reference would crash); "
                                       "kept the ") + (first_empty ? "(empty) first-step" : "first-step") +
                           " mask and skipped refinement 2");
    SetFinalMask(run0.chosen_high_res.data(), &out);
  }
  return out;
}

ImageOutcome Personalizer::SegmentPersamF(const ImageEmbedding& embedding, const std::vector<PointPrompt>* points,
                                          const std::vector<float>* given_sim) const {
  ImageOutcome out;
  out.height = embedding.orig_height;
  out.width = embedding.orig_width;
  out.steps.reserve(3);  // DecoderStep pointers stay valid
  {
    ScopedStage stage(&out.timings, "prior");
    std::vector<float> computed;
    if (given_sim == nullptr) computed = SimilarityMap(embedding, reference_.target.feat);
    const std::vector<float>& sim = given_sim ? *given_sim : computed;
    out.prior_points = {ArgMaxPoint(sim, out.width)};
    if (points != nullptr) out.prior_points = *points;
  }
  const int64_t plane = static_cast<int64_t>(out.height) * out.width;

  Prompt first;
  first.points = out.prior_points;
  first.multimask = true;
  StepRun run0 = RunStep(model_, embedding, first, true, options_.keep_step_maps, 0, &out);
  const Prediction& p0 = run0.prediction;
  if (p0.num_masks != 3) throw Error("PerSAM-F: the decoder returned " + std::to_string(p0.num_masks) + " masks, expected 3");
  const int64_t low_plane = static_cast<int64_t>(p0.low_res.size()) / p0.num_masks;
  // ref: logits_high * weights, summed over the masks (float32, in order);
  // logits * weights_np, summed (numpy float32).
  std::vector<float>& mixed_high = Buffers().mixed_high;
  std::vector<float>& mixed_low = Buffers().mixed_low;
  mixed_high.resize(plane);  // every value is written below
  mixed_low.resize(low_plane);
  for (int64_t i = 0; i < plane; ++i) {
    const float a = p0.high_res[i] * weights_[0], b = p0.high_res[plane + i] * weights_[1];
    const float c = p0.high_res[2 * plane + i] * weights_[2];
    mixed_high[i] = (a + b) + c;
  }
  for (int64_t i = 0; i < low_plane; ++i) {
    const float a = p0.low_res[i] * weights_[0], b = p0.low_res[low_plane + i] * weights_[1];
    const float c = p0.low_res[2 * low_plane + i] * weights_[2];
    mixed_low[i] = (a + b) + c;
  }
  run0.step->chosen = -1;
  run0.step->chosen_mask_area = MaskArea(mixed_high.data(), plane);

  // Cascaded post-refinement 1: box of the weighted mask + its low-res logit.
  const std::optional<BoxPrompt> box1 = MaskBox(mixed_high.data(), out.height, out.width);
  if (!box1) {
    out.empty_at_step = 1;
    out.warnings.push_back("the weighted first-step mask is empty (the reference would crash); "
                           "kept it and skipped both refinements");
    SetFinalMask(mixed_high.data(), &out);
    return out;
  }
  Prompt second;
  second.points = out.prior_points;
  second.box = box1;
  second.mask_input = mixed_low.data();
  second.multimask = true;
  const StepRun run1 = RunStep(model_, embedding, second, false, options_.keep_step_maps, 1, &out);

  // Cascaded post-refinement 2.
  if (!RefineWithBox(model_, embedding, run1, options_.keep_step_maps, &out)) {
    out.empty_at_step = 2;
    out.warnings.push_back("refinement 1 produced an empty mask (the reference would crash); "
                           "kept the weighted first-step mask and skipped refinement 2");
    SetFinalMask(mixed_high.data(), &out);
  }
  return out;
}

}  // namespace persam
