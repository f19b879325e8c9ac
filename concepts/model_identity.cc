#include "concepts/model_identity.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <new>

namespace persam {

std::string ConceptModelIdentity::Describe() const {
  return architecture + " " + precision + " weights " + weights_hash + (file.empty() ? "" : " (" + file + ")");
}

Hash128::Hash128() : state_(XXH3_createState()) {
  // xxHash: a maintained, fast (>10 GB/s) non-cryptographic hash; identity,
  // not security, is what is needed here, and a ViT-H is 2.5 GB to hash.
  if (state_ == nullptr) throw std::bad_alloc();
  XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_));
}

Hash128::~Hash128() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Hash128::Update(const void* data, size_t size) {
  if (size > 0) XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data, size);
}

std::string Hash128::Hex() const {
  const XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  char text[33];
  std::snprintf(text, sizeof(text), "%016" PRIx64 "%016" PRIx64, static_cast<uint64_t>(h.high64),
                static_cast<uint64_t>(h.low64));
  return text;
}

std::string WeightsHash(const TensorMap& tensors) {
  Hash128 hash;
  for (const auto& [name, tensor] : tensors) {
    const std::string head = name + '\0' + DTypeSafetensorsName(tensor.dtype) + '\0' + ShapeToString(tensor.shape);
    hash.Update(head.data(), head.size() + 1);
    hash.Update(tensor.data, tensor.NumBytes());
  }
  return hash.Hex();
}

}  // namespace persam
