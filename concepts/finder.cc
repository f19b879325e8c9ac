#include "concepts/finder.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "base/error.h"
#include "persam/location_prior.h"

namespace persam {
namespace {

PersonalizeOptions OptionsOf(const Concept& c) {
  PersonalizeOptions options;
  options.finetune = c.finetune;
  options.training = c.training;
  return options;
}

std::array<int, 4> BoxOf(const std::vector<uint8_t>& mask, int height, int width) {
  int x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = mask.data() + static_cast<size_t>(y) * width;
    for (int x = 0; x < width; ++x) {
      if (!row[x]) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = y;
    }
  }
  return {x0, y0, x1, y1};
}

double Iou(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int64_t inter = 0, uni = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    inter += a[i] && b[i];
    uni += a[i] || b[i];
  }
  return uni > 0 ? static_cast<double>(inter) / static_cast<double>(uni) : 0.0;
}

// The final decoder call's IoU prediction for the mask it chose (the best
// of the first call's when PerSAM-F mixed them and stopped there).
float FinalScore(const ImageOutcome& outcome) {
  if (outcome.steps.empty()) return 0.0f;
  const DecoderStep& last = outcome.steps.back();
  if (last.scores.empty()) return 0.0f;
  if (last.chosen >= 0 && last.chosen < static_cast<int>(last.scores.size())) return last.scores[last.chosen];
  return *std::max_element(last.scores.begin(), last.scores.end());
}

// The pixels 4-connected to `seed` in the unsuppressed map `sim` whose
// similarity is at least halfway from the map's mean to the seed's value
// (the peak's own blob) are set to -inf in `suppressed`. Suppressed with the
// mask, so that a mask that missed part of its object (or the point) does
// not hand the same object back as the next peak.
void SuppressPeakRegion(const PointPrompt& seed, const std::vector<float>& sim, double mean, int height, int width,
                        std::vector<float>* suppressed) {
  const size_t start = static_cast<size_t>(seed.y) * width + static_cast<size_t>(seed.x);
  const float threshold = static_cast<float>(mean + 0.5 * (sim[start] - mean));
  std::vector<uint8_t> seen(sim.size(), 0);
  std::vector<size_t> stack = {start};
  seen[start] = 1;
  while (!stack.empty()) {
    const size_t i = stack.back();
    stack.pop_back();
    (*suppressed)[i] = -INFINITY;
    const int y = static_cast<int>(i / width), x = static_cast<int>(i % width);
    const int ny[4] = {y - 1, y + 1, y, y}, nx[4] = {x, x, x - 1, x + 1};
    for (int k = 0; k < 4; ++k) {
      if (ny[k] < 0 || ny[k] >= height || nx[k] < 0 || nx[k] >= width) continue;
      const size_t j = static_cast<size_t>(ny[k]) * width + nx[k];
      if (!seen[j] && sim[j] >= threshold) {
        seen[j] = 1;
        stack.push_back(j);
      }
    }
  }
}

}  // namespace

Finder::Finder(const SamModel& model, const Concept& learned)
    : model_(model), concept_(learned), personalizer_(model, OptionsOf(learned)) {
  if (static_cast<int>(learned.target.feat.size()) != model.config().prompt_dim) {
    throw Error("concept has " + std::to_string(learned.target.feat.size()) + "-value features, the model's "
                "embedding has " + std::to_string(model.config().prompt_dim) + " channels");
  }
  const ConceptReference& ref = learned.references.at(0);
  personalizer_.SetLearned(learned.target, learned.mask_weights, ref.height, ref.width);
}

FindResult Finder::Find(const ImageEmbedding& embedding, const FindOptions& options) const {
  if (options.max_instances < 1 || options.max_instances > kMaxInstances) {
    throw Error("find: instances must be 1 .. " + std::to_string(kMaxInstances));
  }
  FindResult result;
  result.height = embedding.orig_height;
  result.width = embedding.orig_width;
  const size_t pixels = static_cast<size_t>(result.height) * result.width;
  result.labels.assign(pixels, 0);
  std::vector<float> sim;
  const double scale = 1.0 / concept_.ReferencePeak();
  {
    ScopedStage stage(&result.timings, "similarity");
    sim = SimilarityMap(embedding, concept_.target.feat);
  }
  const PointPrompt peak = ArgMaxPoint(sim, result.width);
  const size_t peak_index = static_cast<size_t>(peak.y) * result.width + static_cast<size_t>(peak.x);
  result.similarity = static_cast<float>(sim[peak_index] * scale);
  if (result.similarity < options.min_similarity) {
    result.stop_reason = "similarity below --min-similarity";
    return result;
  }
  // PerSAM's negative point stays the whole map's minimum for every instance.
  const PointPrompt negative = ArgMinPoint(sim, result.width);
  // The map as computed; `sim` (suppressed) is copied from it only when a
  // further instance is looked for (a full-size map: 4.9 MB at 1280 x 960).
  const std::vector<float> original = std::move(sim);
  sim.clear();
  double mean = 0;
  PointPrompt point = peak;
  float point_similarity = result.similarity;
  for (int k = 1;; ++k) {
    ImageOutcome outcome;
    // The map computed above is the one Segment would compute again.
    if (k == 1) {
      outcome = personalizer_.SegmentWithSimilarity(embedding, original, nullptr);  // exactly `persam personalize`
    } else {
      std::vector<PointPrompt> points = {point};
      if (!concept_.finetune) points.push_back(negative);
      outcome = personalizer_.SegmentWithSimilarity(embedding, original, &points);
    }
    for (const auto& [name, seconds] : outcome.timings.entries()) result.timings.Add(name, seconds);
    for (std::string& w : outcome.warnings) result.warnings.push_back("instance " + std::to_string(k) + ": " + w);
    if (outcome.mask_area == 0) {
      result.stop_reason = "empty mask";
      break;
    }
    bool repeated = false;
    for (const FoundInstance& earlier : result.instances) repeated = repeated || Iou(earlier.mask, outcome.mask) > options.max_overlap;
    if (repeated) {
      result.stop_reason = "mask overlaps an earlier instance";
      break;
    }
    FoundInstance instance;
    instance.area = outcome.mask_area;
    instance.bbox = BoxOf(outcome.mask, result.height, result.width);
    instance.score = FinalScore(outcome);
    instance.similarity = point_similarity;
    instance.point = point;
    instance.mask = std::move(outcome.mask);
    const uint8_t label = static_cast<uint8_t>(k);
    for (size_t i = 0; i < pixels; ++i) {
      if (instance.mask[i] && result.labels[i] == 0) result.labels[i] = label;
    }
    result.instances.push_back(std::move(instance));
    if (k >= options.max_instances) {
      result.stop_reason = "instance limit";
      break;
    }
    // Suppress what is found (its peak's region first: the mask may have
    // missed it), then the next peak.
    if (sim.empty()) {
      sim = original;
      for (float v : original) mean += v;
      mean /= static_cast<double>(pixels);
    }
    SuppressPeakRegion(point, original, mean, result.height, result.width, &sim);
    const FoundInstance& last = result.instances.back();
    for (size_t i = 0; i < pixels; ++i) {
      if (last.mask[i]) sim[i] = -INFINITY;
    }
    point = ArgMaxPoint(sim, result.width);
    const float next = sim[static_cast<size_t>(point.y) * result.width + static_cast<size_t>(point.x)];
    point_similarity = std::isfinite(next) ? static_cast<float>(next * scale) : -INFINITY;
    if (!(point_similarity >= options.min_similarity)) {
      result.stop_reason = "next peak below --min-similarity";
      break;
    }
  }
  result.present = !result.instances.empty();
  return result;
}

}  // namespace persam
