#include "weights/random_checkpoint.h"

#include <cmath>
#include <memory>

#include "weights/cast.h"
#include "weights/checkpoint.h"
#include "base/error.h"

namespace persam {
namespace {

// SplitMix64: fast, seedable, and good enough for test weights.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float Uniform() { return static_cast<float>(Next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }  // [-1, 1)
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint64_t NameHash(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: each tensor its own stream
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

}  // namespace

TensorMap MakeRandomSamTensors(const SamConfig& config, uint64_t seed, DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16) {
    throw Error(std::string("random checkpoint: dtype ") + DTypeName(dtype) + " is not f32, f16 or bf16");
  }
  TensorMap tensors;
  for (const TensorSpec& spec : RequiredTensors(config)) {
    const std::string& name = spec.name;
    Rng rng{seed ^ NameHash(name)};
    int64_t numel = 1, fan_in = 1;
    for (int64_t d : spec.shape) numel *= d;
    for (size_t i = 1; i < spec.shape.size(); ++i) fan_in *= spec.shape[i];
    std::vector<float> values(static_cast<size_t>(numel));
    const bool is_norm_scale = spec.shape.size() == 1 && EndsWith(name, ".weight");  // LN / BN gamma
    float center = 0.0f, scale;
    if (EndsWith(name, "running_var")) {
      center = 1.0f;
      scale = 0.1f;
    } else if (is_norm_scale) {
      center = 1.0f;
      scale = 0.1f;
    } else if (spec.shape.size() == 1) {  // biases, running means
      scale = 0.02f;
    } else {
      scale = 1.0f / std::sqrt(static_cast<float>(fan_in));
    }
    for (float& v : values) v = center + scale * rng.Uniform();
    Tensor t = Tensor::FromFloat32(spec.shape, values.data());
    tensors[name] = dtype == DType::kF32 ? std::move(t) : CastTensor(t, dtype);
  }
  return tensors;
}

void WriteRandomSamCheckpoint(const std::string& path, const SamConfig& config, uint64_t seed, DType dtype) {
  WriteSafetensors(path, MakeRandomSamTensors(config, seed, dtype), ConfigToMetadata(config));
}

}  // namespace persam
