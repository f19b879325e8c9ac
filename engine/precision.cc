#include "engine/precision.h"

#include "weights/cast.h"
#include "base/error.h"
#include "weights/quantized.h"

namespace persam {

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kF32: return "f32";
    case Precision::kBF16: return "bf16";
    case Precision::kInt8: return "int8";
  }
  return "?";
}

Precision ParsePrecision(const std::string& text, const std::string& what) {
  if (text == "f32" || text == "float32") return Precision::kF32;
  if (text == "bf16" || text == "bfloat16") return Precision::kBF16;
  if (text == "int8" || text == "i8") return Precision::kInt8;
  throw Error(what + " expects f32, bf16 or int8, got '" + text + "'");
}

Precision StoredPrecision(const TensorMap& tensors) {
  if (CountQuantizedInt8(tensors) > 0) return Precision::kInt8;
  // The encoder's GEMM weights decide (a bf16 decoder alone does not make a
  // bf16 encoder): most image_encoder.*.weight matrices (rank >= 2) bf16.
  size_t bf16 = 0, floats = 0;
  for (const auto& [name, t] : tensors) {
    if (name.rfind("image_encoder.", 0) != 0 || t.shape.size() < 2) continue;
    if (name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0) continue;
    if (t.dtype == DType::kBF16) ++bf16;
    if (t.dtype == DType::kBF16 || t.dtype == DType::kF16 || t.dtype == DType::kF32 || t.dtype == DType::kF64) {
      ++floats;
    }
  }
  return floats > 0 && 2 * bf16 > floats ? Precision::kBF16 : Precision::kF32;
}

Precision NeckPrecision(Precision precision) {
  return precision == Precision::kInt8 ? Precision::kBF16 : precision;
}

Precision AttentionPrecision(Precision precision) {
  return precision == Precision::kF32 ? Precision::kF32 : Precision::kBF16;
}

std::vector<std::string> NeckWeights(const SamConfig& config) {
  if (config.encoder != EncoderKind::kVit) return {};
  return {"image_encoder.neck.0.weight", "image_encoder.neck.2.weight"};
}

std::string PositionEmbeddingName(const SamConfig& config) {
  return config.encoder == EncoderKind::kVit ? "image_encoder.pos_embed" : "";
}

std::vector<std::string> Int8Weights(const SamConfig& config) {
  std::vector<std::string> names;
  if (config.encoder != EncoderKind::kVit) return names;
  const std::string p = "image_encoder.";
  names.push_back(p + "patch_embed.proj.weight");
  for (int i = 0; i < config.vit.depth; ++i) {
    const std::string b = p + "blocks." + std::to_string(i) + ".";
    for (const char* w : {"attn.qkv.weight", "attn.proj.weight", "mlp.lin1.weight", "mlp.lin2.weight"}) {
      names.push_back(b + w);
    }
  }
  return names;
}

// float16 for the rest: its rounding (2^-11 relative) is far below the int8
// error, and it keeps ViT-B under 100 MB (the decoder alone is 16 MB in f32).
int QuantizeTensorsForInt8(const SamConfig& config, TensorMap* tensors) {
  int quantised = 0;
  for (const std::string& name : Int8Weights(config)) {
    auto it = tensors->find(name);
    if (it == tensors->end()) continue;
    if (IsQuantizedInt8(*tensors, name)) continue;  // already int8: kept as is
    auto [q, scale] = QuantizeInt8PerRow(it->second, name);
    it->second = std::move(q);
    (*tensors)[name + kInt8ScaleSuffix] = std::move(scale);
    ++quantised;
  }
  const std::string pos = PositionEmbeddingName(config);
  if (auto it = tensors->find(pos);
      it != tensors->end() && IsFloatDType(it->second.dtype) && it->second.shape.size() >= 2) {
    const int per_position = static_cast<int>(it->second.shape.size()) - 1;  // [1, H, W] scales
    auto [q, scale] = QuantizeInt8PerRow(it->second, pos, per_position);
    it->second = std::move(q);
    (*tensors)[pos + kInt8ScaleSuffix] = std::move(scale);
    ++quantised;
  }
  for (const std::string& name : NeckWeights(config)) {
    auto it = tensors->find(name);
    if (it != tensors->end() && IsFloatDType(it->second.dtype)) it->second = CastTensor(it->second, DType::kBF16);
  }
  const size_t suffix = sizeof(kInt8ScaleSuffix) - 1;
  for (auto& [name, t] : *tensors) {
    const bool scale = t.dtype == DType::kF32 && name.size() > suffix &&
                       name.compare(name.size() - suffix, suffix, kInt8ScaleSuffix) == 0 &&
                       IsQuantizedInt8(*tensors, name.substr(0, name.size() - suffix));
    if (IsFloatDType(t.dtype) && t.dtype != DType::kBF16 && !scale) t = CastTensor(t, DType::kF16);
  }
  return quantised;
}

}  // namespace persam
