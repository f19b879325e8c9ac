// TinyViT's window attention for one band of window rows, read in place
// from the row-major qkv of the band's tokens and written in place to the
// row-major output: no window partition or window reverse copies, one
// parallel region per band.
//
// Why its own kernel (not kernels/attention.h's flash kernel): TinyViT's
// windows are 49 or 196 tokens with head_dim 32, where the flash kernel's
// 48-query blocks split a 49-token window in 48 + 1 and its per-block setup
// and online-softmax rescaling weigh as much as the products. Here a whole
// score row fits: S = Q K^T for 6 queries at a time over all keys, one
// softmax pass, O = P V.
#ifndef PERSAM_KERNELS_WINDOW_ATTENTION_H_
#define PERSAM_KERNELS_WINDOW_ATTENTION_H_

namespace persam::kernels {

// One band of `rows` token rows (1 <= rows <= window) of a grid `w` tokens
// wide, cut into ceil(w / window) windows of window x window tokens; tokens
// outside the grid (the right edge of the last window, rows >= `rows`) are
// the reference's zero padding, whose qkv is `pad_qkv`.
//   qkv: token (y, x) at qkv + (y * w + x) * 3 * heads * head_dim; head h's
//        q, k, v at columns h * 3 d, h * 3 d + d, h * 3 d + 2 d (the
//        reference's view (B, N, heads, 3 d) split on its last dim).
//   out: token (y, x), head h at out + (y * w + x) * heads * d + h * d; only
//        real tokens are written.
//   bias: [heads, n, bias_stride] (n = window^2) added to the scaled
//        scores, or null. bias_stride >= kWindowBiasAlign * ceil(n /
//        kWindowBiasAlign), columns [n, bias_stride) -inf: the padded keys'
//        lanes then need no masking (their exp is 1.2e-38, which vanishes
//        in a sum >= 1, and P V reads only the n real keys).
// Per window and head: out_i = sum_j softmax_j(scale <q_i, k_j> + bias_ij) v_j
// (the reference's (q @ k^T) * scale + ab order). Float32, FMA chains over
// the head dim and the keys in index order; exp by ExpNonPositive (2 ULP);
// differs from a double evaluation by a few float32 ULP of the largest
// terms. Threads: OpenMP over (window, head); call from outside a parallel
// region. Throws persam::Error on an invalid geometry.
inline constexpr int kWindowBiasAlign = 16;  // the widest vector, in floats
struct WindowAttentionBand {
  const float* qkv = nullptr;
  const float* pad_qkv = nullptr;  // [3 * heads * head_dim]
  int rows = 0, w = 0, window = 0;
  int heads = 0, head_dim = 0;
  float scale = 1.0f;
  const float* bias = nullptr;
  int bias_stride = 0;
  float* out = nullptr;
};
void WindowAttention(const WindowAttentionBand& band);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_WINDOW_ATTENTION_H_
