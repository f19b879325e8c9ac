// Finding a learned concept in one image: the gate on the concept's
// similarity (absent targets), PerSAM / PerSAM-F for the first instance
// (exactly `persam personalize`'s mask), then further instances from the
// similarity map with the accepted regions suppressed.
#ifndef PERSAM_CONCEPTS_FINDER_H_
#define PERSAM_CONCEPTS_FINDER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "concepts/concept_file.h"
#include "engine/sam_model.h"
#include "engine/timing.h"
#include "persam/personalizer.h"

namespace persam {

// The default of --min-similarity: see README ("Concepts"); not calibrated
// on real weights.
inline constexpr double kDefaultMinSimilarity = 0.5;
// The default IoU above which a further instance counts as one found before.
inline constexpr double kDefaultMaxOverlap = 0.5;
// --instances all: the label PNG holds 8 bits.
inline constexpr int kMaxInstances = 255;

struct FindOptions {
  double min_similarity = kDefaultMinSimilarity;
  int max_instances = 1;  // 1 .. kMaxInstances
  double max_overlap = kDefaultMaxOverlap;
};

struct FoundInstance {
  std::vector<uint8_t> mask;      // [height * width] 0/1, the decoder's whole mask
  std::array<int, 4> bbox{};      // x0, y0, x1, y1 inclusive
  int64_t area = 0;
  float score = 0;                // the final decoder call's IoU prediction
  float similarity = 0;           // normalised similarity at its prior point
  PointPrompt point;              // its positive prior point
};

struct FindResult {
  int height = 0, width = 0;
  float similarity = 0;  // peak cosine similarity / the references' in-mask peak
  bool present = false;  // similarity >= min_similarity and a non-empty mask
  std::vector<FoundInstance> instances;
  std::vector<uint8_t> labels;  // [height * width]: 0 background, k for instance k (earlier wins)
  std::string stop_reason;      // why no further instance was taken
  std::vector<std::string> warnings;
  StageTimings timings;
};

class Finder {
 public:
  // Throws persam::Error when the concept's features do not fit the model.
  Finder(const SamModel& model, const Concept& learned);
  FindResult Find(const ImageEmbedding& embedding, const FindOptions& options) const;

 private:
  const SamModel& model_;
  const Concept& concept_;
  Personalizer personalizer_;
};

}  // namespace persam

#endif  // PERSAM_CONCEPTS_FINDER_H_
