// A learned concept ("my dog") as a file: everything `persam find` needs to
// segment it in new photos without the reference images. Safetensors, so any
// safetensors reader can open it:
//   tensors   target_feat [C] f32         the location prior's unit feature
//                                         (PerSAM: mean of the masked cells,
//                                         PerSAM-F: max/2 + mean/2, as the
//                                         reference computes them)
//             target_embedding [C] f32    the mean feature (target-semantic prompt)
//             mask_weights [3] f32        PerSAM-F only: the learned mix
//             reference_similarity [R, 2] f32  per reference: peak and mean
//                                         cosine similarity inside its own mask
//             reference_size [R, 2] i32   per reference: height, width
//   metadata  format "persam-concept", format_version, method
//             ("persam" | "persam_f"), model.architecture / weights_hash /
//             precision / file, train.steps / train.lr (PerSAM-F),
//             references (JSON: [{"image", "mask"}] as given), content_hash
//             (XXH3-128 of the tensors and the other metadata: a flipped
//             bit anywhere is an error, not another concept).
#ifndef PERSAM_CONCEPTS_CONCEPT_FILE_H_
#define PERSAM_CONCEPTS_CONCEPT_FILE_H_

#include <array>
#include <map>
#include <string>
#include <vector>

#include "concepts/model_identity.h"
#include "persam/location_prior.h"
#include "persam/mask_weights.h"
#include "weights/mapped_file.h"

namespace persam {

inline constexpr int kConceptFormatVersion = 1;

struct ConceptReference {
  std::string image, mask;  // as given to `learn` (informational)
  int height = 0, width = 0;
  float peak_similarity = 0;  // max of the reference's similarity map inside its mask
  float mean_similarity = 0;  // mean inside the mask
};

struct Concept {
  int format_version = kConceptFormatVersion;
  bool finetune = false;  // PerSAM-F
  ConceptModelIdentity model;
  TargetFeatures target;
  std::array<float, 3> mask_weights{};  // PerSAM-F
  MaskWeightsOptions training;          // PerSAM-F: steps and lr are stored
  std::vector<ConceptReference> references;

  const char* method() const { return finetune ? "persam_f" : "persam"; }
  // What a target's peak similarity is divided by: the smallest of the
  // references' in-mask peaks (a target as alike as the least typical
  // reference scores 1).
  float ReferencePeak() const;
};

// True for the metadata of a concept file (format = persam-concept), valid or not.
bool IsConceptMetadata(const std::map<std::string, std::string>& metadata);

// Written atomically (temporary file renamed into place).
void WriteConcept(const std::string& path, const Concept& concept_);
// Throws persam::Error naming the file and what is wrong: not a concept,
// another format version, truncated, a tensor of the wrong shape, values
// that are not finite, a content hash that does not match.
Concept ReadConcept(const std::string& path);
Concept ReadConceptFromBytes(const FileBytes& bytes);

// Throws persam::Error naming both models when `model` is not the one the
// concept was learned with.
void CheckConceptModel(const Concept& concept_, const std::string& concept_path, const ConceptModelIdentity& model);

}  // namespace persam

#endif  // PERSAM_CONCEPTS_CONCEPT_FILE_H_
