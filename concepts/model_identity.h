// Which model a concept was learned with: the architecture, a hash of every
// weight tensor in the checkpoint, and the image encoder's precision. A
// concept's features live in one model's embedding space (and its PerSAM-F
// weights fit that model's decoder), so `find` refuses any other model.
// (The embedding files may grow their own identity; the two should become
// one function.)
#ifndef PERSAM_CONCEPTS_MODEL_IDENTITY_H_
#define PERSAM_CONCEPTS_MODEL_IDENTITY_H_

#include <string>

#include "engine/sam_model.h"
#include "weights/tensor.h"

namespace persam {

struct ConceptModelIdentity {
  std::string architecture;  // "sam-vit", "sam-tinyvit"
  std::string weights_hash;  // 32 hex digits, XXH3-128 (see WeightsHash)
  std::string precision;     // "f32", "bf16", "int8"
  std::string file;          // the checkpoint's file name, for messages only

  bool SameModel(const ConceptModelIdentity& other) const {
    return architecture == other.architecture && weights_hash == other.weights_hash && precision == other.precision;
  }
  // "sam-vit f32 weights 0123abcd... (sam_vit_b.safetensors)"
  std::string Describe() const;
};

// Streaming XXH3-128 (xxHash), written as 32 hex digits: the one hash of
// concepts/ (weights, concept content, embedding cache keys).
class Hash128 {
 public:
  Hash128();
  ~Hash128();
  Hash128(const Hash128&) = delete;
  Hash128& operator=(const Hash128&) = delete;
  void Update(const void* data, size_t size);
  std::string Hex() const;

 private:
  void* state_;
};

// XXH3-128 over every tensor in name order: its name, dtype, shape and
// stored bytes. The same weights stored the same way hash the same whatever
// the container (.pth or safetensors); a conversion to another dtype is
// another model (its values differ).
std::string WeightsHash(const TensorMap& tensors);

// Reads `model_path` again (memory-mapped; only hashed) for the weights hash.
ConceptModelIdentity IdentifyModel(const std::string& model_path, const SamModel& model);

}  // namespace persam

#endif  // PERSAM_CONCEPTS_MODEL_IDENTITY_H_
