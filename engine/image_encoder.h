// The image encoder interface shared by the ViT (SAM) and TinyViT (MobileSAM)
// backbones: preprocessed 3 x 1024 x 1024 input -> 256 x 64 x 64 embedding.
#ifndef PERSAM_ENGINE_IMAGE_ENCODER_H_
#define PERSAM_ENGINE_IMAGE_ENCODER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/precision.h"
#include "engine/timing.h"
#include "weights/sam_config.h"
#include "weights/tensor.h"

namespace persam {

// Called with a module's output as the reference names it ("patch_embed",
// "blocks.3", "layers.1", "neck") and its shape as the reference's tensor
// (e.g. {1, 64, 64, C} or {1, tokens, C}); for parity tests and debugging.
using ActivationHook =
    std::function<void(const std::string& module, const float* data, const std::vector<int64_t>& shape)>;

class ImageEncoder {
 public:
  virtual ~ImageEncoder() = default;
  // input: [3, 1024, 1024] normalised and padded (PreprocessImage);
  // embedding: [256, 64, 64] written by the encoder.
  virtual void Encode(const float* input, float* embedding, StageTimings* timings,
                      const ActivationHook& hook = nullptr) const = 0;
  // Encode taking the input: an encoder done with it early frees it then
  // (TinyViT after its patch embedding: 12 MiB less at its peak, issue 21).
  virtual void EncodeConsuming(std::vector<float> input, float* embedding, StageTimings* timings) const {
    Encode(input.data(), embedding, timings);
  }
  // Frees the scratch buffers an Encode keeps for the next one (tens of MB:
  // TinyViT's ~50 MB at 1024 x 1024). A caller that encodes once and then
  // only decodes (`persam segment`) calls it to lower its peak RSS; the next
  // Encode allocates them again.
  virtual void ReleaseScratch() const {}
};

// Weights are converted to float32 and packed here, once. The tensors are
// validated by the caller (ValidateTensors); names are the official ones
// ("image_encoder.blocks.0.attn.qkv.weight", ...).
std::unique_ptr<ImageEncoder> MakeVitEncoder(const TensorMap& tensors, const SamConfig& config);
// The same with the encoder's GEMMs at `precision` (engine/precision.h).
std::unique_ptr<ImageEncoder> MakeVitEncoder(const TensorMap& tensors, const SamConfig& config,
                                             Precision precision);
std::unique_ptr<ImageEncoder> MakeTinyVitEncoder(const TensorMap& tensors, const SamConfig& config);
// TinyViT at `precision`: its attention blocks' Linears (qkv, proj, fc1, fc2)
// and its dense convolutions (MBConv / PatchMerging 1x1, the second patch
// embedding conv) at bf16 / int8, the neck at NeckPrecision; the first
// patch embedding conv and the depthwise convolutions stay float32.
std::unique_ptr<ImageEncoder> MakeTinyVitEncoder(const TensorMap& tensors, const SamConfig& config,
                                                 Precision precision);

}  // namespace persam

#endif  // PERSAM_ENGINE_IMAGE_ENCODER_H_
