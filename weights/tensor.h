// A named, typed, C-ordered host tensor as read from a checkpoint or .npy file.
// The bytes are either owned (a heap buffer) or borrowed from a memory map;
// `owner` keeps whichever alive.
#ifndef PERSAM_WEIGHTS_TENSOR_H_
#define PERSAM_WEIGHTS_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace persam {

enum class DType : uint8_t { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

size_t DTypeSize(DType dtype);
// NumPy/PyTorch-style names: "float32", "float16", "bfloat16", "float64",
// "int64", "int32", "int16", "int8", "uint8", "bool".
const char* DTypeName(DType dtype);
// Safetensors names: "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL".
const char* DTypeSafetensorsName(DType dtype);

struct Tensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;      // NumElements() * DTypeSize(dtype) bytes, C order
  std::shared_ptr<const void> owner;  // keeps `data` alive (heap buffer or mmap)

  int64_t NumElements() const;
  size_t NumBytes() const;
  // Values widened to float32 (f16/bf16 exactly, f64 rounded, integers converted).
  std::vector<float> ToFloat32() const;
  // The same values without a copy where they already are float32 (aligned):
  // a pointer into this tensor's bytes; otherwise ToFloat32 into *scratch and
  // scratch->data(). Loaders that pack a weight at once read it this way
  // (a copy of every weight first cost a MobileSAM load ~20 MB of page
  // faults).
  const float* Float32Values(std::vector<float>* scratch) const;
  // Allocates an owned float32 tensor.
  static Tensor FromFloat32(std::vector<int64_t> shape, const float* values);
};

std::string ShapeToString(const std::vector<int64_t>& shape);  // "[3, 4]"

// Ordered by name; the order of a state dict is not significant to us.
using TensorMap = std::map<std::string, Tensor>;

// The tensor `name`, checked: throws persam::Error "<what>: missing tensor
// 'name'" or "<what>: tensor 'name' has shape [..], expected [..]" (what may
// be empty; an empty `shape` accepts any). The one lookup every model loader
// uses, so the messages name the tensor and both shapes everywhere.
const Tensor& FindTensor(const TensorMap& tensors, const std::string& name,
                         const std::vector<int64_t>& shape = {}, const std::string& what = "");

// IEEE half / bfloat16 conversions; narrowing rounds to nearest even.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
float BF16ToFloat(uint16_t b);
uint16_t FloatToBF16(float f);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_TENSOR_H_
