// Reduced-precision weight GEMMs with the same contract as Gemm (kernels/
// gemm.h): C[m, n] = act(A[m, k] * W^T + bias) + residual, A and C float32,
// W [n, k] (PyTorch Linear layout) packed once at load.
//
// GemmBF16: W and A rounded to bfloat16 (round to nearest even; A while it is
//   packed), products accumulated in float32. Native vdpbf16ps on CPUs with
//   AVX512_BF16 (Cooper Lake, Sapphire Rapids, Zen4), a widening float32 path
//   elsewhere (same rounding of the operands, so both give the same result up
//   to summation order). Error vs float32 math: <= 2^-8 * sum |a w| (operand
//   rounding) + k * 2^-24 * sum |a w| (accumulation).
// GemmI8: W quantised symmetrically per output channel (s8 in [-127, 127],
//   scale max|w_j| / 127); A quantised per row at each call (dynamic,
//   asymmetric u8 with a zero point; the range always contains 0); exact int32
//   dot products (vpdpbusd on AVX512_VNNI, vpmaddwd on int16 pairs on AVX2,
//   sdot / svdot on Arm, portable widening elsewhere: the same integers), then
//   dequantised in float32. Error: |a - a_q| <= s_a / 2, |w - w_q| <= s_w / 2
//   per element, so |C - C_f32| <= sum_k (|w| s_a + |a| s_w + s_a s_w / 2) / 2.
//   NaN / Inf in an A row are not propagated (the row's scale falls back to
//   1 and they quantise to the ends of the range): int8 is for finite data.
// Both pack all of A once per call (bf16 pairs / u8 quads, 2 or 1 bytes per
// element) into a buffer owned by the calling thread and reused by its later
// calls (it grows to the largest m * k seen).
// Threads: OpenMP over the M/N blocks as Gemm; call outside parallel regions.
#ifndef PERSAM_KERNELS_GEMM_LOWP_H_
#define PERSAM_KERNELS_GEMM_LOWP_H_

#include <cstdint>
#include <memory>

#include "kernels/gemm.h"

namespace persam::kernels {

// Weights as bfloat16 panels (opaque layout: 32-column panels of k-pairs).
class PackedWeightsBF16 {
 public:
  PackedWeightsBF16() = default;
  static PackedWeightsBF16 Pack(const float* w, int n, int k, int ldw);
  // From weights already in bfloat16 (bits, row stride ldw): a bf16
  // checkpoint packs without any rounding; same result as Pack of their
  // float32 values.
  static PackedWeightsBF16 PackBF16(const uint16_t* w, int n, int k, int ldw);
  int n() const { return n_; }
  int k() const { return k_; }
  const uint16_t* panels() const { return panels_.get(); }
  bool empty() const { return panels_ == nullptr; }

 private:
  int n_ = 0, k_ = 0;
  std::shared_ptr<uint16_t> panels_;
};

// Weights as int8 panels (32-column panels of k-quads) with per-output-channel
// float scales and the column sums of the quantised weights (zero-point
// correction of the activations).
class PackedWeightsI8 {
 public:
  PackedWeightsI8() = default;
  static PackedWeightsI8 Pack(const float* w, int n, int k, int ldw);
  // From weights already quantised (an int8 checkpoint): q [n, k] (row
  // stride ldq, values in [-127, 127]) with per-row scales [n]; no
  // re-quantisation.
  static PackedWeightsI8 PackQuantized(const int8_t* q, const float* scales, int n, int k, int ldq);
  int n() const { return n_; }
  int k() const { return k_; }
  const int8_t* panels() const { return panels_.get(); }
  const float* scales() const { return scales_.get(); }        // [n]
  const int32_t* col_sums() const { return col_sums_.get(); }  // [n]
  bool empty() const { return panels_ == nullptr; }

 private:
  int n_ = 0, k_ = 0;
  std::shared_ptr<int8_t> panels_;
  std::shared_ptr<float> scales_;
  std::shared_ptr<int32_t> col_sums_;
};

void GemmBF16(int m, const float* a, int lda, const PackedWeightsBF16& b,
              const GemmEpilogue& epilogue, float* c, int ldc);

void GemmI8(int m, const float* a, int lda, const PackedWeightsI8& b,
            const GemmEpilogue& epilogue, float* c, int ldc);

// Which code path GemmBF16 / GemmI8 take on this CPU, e.g.
// "AVX3_DL+vdpbf16ps", "AVX2+vpmaddwd" or "SSE4 (widening)".
const char* GemmBF16PathName();
const char* GemmI8PathName();

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_GEMM_LOWP_H_
