// Changing the element type of float tensors (checkpoint conversion).
#ifndef PERSAM_WEIGHTS_CAST_H_
#define PERSAM_WEIGHTS_CAST_H_

#include <cstdint>

#include "weights/tensor.h"

namespace persam {

bool IsFloatDType(DType dtype);  // f32, f16, bf16, f64

// The dtype a tensor is saved as when float tensors are converted to `target`:
// float tensors take `target`, integer and bool tensors keep theirs.
DType CastDType(DType from, DType target);

// Writes `count` elements of `from` at `src` as `to` at `dst`. Narrowing rounds
// to nearest even (f16 overflows to inf, NaN stays NaN); widening is exact.
// Both types must be float types, or equal.
void CastElements(const uint8_t* src, DType from, uint8_t* dst, DType to, size_t count);

// A new owned tensor of CastDType(t.dtype, target); `t` itself (shared, no copy)
// when the type does not change.
Tensor CastTensor(const Tensor& t, DType target);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_CAST_H_
