#include "engine/model_identity.h"

#include "engine/packed_weights_file.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <memory>

namespace persam {

std::string ModelIdentity::Describe() const {
  return architecture + ", encoder weights " + encoder_hash + ", " + PrecisionName(precision);
}

std::string EncoderWeightsHash(const TensorMap& tensors) {
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> state(XXH3_createState(), &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  // TensorMap is ordered by name: the same tensors give the same sequence.
  for (const auto& [name, tensor] : tensors) {
    if (name.compare(0, 14, "image_encoder.") != 0) continue;
    // The same weights as the plain tensors, rearranged: a packed file has
    // the plain file's identity (engine/packed_weights_file.h).
    if (IsPackedTensorName(name)) continue;
    const std::string header = name + "|" + DTypeName(tensor.dtype) + "|" + ShapeToString(tensor.shape) + "|";
    XXH3_64bits_update(state.get(), header.data(), header.size());
    XXH3_64bits_update(state.get(), tensor.data, tensor.NumBytes());
  }
  char hex[32];
  std::snprintf(hex, sizeof(hex), "%016" PRIx64, static_cast<uint64_t>(XXH3_64bits_digest(state.get())));
  return std::string("xxh3-64:") + hex;
}

ModelIdentity MakeModelIdentity(const TensorMap& tensors, const SamConfig& config, Precision precision) {
  ModelIdentity id;
  id.architecture = std::string(ArchitectureName(config.encoder)) + " (" + EncoderSummary(config) + ")";
  id.encoder_hash = EncoderWeightsHash(tensors);
  id.precision = precision;
  return id;
}

}  // namespace persam
