#include "engine/packed_weights_file.h"

#include <memory>
#include <utility>

#include "base/error.h"
#include "engine/sam_model.h"
#include "kernels/gemm_pack.h"

namespace persam {
namespace {

// PackableWeights' list while it runs a load on this thread (the encoders'
// constructors call FindPackedF32 on the loading thread).
thread_local std::vector<PackableWeight>* recording = nullptr;

bool EndsWith(const std::string& s, const char* suffix) {
  const std::string tail(suffix);
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

int64_t Panels(int64_t rows) { return (rows + int64_t(kernels::kGemmNR) - 1) / int64_t(kernels::kGemmNR); }

}  // namespace

std::string PackedLayoutTag() {
  return "f32-panels-v" + std::to_string(kPackedLayoutVersion) + " nr=" + std::to_string(kernels::kGemmNR) +
         " k-major";
}

bool IsPackedTensorName(const std::string& name) { return EndsWith(name, kPackedF32Suffix); }

size_t DropPackedTensors(TensorMap* tensors) {
  size_t dropped = 0;
  for (auto it = tensors->begin(); it != tensors->end();) {
    if (IsPackedTensorName(it->first)) {
      it = tensors->erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
}

TensorMap UsablePackedTensors(const TensorMap& tensors, const std::map<std::string, std::string>& metadata,
                              std::string* layout_note) {
  bool any = false;
  for (const auto& entry : tensors) any = any || IsPackedTensorName(entry.first);
  const auto tag = metadata.find(kPackedLayoutKey);
  const bool ours = tag != metadata.end() && tag->second == PackedLayoutTag();
  if (layout_note != nullptr) {
    *layout_note = !any    ? "no packed weights"
                   : ours ? "packed weights, layout '" + PackedLayoutTag() + "' (used as they are)"
                          : "packed weights in layout '" + (tag != metadata.end() ? tag->second : "(none)") +
                                "', not this build's '" + PackedLayoutTag() +
                                "': ignored, the plain tensors are packed at load";
  }
  TensorMap usable = tensors;
  if (any && !ours) DropPackedTensors(&usable);
  return usable;
}

std::optional<LinearWeights> FindPackedF32(const TensorMap& tensors, const std::string& name, int64_t rows,
                                           int64_t k, int64_t row0, int64_t n) {
  std::optional<kernels::PackedWeights> panels = FindPackedPanels(tensors, name, rows, k, row0, n);
  if (!panels) return std::nullopt;
  return LinearWeights::FromPackedF32(*std::move(panels));
}

std::optional<kernels::PackedWeights> FindPackedPanels(const TensorMap& tensors, const std::string& name,
                                                       int64_t rows, int64_t k, int64_t row0, int64_t n) {
  if (recording != nullptr) {
    bool seen = false;
    for (const PackableWeight& w : *recording) seen = seen || w.name == name;
    if (!seen) recording->push_back(PackableWeight{name, rows, k});
  }
  const std::string packed_name = name + kPackedF32Suffix;
  const auto it = tensors.find(packed_name);
  if (it == tensors.end()) return std::nullopt;
  const Tensor& t = it->second;
  constexpr int64_t nr = int64_t(kernels::kGemmNR);
  const std::vector<int64_t> expected = {Panels(rows), k, nr};
  if (t.dtype != DType::kF32 || t.shape != expected) {
    throw Error("tensor '" + packed_name + "' is " + DTypeName(t.dtype) + " " + ShapeToString(t.shape) +
                ", expected F32 " + ShapeToString(expected) + " (the packed panels of '" + name +
                "'); convert the plain file again with `persam convert --packed`");
  }
  if (t.data == nullptr || !t.owner) throw Error("tensor '" + packed_name + "' has no data");
  // Whole panels only: a partial last panel of a row range that does not end
  // the tensor would hold the next rows where packing puts zeros.
  if (row0 < 0 || n <= 0 || row0 % nr != 0 || row0 + n > rows || (n % nr != 0 && row0 + n != rows)) {
    return std::nullopt;
  }
  const float* panels = reinterpret_cast<const float*>(t.data) + size_t(row0 / nr) * size_t(k) * size_t(nr);
  return kernels::PackedWeights::FromPanels(t.owner, panels, static_cast<int>(n), static_cast<int>(k));
}

std::vector<PackableWeight> PackableWeights(const TensorMap& tensors, const std::string& source) {
  TensorMap plain = tensors;
  DropPackedTensors(&plain);
  std::vector<PackableWeight> weights;
  LoadOptions options;
  options.precision = Precision::kF32;
  options.identity = false;
  options.allow_unusual_architecture = true;
  recording = &weights;
  try {
    SamModel::FromTensors(plain, source, options);
  } catch (...) {
    recording = nullptr;
    throw;
  }
  recording = nullptr;
  return weights;
}

void AddPackedTensors(const std::vector<PackableWeight>& weights, TensorMap* tensors) {
  for (const PackableWeight& w : weights) {
    const Tensor& plain = FindTensor(*tensors, w.name, {}, "packing");
    if (w.rows <= 0 || w.k <= 0 || plain.NumElements() != w.rows * w.k) {
      throw Error("packing: tensor '" + w.name + "' " + ShapeToString(plain.shape) + " is not [" +
                  std::to_string(w.rows) + ", " + std::to_string(w.k) + "]");
    }
    std::vector<float> scratch;
    const float* values = plain.Float32Values(&scratch);
    auto panels = std::make_shared<std::vector<float>>(kernels::PackedPanelFloats(size_t(w.rows), size_t(w.k)));
    kernels::PackPanelsF32(values, size_t(w.rows), size_t(w.k), size_t(w.k), 1.0f, panels->data());
    Tensor packed;
    packed.dtype = DType::kF32;
    packed.shape = {Panels(w.rows), w.k, int64_t(kernels::kGemmNR)};
    packed.data = reinterpret_cast<const uint8_t*>(panels->data());
    packed.owner = panels;
    (*tensors)[w.name + kPackedF32Suffix] = std::move(packed);
  }
}

}  // namespace persam
