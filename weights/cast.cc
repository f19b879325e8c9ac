#include "weights/cast.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "base/error.h"

namespace persam {
namespace {

float LoadFloat(const uint8_t* p, DType dtype) {
  switch (dtype) {
    case DType::kF32: { float f; std::memcpy(&f, p, 4); return f; }
    case DType::kF16: { uint16_t h; std::memcpy(&h, p, 2); return HalfToFloat(h); }
    case DType::kBF16: { uint16_t h; std::memcpy(&h, p, 2); return BF16ToFloat(h); }
    default: return 0.0f;
  }
}

}  // namespace

bool IsFloatDType(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16 || dtype == DType::kF64;
}

DType CastDType(DType from, DType target) { return IsFloatDType(from) ? target : from; }

void CastElements(const uint8_t* src, DType from, uint8_t* dst, DType to, size_t count) {
  if (from == to) {
    std::memcpy(dst, src, count * DTypeSize(from));
    return;
  }
  if (!IsFloatDType(from) || !IsFloatDType(to)) {
    throw Error(std::string("cannot cast ") + DTypeName(from) + " to " + DTypeName(to));
  }
  const size_t in = DTypeSize(from), out = DTypeSize(to);
  for (size_t i = 0; i < count; ++i, src += in, dst += out) {
    if (to == DType::kF64) {
      const double d = LoadFloat(src, from);  // f32/f16/bf16 widen exactly
      std::memcpy(dst, &d, 8);
      continue;
    }
    float f;
    if (from == DType::kF64) {
      double d;
      std::memcpy(&d, src, 8);
      f = static_cast<float>(d);
      if (to != DType::kF32 && static_cast<double>(f) != d && std::isfinite(d)) {
        // f64 -> f16/bf16 via f32 would round twice. Round to odd into f32
        // instead (truncate, then set the last bit as a sticky bit): with 13+
        // spare bits, the second rounding to nearest even is then exact.
        if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        bits |= 1u;
        std::memcpy(&f, &bits, 4);
      }
    } else {
      f = LoadFloat(src, from);
    }
    switch (to) {
      case DType::kF32: std::memcpy(dst, &f, 4); break;
      case DType::kF16: { const uint16_t h = FloatToHalf(f); std::memcpy(dst, &h, 2); break; }
      case DType::kBF16: { const uint16_t h = FloatToBF16(f); std::memcpy(dst, &h, 2); break; }
      default: break;
    }
  }
}

Tensor CastTensor(const Tensor& t, DType target) {
  const DType to = CastDType(t.dtype, target);
  if (to == t.dtype) return t;
  Tensor out;
  out.dtype = to;
  out.shape = t.shape;
  const size_t bytes = out.NumBytes();
  std::shared_ptr<uint8_t> buffer(new uint8_t[bytes > 0 ? bytes : 1], std::default_delete<uint8_t[]>());
  CastElements(t.data, t.dtype, buffer.get(), to, static_cast<size_t>(t.NumElements()));
  out.data = buffer.get();
  out.owner = buffer;
  return out;
}

}  // namespace persam
