// Which model computed an image embedding: an embedding only means something
// to the mask decoder of the model whose encoder made it, so the embedding
// file records this and `segment --embedding` compares it.
#ifndef PERSAM_ENGINE_MODEL_IDENTITY_H_
#define PERSAM_ENGINE_MODEL_IDENTITY_H_

#include <string>

#include "engine/precision.h"
#include "weights/sam_config.h"
#include "weights/tensor.h"

namespace persam {

struct ModelIdentity {
  std::string architecture;  // e.g. "sam-vit (ViT: embed 768, depth 12, ...)"
  std::string encoder_hash;  // "xxh3-64:<16 hex>" over the image encoder's tensors as stored
  Precision precision = Precision::kF32;  // the encoder's compute precision

  // "sam-vit (...), encoder weights xxh3-64:..., f32"
  std::string Describe() const;
};

// XXH3 (libxxhash, ~10 GB/s: ViT-H's 2.5 GB in well under the load time)
// over the sorted image_encoder.* tensors' names, dtypes, shapes and bytes.
// Files that hold the same weights in another dtype (convert --dtype) hash
// differently: their embeddings differ too.
std::string EncoderWeightsHash(const TensorMap& tensors);

ModelIdentity MakeModelIdentity(const TensorMap& tensors, const SamConfig& config, Precision precision);

}  // namespace persam

#endif  // PERSAM_ENGINE_MODEL_IDENTITY_H_
