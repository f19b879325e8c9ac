#include "engine/linear.h"

#include <utility>

namespace persam {

LinearWeights LinearWeights::Pack(const float* w, int n, int k, int ldw, Precision precision) {
  LinearWeights l;
  l.precision_ = precision;
  l.n_ = n;
  l.k_ = k;
  switch (precision) {
    case Precision::kF32: l.f32_ = kernels::PackedWeights::Pack(w, n, k, ldw); break;
    case Precision::kBF16: l.bf16_ = kernels::PackedWeightsBF16::Pack(w, n, k, ldw); break;
    case Precision::kInt8: l.i8_ = kernels::PackedWeightsI8::Pack(w, n, k, ldw); break;
  }
  return l;
}

LinearWeights LinearWeights::PackBF16(const uint16_t* w, int n, int k, int ldw) {
  LinearWeights l;
  l.precision_ = Precision::kBF16;
  l.n_ = n;
  l.k_ = k;
  l.bf16_ = kernels::PackedWeightsBF16::PackBF16(w, n, k, ldw);
  return l;
}

LinearWeights LinearWeights::FromPackedF32(kernels::PackedWeights packed) {
  LinearWeights l;
  l.precision_ = Precision::kF32;
  l.n_ = packed.n();
  l.k_ = packed.k();
  l.f32_ = std::move(packed);
  return l;
}

LinearWeights LinearWeights::PackInt8(const int8_t* q, const float* scales, int n, int k, int ldq) {
  LinearWeights l;
  l.precision_ = Precision::kInt8;
  l.n_ = n;
  l.k_ = k;
  l.i8_ = kernels::PackedWeightsI8::PackQuantized(q, scales, n, k, ldq);
  return l;
}

void LinearWeights::Apply(int m, const float* a, int lda, const kernels::GemmEpilogue& epilogue,
                          float* c, int ldc) const {
  switch (precision_) {
    case Precision::kF32: kernels::Gemm(m, a, lda, f32_, epilogue, c, ldc); break;
    case Precision::kBF16: kernels::GemmBF16(m, a, lda, bf16_, epilogue, c, ldc); break;
    case Precision::kInt8: kernels::GemmI8(m, a, lda, i8_, epilogue, c, ldc); break;
  }
}

size_t LinearWeights::Bytes() const {
  const size_t elements = size_t(n_) * k_;
  switch (precision_) {
    case Precision::kF32: return elements * 4;
    case Precision::kBF16: return elements * 2;
    case Precision::kInt8: return elements + size_t(n_) * 8;  // scales + column sums
  }
  return 0;
}

}  // namespace persam
