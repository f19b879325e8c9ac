// Learning a concept from reference images and masks: PerSAM's reference
// step (persam/personalizer.h) plus what `find` needs later without the
// references: the similarity statistics inside each reference mask.
#ifndef PERSAM_CONCEPTS_LEARN_H_
#define PERSAM_CONCEPTS_LEARN_H_

#include <string>
#include <vector>

#include "concepts/concept_file.h"
#include "engine/sam_model.h"
#include "persam/personalizer.h"

namespace persam {

struct ReferenceInput {
  std::string image, mask;  // file paths
};

struct LearnResult {
  Concept learned;
  std::vector<ReferenceSummary> summaries;  // per reference (warnings, training log, timings)
};

// One reference: exactly what `persam personalize` computes for it. Several:
// fused (see LearnFromSeveral in learn.cc and the README).
// Throws persam::Error naming the file for an unreadable image, a mask of
// another size or an empty mask.
LearnResult LearnConcept(const SamModel& model, const ConceptModelIdentity& identity,
                         const std::vector<ReferenceInput>& references, const PersonalizeOptions& options);

}  // namespace persam

#endif  // PERSAM_CONCEPTS_LEARN_H_
