// Packed-panel layout shared by the float32 GEMM and its callers: B [n, k]
// stored as ceil(n / kGemmNR) panels of k x kGemmNR floats (k-major), columns
// past n zero. Target-independent, so weights packed once at load serve
// every Highway target.
#ifndef PERSAM_KERNELS_GEMM_PACK_H_
#define PERSAM_KERNELS_GEMM_PACK_H_

#include <cstddef>

namespace persam::kernels {

// Panel width in floats: two AVX-512 vectors (the widest register tile);
// narrower targets walk a panel in 16- or 8-column sub-panels.
inline constexpr size_t kGemmNR = 32;

inline size_t PackedPanelFloats(size_t n, size_t k) {
  return (n + kGemmNR - 1) / kGemmNR * kGemmNR * k;
}

// out[PackedPanelFloats(n, k)] = panels of scale * w (w: [n, k], row stride
// ldw). Parallel over panels when called outside a parallel region.
void PackPanelsF32(const float* w, size_t n, size_t k, size_t ldw, float scale,
                   float* out);
// The same of scale * (w + addend), addend (or null) already packed like out.
void PackPanelsSumF32(const float* w, const float* addend, size_t n, size_t k,
                      size_t ldw, float scale, float* out);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_GEMM_PACK_H_
