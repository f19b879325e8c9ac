// Row and elementwise operations (in place allowed where out == in).
#ifndef PERSAM_KERNELS_OPS_H_
#define PERSAM_KERNELS_OPS_H_

#include <cstddef>
#include <cstdint>

namespace persam::kernels {

// LayerNorm over the last dim of each row: (x - mean) / sqrt(var + eps) * gamma
// + beta (biased variance). LayerNorm2d on channel-last (HWC) data is the same.
void LayerNormRows(int rows, int cols, const float* x, int64_t ldx,
                   const float* gamma, const float* beta, float eps, float* out,
                   int64_t ldo);
// LayerNorm2d on channel-first data [channels, positions]: normalise over the
// channels at each position.
void LayerNormChannels(int channels, int64_t positions, const float* x,
                       const float* gamma, const float* beta, float eps, float* out);

// GELU with exact erf: x/2 * (1 + erf(x / sqrt(2))).
void Gelu(float* x, size_t n);
void Relu(float* x, size_t n);
void Sigmoid(float* x, size_t n);
// Scalar erf used by Gelu; max error stated in gelu-inl.h.
float Erf(float x);
// x[i] = erf(x[i]) (vector Erf of gelu-inl.h; for tests and the ULP sweep).
void ErfArray(float* x, size_t n);
// Name of the Highway target these ops dispatch to ("AVX3", ...).
const char* OpsTargetName();
// Softmax of each row.
void SoftmaxRows(int rows, int cols, float* x, int64_t ldx);
// Softmax down each column of x [rows, cols] (row stride ldx), of x[r, c] +
// row_bias[r] (row_bias may be null): for many short softmaxes laid out
// across rows (attention to a few tokens). Vectorised across columns; same
// per-element arithmetic as SoftmaxRows (exp(v - max) * (1 / sum)).
void SoftmaxColumns(int rows, int cols, float* x, int64_t ldx, const float* row_bias);
// out[r, j] = sum_c a[r, c] w[j, c] for r < rows, j < n, c < k: products
// with a few output columns (n of 1..8, e.g. mask = hypernetwork . pixel),
// where the GEMM's 32-column panels would be mostly padding. Rows in
// parallel; each output is a float32 FMA sum over c in lane-strided order.
void SmallNProduct(int rows, int k, const float* a, int64_t lda, int n, const float* w,
                   float* out, int64_t ldo);
// out = a + b
void Add(const float* a, const float* b, float* out, size_t n);
// Each row scaled to unit L2 norm (rows of norm 0 are left at 0).
void L2NormalizeRows(int rows, int cols, float* x, int64_t ldx);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_OPS_H_
