// Out-of-place float matrix transpose, for switching the decoder's image
// tokens between channel-last [positions, channels] and channel-first.
#ifndef PERSAM_ENGINE_TRANSPOSE_H_
#define PERSAM_ENGINE_TRANSPOSE_H_

namespace persam {

// dst[cols, rows] = src[rows, cols]^T. OpenMP over tiles; call from outside a
// parallel region. src and dst must not overlap.
void TransposeMatrix(const float* src, int rows, int cols, float* dst);

}  // namespace persam

#endif  // PERSAM_ENGINE_TRANSPOSE_H_
