// Exact-erf GELU fused into the operations around it, for upscaling paths
// (SAM's mask decoder output_upscaling: LayerNorm2d -> GELU and ConvTranspose
// -> GELU -> hypernetwork product), so that each value is read and written
// once while it is in cache. Lane type float32; GELU is gelu-inl.h's (3 ULP
// for x >= 0, 5.7 x 2^-24 relative below); no alignment needed. Both run
// serially when called inside a parallel region (the caller's block loop)
// and split over the threads otherwise when large.
#ifndef PERSAM_KERNELS_GELU_OPS_H_
#define PERSAM_KERNELS_GELU_OPS_H_

#include <cstdint>

namespace persam::kernels {

// out = gelu(LayerNormRows(x)): each value is bit for bit that of
// LayerNormRows followed by Gelu (kernels/ops.h); in place allowed.
void LayerNormGeluRows(int rows, int cols, const float* x, int64_t ldx, const float* gamma,
                       const float* beta, float eps, float* out, int64_t ldo);

// out[i, c] = sum_{r < k} w[i, r] gelu(x[r, c] + bias[r]) for i < n, c < cols:
// a few outputs per column of a channel-major map (x [k, cols], row stride
// ldx; w [n, k], row stride ldw; out row stride ldo; bias may be null).
// Vectorised across columns, so the sum over r is plain vertical FMAs (no
// horizontal sums): each output is a float32 FMA chain over r in order,
// |out - exact| <= (k + 1) eps sum_r |w g_r| + sum_r |w| |g_r err| with g_r
// the GELU error above. x + bias rounds once, as a GEMM bias epilogue does.
// n > 4 recomputes the GELUs per group of 4 outputs (registers).
void GeluBiasColumnsProduct(int k, int cols, const float* x, int64_t ldx, const float* bias, int n,
                            const float* w, int64_t ldw, float* out, int64_t ldo);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_GELU_OPS_H_
