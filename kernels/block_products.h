// Single-threaded building blocks for attention computed one block of keys
// at a time inside a caller's parallel loop (the SAM mask decoder's folded
// cross attentions, engine/two_way_transformer.cc): a product whose operands are
// read in place through strides (no packing pass), a softmax over strided
// groups, and the streaming ("online") softmax down columns.
// Lane type float32 throughout; all run on the calling thread.
#ifndef PERSAM_KERNELS_BLOCK_PRODUCTS_H_
#define PERSAM_KERNELS_BLOCK_PRODUCTS_H_

#include <cstdint>

#include "kernels/gemm.h"

namespace persam::kernels {

// A operand read in place: A(i, p) = a[i * row_stride + p * col_stride].
// Row-major A is {a, lda, 1}; A given transposed (a [k, m] row-major, e.g.
// attention weights stored [keys, queries]) is {a, 1, ld}.
struct StridedA {
  const float* a = nullptr;
  int64_t row_stride = 0, col_stride = 1;
};

// B operand of C = A B read in place in 32-column panels (kGemmNR):
// B(p, j) = b[(j / 32) * panel_stride + p * ld + j % 32]. A row-major [k, n]
// matrix is {b, ldb, 32}; a PackedWeights [n, k] (B^T packed) is
// PackedB(w). Whole panels are read: columns n .. 32 ceil(n / 32) - 1 must
// be readable (packed panels are zero-padded; row-major B needs n a
// multiple of 32 or readable padding). Their products are discarded.
struct StridedB {
  const float* b = nullptr;
  int64_t ld = 0, panel_stride = 0;
};
inline StridedB PackedB(const PackedWeights& w) {
  return {w.panels(), 32, static_cast<int64_t>(w.k()) * 32};
}

// C[m, n] = act(A B + bias) + residual (GemmEpilogue; the residual may alias
// C with ldr == ldc). Same register tile as Gemm (kernels/gemm-inl.h), no
// packing and no K blocking: meant for k up to a few hundred with A and B
// in L1/L2 (each A element is broadcast straight from memory, which costs
// one load per 2 FMAs of the tile: free next to the FMA port). Rows of A
// past m are never read. Numerics: each output is an in-order float32 FMA
// chain over p, error <= (k + 2) eps (sum |a b| + |bias|).
void GemmStrided(int m, int n, int k, const StridedA& a, const StridedB& b,
                 const GemmEpilogue& epilogue, float* c, int64_t ldc);

// Softmax over strided groups: for each row r < rows and lane j < width,
// x[r * ldx + g * width + j] for g < groups is replaced by the softmax over g
// of (that value + bias[g * width + j]) (bias may be null). E.g. attention
// logits of each key against (token g, head j) laid out token-major: one
// softmax per (key, head) over the tokens. Same arithmetic per element as
// SoftmaxRows: exp(v - max) * (1 / sum).
void SoftmaxStrided(int rows, int groups, int width, float* x, int64_t ldx, const float* bias);

// One step of a streaming softmax down the columns of x [rows, cols] (a
// block of keys x cols independent softmaxes): with the running state
// run_max[c] (start at -inf) and run_sum[c] (start at 0), sets
//   new_max = max(run_max, max_r x[r, c]), rescale[c] = exp(run_max - new_max),
//   x[r, c] = exp(x[r, c] - new_max),
//   run_sum = run_sum * rescale + sum_r x[r, c], run_max = new_max.
// Accumulators of sum_r x[r, c] v_r are to be multiplied by rescale[c]
// before this block's terms are added; at the end, dividing by run_sum gives
// the softmax-weighted sums. Rounding differs from a whole-column softmax
// by the rescalings (a few float32 ulps).
void SoftmaxColumnsOnline(int rows, int cols, float* x, int64_t ldx, float* run_max, float* run_sum,
                          float* rescale);

// out[r] = LayerNorm(x[r]) exactly as LayerNormRows (in place allowed) and
// out_plus[r] = out[r] + add[r]: a normalised row and its sum with another
// (e.g. its positional encoding) in one sweep, the row still in L1 for the
// add (two whole-block passes read it back from L2).
void LayerNormRowsPlus(int rows, int cols, const float* x, int64_t ldx, const float* gamma, const float* beta,
                       float eps, float* out, int64_t ldo, const float* add, int64_t ld_add, float* out_plus,
                       int64_t ld_plus);

// x[r, :] *= scale[r] for r < rows (cols values each, row stride ldx).
void ScaleRows(int rows, int cols, float* x, int64_t ldx, const float* scale);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_BLOCK_PRODUCTS_H_
