// Seeded random SAM weights with the official names and shapes (from
// RequiredTensors): for tests, the demo and benchmarks at real model sizes
// when no real checkpoint is available. Values are plausible, not trained:
// weights uniform in +-1/sqrt(fan_in), biases small, norm scales near 1,
// BatchNorm variances positive, so every layer stays finite.
#ifndef PERSAM_WEIGHTS_RANDOM_CHECKPOINT_H_
#define PERSAM_WEIGHTS_RANDOM_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "weights/sam_config.h"
#include "weights/tensor.h"

namespace persam {

// Float tensors of `dtype` (f32, f16 or bf16); the same seed gives the same bytes.
TensorMap MakeRandomSamTensors(const SamConfig& config, uint64_t seed, DType dtype = DType::kF32);

// Writes them as safetensors with ConfigToMetadata(config).
void WriteRandomSamCheckpoint(const std::string& path, const SamConfig& config, uint64_t seed,
                              DType dtype = DType::kF32);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_RANDOM_CHECKPOINT_H_
