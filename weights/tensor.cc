#include "weights/tensor.h"

#include <cstdint>
#include <cstring>

#include "base/error.h"

namespace persam {

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: case DType::kI16: return 2;
    case DType::kI8: case DType::kU8: case DType::kBool: return 1;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kF64: return "float64";
    case DType::kI64: return "int64";
    case DType::kI32: return "int32";
    case DType::kI16: return "int16";
    case DType::kI8: return "int8";
    case DType::kU8: return "uint8";
    case DType::kBool: return "bool";
  }
  return "?";
}

const char* DTypeSafetensorsName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF64: return "F64";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kI16: return "I16";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
    case DType::kBool: return "BOOL";
  }
  return "?";
}

int64_t Tensor::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t Tensor::NumBytes() const { return static_cast<size_t>(NumElements()) * DTypeSize(dtype); }

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

const Tensor& FindTensor(const TensorMap& tensors, const std::string& name,
                         const std::vector<int64_t>& shape, const std::string& what) {
  const std::string prefix = what.empty() ? "" : what + ": ";
  const auto it = tensors.find(name);
  if (it == tensors.end()) throw Error(prefix + "missing tensor '" + name + "'");
  if (!shape.empty() && it->second.shape != shape) {
    throw Error(prefix + "tensor '" + name + "' has shape " + ShapeToString(it->second.shape) +
                ", expected " + ShapeToString(shape));
  }
  return it->second;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mantissa & 0x3FFu) << 13;
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | mantissa << 13;
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {  // inf or nan
    return sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0u);
  }
  if (abs >= 0x477FF000u) return sign | 0x7C00u;  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {                         // subnormal or zero in half
    if (abs < 0x33000000u) return sign;            // < 2^-25 rounds to 0
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7FFFFFu) | 0x800000u;
    // value = mantissa * 2^(exponent - 150) and the half subnormal unit is
    // 2^-24, so the half mantissa is mantissa >> (126 - exponent).
    const int shift = 126 - static_cast<int>(exponent);
    const uint32_t halfway = 1u << (shift - 1);
    uint32_t result = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    if (rest > halfway || (rest == halfway && (result & 1u))) ++result;
    return sign | static_cast<uint16_t>(result);
  }
  // normal: rebias exponent and round mantissa from 23 to 10 bits (RNE)
  uint32_t result = ((abs >> 23) - 127 + 15) << 10 | ((abs >> 13) & 0x3FFu);
  const uint32_t rest = abs & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (result & 1u))) ++result;  // may carry into exponent: correct
  return sign | static_cast<uint16_t>(result);
}

float BF16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet nan
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

namespace {

// out[i] = convert(element i) for the T elements at `data`; the
// element read goes through memcpy (the mapped bytes may be unaligned).
template <class T, class Convert>
void ConvertElements(const uint8_t* data, int64_t n, float* out, Convert convert) {
  for (int64_t i = 0; i < n; ++i) {
    T x;
    std::memcpy(&x, data + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
    out[i] = convert(x);
  }
}

}  // namespace

std::vector<float> Tensor::ToFloat32() const {
  const size_t n = static_cast<size_t>(NumElements());
  // float32 (every official checkpoint): one copy, no zero fill first (a
  // model load converts ~40-400 MB this way).
  if (dtype == DType::kF32 && reinterpret_cast<uintptr_t>(data) % alignof(float) == 0) {
    const float* f = reinterpret_cast<const float*>(data);
    return std::vector<float>(f, f + n);
  }
  std::vector<float> out(n);
  const int64_t count = static_cast<int64_t>(n);
  // The dtype is chosen once per tensor, not per element.
  switch (dtype) {
    case DType::kF32: if (n > 0) std::memcpy(out.data(), data, n * sizeof(float)); break;
    case DType::kF16: ConvertElements<uint16_t>(data, count, out.data(), HalfToFloat); break;
    case DType::kBF16: ConvertElements<uint16_t>(data, count, out.data(), BF16ToFloat); break;
    case DType::kF64: ConvertElements<double>(data, count, out.data(), [](double d) { return static_cast<float>(d); }); break;
    case DType::kI64: ConvertElements<int64_t>(data, count, out.data(), [](int64_t x) { return static_cast<float>(x); }); break;
    case DType::kI32: ConvertElements<int32_t>(data, count, out.data(), [](int32_t x) { return static_cast<float>(x); }); break;
    case DType::kI16: ConvertElements<int16_t>(data, count, out.data(), [](int16_t x) { return static_cast<float>(x); }); break;
    case DType::kI8: ConvertElements<int8_t>(data, count, out.data(), [](int8_t x) { return static_cast<float>(x); }); break;
    case DType::kU8: case DType::kBool: ConvertElements<uint8_t>(data, count, out.data(), [](uint8_t x) { return static_cast<float>(x); }); break;
  }
  return out;
}

const float* Tensor::Float32Values(std::vector<float>* scratch) const {
  if (dtype == DType::kF32 && reinterpret_cast<uintptr_t>(data) % alignof(float) == 0) {
    return reinterpret_cast<const float*>(data);
  }
  *scratch = ToFloat32();
  return scratch->data();
}

Tensor Tensor::FromFloat32(std::vector<int64_t> shape, const float* values) {
  Tensor t;
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  const size_t bytes = t.NumBytes();
  std::shared_ptr<uint8_t> buffer(new uint8_t[bytes > 0 ? bytes : 1], std::default_delete<uint8_t[]>());
  if (bytes > 0) std::memcpy(buffer.get(), values, bytes);
  t.data = buffer.get();
  t.owner = buffer;
  return t;
}

}  // namespace persam
