// Scaled dot-product attention for one head (and batched over many heads /
// windows). Flash-style: K/V tiles, online softmax, no nq x nk matrix.
#ifndef PERSAM_KERNELS_ATTENTION_H_
#define PERSAM_KERNELS_ATTENTION_H_

#include <cstdint>

namespace persam::kernels {

// out[i, :] = sum_j softmax_j(scale * <q_i, k_j> + bias(i, j)) v_j
// Optional decomposed relative-position bias (SAM's ViT): keys form a
// key_rows x key_cols grid, j = r * key_cols + c, and
// bias(i, j) = rel_h[i * key_rows + r] + rel_w[i * key_cols + c].
// Optional full additive bias (TinyViT's attention_biases gathered per head):
// bias(i, j) += bias[i * bias_stride + j]. Both kinds may be combined.
struct AttentionArgs {
  int num_queries = 0;
  int num_keys = 0;
  int head_dim = 0;
  const float* q = nullptr;  int64_t q_stride = 0;   // row strides in floats
  const float* k = nullptr;  int64_t k_stride = 0;
  const float* v = nullptr;  int64_t v_stride = 0;
  float* out = nullptr;      int64_t out_stride = 0;
  float scale = 1.0f;
  const float* rel_h = nullptr;  // [num_queries, key_rows] or null
  const float* rel_w = nullptr;  // [num_queries, key_cols] or null
  int key_rows = 0, key_cols = 0;
  const float* bias = nullptr;  // [num_queries, num_keys] (row stride bias_stride) or null
  int64_t bias_stride = 0;
};

// Single head, runs on the calling thread.
void Attention(const AttentionArgs& args);
// Many independent heads/windows; OpenMP over (item, query tile).
void AttentionBatch(const AttentionArgs* items, int count);

// AttentionBatch with bf16 operands in the two products: S = (scale q) k^T
// and O = P v take q, k, v and P rounded to bf16 (RNE), accumulate in
// float32 (vdpbf16ps on AVX512_BF16 CPUs, else a widening float32 path with
// the same roundings: the path is GemmBF16PathName()'s, kernels/gemm_lowp.h).
// The biases, the softmax (max, exp, row sums of the rounded P) and the
// rescaling stay float32. Error vs AttentionBatch: scores off by <= 2^-8
// sum_t |q_t k_t| scale (operand rounding), outputs by the bf16 rounding of
// P and v, ~2^-9 relative per term (they average out over the keys).
// For the reduced-precision ViT encoders (engine/vit_encoder.cc).
void AttentionBatchBF16(const AttentionArgs* items, int count);

// Small attentions of the SAM mask decoder (few tokens on one side), single
// head, calling thread. With `post_softmax_bias` (PerSAM's target-guided
// attention, [num_keys]): p = softmax(softmax(scale * q k^T) + bias).
void SmallAttention(const AttentionArgs& args, const float* post_softmax_bias);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_ATTENTION_H_
