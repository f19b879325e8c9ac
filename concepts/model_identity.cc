#include "concepts/model_identity.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>

namespace persam {

std::string ModelIdentity::Describe() const {
  return architecture + " " + precision + " weights " + weights_hash + (file.empty() ? "" : " (" + file + ")");
}

std::string WeightsHash(const TensorMap& tensors) {
  // xxHash: a maintained, fast (>10 GB/s) non-cryptographic hash; identity,
  // not security, is what is needed here, and a ViT-H is 2.5 GB to hash.
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  for (const auto& [name, tensor] : tensors) {
    const std::string head = name + '\0' + DTypeSafetensorsName(tensor.dtype) + '\0' + ShapeToString(tensor.shape);
    XXH3_128bits_update(state, head.data(), head.size() + 1);
    if (tensor.NumBytes() > 0) XXH3_128bits_update(state, tensor.data, tensor.NumBytes());
  }
  const XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  char text[33];
  std::snprintf(text, sizeof(text), "%016" PRIx64 "%016" PRIx64, static_cast<uint64_t>(h.high64),
                static_cast<uint64_t>(h.low64));
  return text;
}

}  // namespace persam
