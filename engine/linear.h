// A Linear (or convolution-as-GEMM) weight packed for one compute precision:
// the float32, bf16 or int8 GEMM of kernels/, chosen once at load, so the
// model code calls one Apply whatever the precision.
#ifndef PERSAM_ENGINE_LINEAR_H_
#define PERSAM_ENGINE_LINEAR_H_

#include <cstddef>

#include "engine/precision.h"
#include "kernels/gemm.h"
#include "kernels/gemm_lowp.h"

namespace persam {

class LinearWeights {
 public:
  LinearWeights() = default;
  // w: [n, k] float32 with row stride ldw (PyTorch's Linear layout).
  static LinearWeights Pack(const float* w, int n, int k, int ldw, Precision precision);
  // Stored weights packed as they are (no rounding or re-quantisation): bf16
  // bits for Precision::kBF16, int8 with per-row scales for kInt8.
  static LinearWeights PackBF16(const uint16_t* w, int n, int k, int ldw);
  // Float32 weights already packed (PackedWeights::FromPanels).
  static LinearWeights FromPackedF32(kernels::PackedWeights packed);
  static LinearWeights PackInt8(const int8_t* q, const float* scales, int n, int k, int ldq);

  // C[m, n] = act(A[m, k] W^T + bias) + residual, as kernels::Gemm.
  void Apply(int m, const float* a, int lda, const kernels::GemmEpilogue& epilogue, float* c,
             int ldc) const;

  Precision precision() const { return precision_; }
  int n() const { return n_; }
  int k() const { return k_; }
  // Bytes of the packed weights (4, 2 or 1 per element, plus int8 scales).
  size_t Bytes() const;

 private:
  Precision precision_ = Precision::kF32;
  int n_ = 0, k_ = 0;
  kernels::PackedWeights f32_;
  kernels::PackedWeightsBF16 bf16_;
  kernels::PackedWeightsI8 i8_;
};

}  // namespace persam

#endif  // PERSAM_ENGINE_LINEAR_H_
