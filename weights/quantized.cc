#include "weights/quantized.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "base/error.h"

namespace persam {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Scales shaped as a non-empty proper prefix of the tensor's shape.
bool IsShapePrefix(const std::vector<int64_t>& prefix, const std::vector<int64_t>& shape) {
  return !prefix.empty() && prefix.size() < shape.size() &&
         std::equal(prefix.begin(), prefix.end(), shape.begin());
}

template <typename T>
Tensor OwnedTensor(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  const size_t bytes = values.size() * sizeof(T);
  std::shared_ptr<uint8_t> buffer(new uint8_t[bytes > 0 ? bytes : 1], std::default_delete<uint8_t[]>());
  if (bytes > 0) std::memcpy(buffer.get(), values.data(), bytes);
  t.data = buffer.get();
  t.owner = buffer;
  return t;
}

}  // namespace

bool IsQuantizedInt8(const TensorMap& tensors, const std::string& name) {
  const auto it = tensors.find(name);
  if (it == tensors.end() || it->second.dtype != DType::kI8) return false;
  const auto scale = tensors.find(name + kInt8ScaleSuffix);
  if (scale == tensors.end()) return false;
  const Tensor& t = it->second;
  const Tensor& s = scale->second;
  if (!IsShapePrefix(s.shape, t.shape) || s.dtype != DType::kF32) {
    throw Error("int8 tensor '" + name + "' " + ShapeToString(t.shape) + ": scale tensor '" + name +
                kInt8ScaleSuffix + "' is " + DTypeName(s.dtype) + " " + ShapeToString(s.shape) +
                ", expected float32 with leading dimensions of the tensor's shape");
  }
  return true;
}

std::vector<float> DequantizedFloat32(const TensorMap& tensors, const std::string& name) {
  const auto it = tensors.find(name);
  if (it == tensors.end()) throw Error("missing tensor '" + name + "'");
  if (!IsQuantizedInt8(tensors, name)) return it->second.ToFloat32();
  const Tensor& t = it->second;
  const Tensor& s = tensors.at(name + kInt8ScaleSuffix);
  const int64_t rows = s.NumElements();
  const int64_t cols = rows > 0 ? t.NumElements() / rows : 0;
  std::vector<float> out(static_cast<size_t>(t.NumElements()));
  const int8_t* q = reinterpret_cast<const int8_t*>(t.data);
  for (int64_t r = 0; r < rows; ++r) {
    float scale;
    std::memcpy(&scale, s.data + r * 4, 4);  // the map may not be float-aligned
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = float(q[r * cols + c]) * scale;
  }
  return out;
}

std::pair<Tensor, Tensor> QuantizeInt8PerRow(const Tensor& t, const std::string& name, int scale_dims) {
  if (scale_dims < 1 || t.shape.size() <= size_t(scale_dims) || t.NumElements() == 0) {
    throw Error("cannot quantise tensor '" + name + "' of shape " + ShapeToString(t.shape) + " to int8");
  }
  if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16 && t.dtype != DType::kF64) {
    throw Error("cannot quantise tensor '" + name + "' of type " + DTypeName(t.dtype) + " to int8");
  }
  const std::vector<float> w = t.ToFloat32();
  const std::vector<int64_t> scale_shape(t.shape.begin(), t.shape.begin() + scale_dims);
  int64_t rows = 1;
  for (int64_t d : scale_shape) rows *= d;
  const int64_t cols = t.NumElements() / rows;
  std::vector<int8_t> q(w.size());
  std::vector<float> scales(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w.data() + r * cols;
    float amax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) amax = std::fmax(amax, std::fabs(row[c]));
    if (!std::isfinite(amax)) throw Error("cannot quantise tensor '" + name + "': row " + std::to_string(r) +
                                          " holds a non-finite value");
    // Same arithmetic as kernels::PackedWeightsI8::Pack.
    const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
    const float inv = 1.0f / scale;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = std::nearbyint(row[c] * inv);
      q[r * cols + c] = static_cast<int8_t>(std::fmin(std::fmax(v, -127.0f), 127.0f));
    }
    scales[r] = scale;
  }
  return {OwnedTensor(DType::kI8, t.shape, q), OwnedTensor(DType::kF32, scale_shape, scales)};
}

TensorMap DequantizeInt8Tensors(const TensorMap& tensors, const std::string& keep_prefix) {
  TensorMap out;
  for (const auto& [name, t] : tensors) {
    if (!keep_prefix.empty() && name.rfind(keep_prefix, 0) == 0) {
      out[name] = t;
      continue;
    }
    if (EndsWith(name, kInt8ScaleSuffix) &&
        IsQuantizedInt8(tensors, name.substr(0, name.size() - (sizeof(kInt8ScaleSuffix) - 1)))) {
      continue;
    }
    if (IsQuantizedInt8(tensors, name)) {
      const std::vector<float> values = DequantizedFloat32(tensors, name);
      out[name] = Tensor::FromFloat32(t.shape, values.data());
    } else {
      out[name] = t;
    }
  }
  return out;
}

int CountQuantizedInt8(const TensorMap& tensors) {
  int n = 0;
  for (const auto& entry : tensors) n += entry.second.dtype == DType::kI8 && IsQuantizedInt8(tensors, entry.first);
  return n;
}

}  // namespace persam
