// The 4 x 4 float block transpose shared by TransposeMatrix and the GEMM
// packing routines: four row loads, an in-register transpose (SSE is in every
// x86-64 baseline, so no dispatch is needed), four row stores.
#ifndef PERSAM_KERNELS_TRANSPOSE_BLOCK_H_
#define PERSAM_KERNELS_TRANSPOSE_BLOCK_H_

#include <cstdint>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace persam::kernels {

// dst[j * ld + i] = rows[i][j] for i, j < 4: rows anywhere in memory (the
// window attention's keys: tokens of different image rows, or padding).
inline void TransposeRows4(const float* const* rows, float* dst, int64_t ld) {
#if defined(__SSE__)
  __m128 a = _mm_loadu_ps(rows[0]), b = _mm_loadu_ps(rows[1]);
  __m128 c = _mm_loadu_ps(rows[2]), d = _mm_loadu_ps(rows[3]);
  _MM_TRANSPOSE4_PS(a, b, c, d);
  _mm_storeu_ps(dst, a);
  _mm_storeu_ps(dst + ld, b);
  _mm_storeu_ps(dst + 2 * ld, c);
  _mm_storeu_ps(dst + 3 * ld, d);
#else
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) dst[j * ld + i] = rows[i][j];
#endif
}

// dst[j * ld + i] = src[i * ls + j] for i, j < 4.
inline void TransposeBlock4(const float* src, int64_t ls, float* dst, int64_t ld) {
  const float* rows[4] = {src, src + ls, src + 2 * ls, src + 3 * ls};
  TransposeRows4(rows, dst, ld);
}

// dst[j * ld + i] = scale * (src[i * ls + j] + add[j * ld + i]) for i, j < 4
// (add, laid out like dst, may be null): packing with an addend in the same
// pass, as TransposeBlock4 followed by a scalar fix-up of the stored block
// (which read the stores back).
inline void TransposeBlock4AddScale(const float* src, int64_t ls, const float* add, float scale, float* dst,
                                    int64_t ld) {
#if defined(__SSE__)
  __m128 a = _mm_loadu_ps(src), b = _mm_loadu_ps(src + ls);
  __m128 c = _mm_loadu_ps(src + 2 * ls), d = _mm_loadu_ps(src + 3 * ls);
  _MM_TRANSPOSE4_PS(a, b, c, d);
  if (add != nullptr) {
    a = _mm_add_ps(a, _mm_loadu_ps(add));
    b = _mm_add_ps(b, _mm_loadu_ps(add + ld));
    c = _mm_add_ps(c, _mm_loadu_ps(add + 2 * ld));
    d = _mm_add_ps(d, _mm_loadu_ps(add + 3 * ld));
  }
  const __m128 s = _mm_set1_ps(scale);
  _mm_storeu_ps(dst, _mm_mul_ps(s, a));
  _mm_storeu_ps(dst + ld, _mm_mul_ps(s, b));
  _mm_storeu_ps(dst + 2 * ld, _mm_mul_ps(s, c));
  _mm_storeu_ps(dst + 3 * ld, _mm_mul_ps(s, d));
#else
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      dst[j * ld + i] = scale * (add != nullptr ? src[i * ls + j] + add[j * ld + i] : src[i * ls + j]);
#endif
}

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_TRANSPOSE_BLOCK_H_
