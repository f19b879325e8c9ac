#include "engine/two_way_transformer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <omp.h>

#include "kernels/attention.h"
#include "kernels/block_products.h"
#include "kernels/gemm_pack.h"
#include "kernels/ops.h"
#include "kernels/parallel.h"
#include "kernels/transpose_block.h"

namespace persam {
namespace {

// nn.LayerNorm default in the two-way transformer.
constexpr float kLayerNormEps = 1e-5f;

// RunLinear for the transformer's few token rows (7 tokens, or 56 = heads
// x tokens): GemmStrided reads the rows in place (no A packing) and its row
// tiles of 4 / 8 / 12 compute 8 rows for 7 tokens where Gemm's 12-row tile
// computes 12. Columns (whole 32-column panels) are split over the threads
// from 1M multiply-adds on: the MLP's 7 x 256 x 2048 products stream 2 MB
// of weights each, which two cores fetch faster.
void TokenLinear(int m, const float* x, const MaskDecoder::Linear& l, float* y,
                 kernels::Epilogue act = kernels::Epilogue::kNone, const float* residual = nullptr) {
  const kernels::GemmEpilogue ep = l.Epilogue(act, residual);
  const kernels::StridedA a{x, l.in, 1};
  const kernels::StridedB b = kernels::PackedB(l.packed);
  const int panels = (l.out + 31) / 32;
  const int threads = static_cast<int64_t>(m) * l.in * l.out >= (int64_t{1} << 20)
                          ? std::min(kernels::NumThreads(), panels) : 1;
  if (threads <= 1) {
    kernels::GemmStrided(m, l.out, l.in, a, b, ep, y, l.out);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int part = 0; part < threads; ++part) {
    const int p0 = part * panels / threads, p1 = (part + 1) * panels / threads;
    const int j0 = p0 * 32, j1 = std::min(l.out, p1 * 32);
    kernels::GemmEpilogue e = ep;
    e.bias = l.b.data() + j0;
    if (residual != nullptr) e.residual = residual + j0;
    kernels::GemmStrided(m, j1 - j0, l.in, a, kernels::StridedB{b.b + p0 * b.panel_stride, b.ld, b.panel_stride}, e,
                         y + j0, l.out);
  }
}

struct Dims {
  int n;       // image tokens
  int dim;     // channels
  int tokens;  // query tokens
};

// Multi-head self attention of the tokens: out = out_proj(MHA(q, k, v)) (+
// residual). ref: transformer.py Attention.forward
void SelfAttention(const Dims& s, const MaskDecoder::AttentionWeights& a, const float* q_in,
                   const float* v_in, const float* residual, float* out) {
  const int t = s.tokens, in = a.internal, hd = in / a.heads;
  std::vector<float> q(static_cast<size_t>(t) * in), k(q.size()), v(q.size()), o(q.size());
  TokenLinear(t, q_in, a.q, q.data());
  TokenLinear(t, q_in, a.k, k.data());
  TokenLinear(t, v_in, a.v, v.data());
  for (int h = 0; h < a.heads; ++h) {
    kernels::AttentionArgs args;
    args.num_queries = t;
    args.num_keys = t;
    args.head_dim = hd;
    args.q = q.data() + h * hd;
    args.q_stride = in;
    args.k = k.data() + h * hd;
    args.k_stride = in;
    args.v = v.data() + h * hd;
    args.v_stride = in;
    args.out = o.data() + h * hd;
    args.out_stride = in;
    args.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    kernels::SmallAttention(args, nullptr);
  }
  TokenLinear(t, o.data(), a.o, out, kernels::Epilogue::kNone, residual);
}

// The two cross attentions are computed without projecting the 4096 image
// tokens (the reference's k_proj / v_proj of the keys, q_proj of the image
// queries): with few tokens, everything that touches a projection weight is
// folded into a few (head, token) rows on the token side, and the image
// side is four products per block with rows = heads * tokens (56):
//
// Token -> image (queries q_t, keys kx_j = x_j + pe_j, values x_j):
//   logit(t, j) = scale <Wq_h q_t + bq_h, Wk_h kx_j + bk_h>
//               = <m_(t,h), kx_j> + const(t),  m_(t,h) = scale Wk_h^T (Wq_h q_t + bq_h),
// the constant cancels in the softmax; since each softmax sums to 1,
//   sum_j p(t, h, j) (Wv_h x_j + bv_h) = Wv_h (sum_j p(t, h, j) x_j) + bv_h.
// Image -> token (image queries x_j + pe_j, token keys kp = k_proj(.), values
// vp = v_proj(.)):
//   logit(j, t, h) = <n_(t,h), x_j + pe_j> + nbias_(t,h),  n_(t,h) = scale Wq_h^T kp_h[t],
//   out_j = sum_(t,h) p(j, t, h) u_(t,h) + bo,  u_(t,h) = Wo_h vp_h[t].
// That is 2 rows x dim flops per image token and attention instead of
// 4 internal x dim; the rounding differs from the reference's order by a few
// float32 ulps. Rows are token-major, r = t * heads + h, so that the image
// -> token softmax (over the tokens, per head) is a stride-`heads` group.
// ref: transformer.py Attention.forward, TwoWayAttentionBlock.forward

// out[t * heads + h, :] = sum_e a[t, h hd + e] W[:, h hd + e] for every head:
// a [tokens, internal] (row stride `internal`), W a packed B^T [dim,
// internal]: head h's products read rows h hd .. h hd + hd - 1 of each
// 32-column panel (2 KiB runs, where a row-major weight read column tile
// by column tile made these small products wait on memory).
void FoldHeads(int tokens, int heads, int internal, int dim, const float* a, const kernels::PackedWeights& w,
               float* out) {
  const int hd = internal / heads;
  const kernels::StridedB b = kernels::PackedB(w);
  for (int h = 0; h < heads; ++h) {
    kernels::GemmStrided(tokens, dim, hd, kernels::StridedA{a + h * hd, internal, 1},
                         kernels::StridedB{b.b + static_cast<size_t>(h) * hd * kernels::kGemmNR, b.ld, b.panel_stride},
                         kernels::GemmEpilogue{}, out + static_cast<size_t>(h) * dim,
                         static_cast<int64_t>(heads) * dim);
  }
}

// Round up to whole 32-column GEMM panels: row stride of the per-block
// logits (whole panels of the packed B operands; the columns past the rows
// are neither written nor read).
int PanelCols(int cols) { return (cols + 31) / 32 * 32; }

// Token -> image attention, token side before the image pass: the m rows.
struct TokenToImagePlan {
  int tokens = 0, rows = 0;
  kernels::PackedWeights m;  // B [rows, dim]: logits = (x + pe) m^T
  const float* attn_sim = nullptr;
};

// ref: transformer.py Attention.forward (q_proj of the token queries)
void PlanTokenToImage(const Dims& s, const MaskDecoder::AttentionWeights& a, const float* q_in, const float* attn_sim,
                      TokenToImagePlan* plan) {
  const int t = s.tokens, in = a.internal, hd = in / a.heads, d = s.dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> q(static_cast<size_t>(t) * in);
  TokenLinear(t, q_in, a.q, q.data());
  for (float& v : q) v *= scale;
  std::vector<float> m(static_cast<size_t>(t) * a.heads * d);
  FoldHeads(t, a.heads, in, d, q.data(), a.k_fold, m.data());
  plan->tokens = t;
  plan->rows = t * a.heads;
  plan->m.Repack(m.data(), plan->rows, d, d);
  plan->attn_sim = attn_sim;
}

// Token -> image attention, token side after the image pass: px [rows, dim]
// = the softmax-weighted sums of the values x_j; out = out_proj(v_proj per
// head) + residual.
void FinishTokenToImage(const Dims& s, const MaskDecoder::AttentionWeights& a, const float* px, const float* residual,
                        float* out) {
  const int t = s.tokens, in = a.internal, hd = in / a.heads, rows = a.heads * t;
  std::vector<float> o(static_cast<size_t>(t) * in);
  if (static_cast<int>(kernels::kGemmNR) % hd == 0) {
    // o[i, h hd ..] = Wv_h px[i * heads + h] + bv_h: head h's rows against
    // the 32-column panel of the packed v_proj weight that holds its hd
    // output columns (the panel's other heads' columns are dropped): 32 /
    // internal of the flops of all rows against the whole weight.
    const int panels_k = s.dim;
    std::vector<float> vh(static_cast<size_t>(t) * kernels::kGemmNR);
    for (int h = 0; h < a.heads; ++h) {
      const int c0 = h * hd, p0 = c0 / 32 * 32;
      kernels::GemmEpilogue ep;
      ep.bias = a.v.b.data() + p0;
      const int cols = std::min(32, in - p0);
      kernels::GemmStrided(t, cols, s.dim, kernels::StridedA{px + static_cast<size_t>(h) * s.dim, a.heads * s.dim, 1},
                           kernels::StridedB{a.v.packed.panels() + static_cast<size_t>(p0) * panels_k, 32,
                                             static_cast<int64_t>(panels_k) * 32},
                           ep, vh.data(), 32);
      for (int i = 0; i < t; ++i) {
        std::copy_n(vh.data() + static_cast<size_t>(i) * 32 + (c0 - p0), hd, o.data() + static_cast<size_t>(i) * in + c0);
      }
    }
  } else {
    // v_all[r, :] = Wv px[r] + bv for every head's rows; head h's output is
    // the h-th block of its own rows.
    std::vector<float> v_all(static_cast<size_t>(rows) * in);
    TokenLinear(rows, px, a.v, v_all.data());
    for (int i = 0; i < t; ++i) {
      for (int h = 0; h < a.heads; ++h) {
        std::copy_n(v_all.data() + static_cast<size_t>(i * a.heads + h) * in + h * hd, hd,
                    o.data() + static_cast<size_t>(i) * in + h * hd);
      }
    }
  }
  TokenLinear(t, o.data(), a.o, out, kernels::Epilogue::kNone, residual);
}

// Image -> token attention, token side before the image pass.
struct ImageToTokenPlan {
  int tokens = 0, heads = 0, rows = 0;
  kernels::PackedWeights n;  // B [rows, dim]: logits = (x + pe) n^T + nbias
  std::vector<float> nbias;  // [rows]
  std::vector<float> u;      // [rows, dim] row-major: out = p u + bo
  const float* out_bias = nullptr;
  const MaskDecoder::Norm* norm = nullptr;  // norm4, applied to the updated x
};

// ref: transformer.py TwoWayAttentionBlock.forward (cross_attn_image_to_token)
void PlanImageToToken(const Dims& s, const MaskDecoder::AttentionWeights& a, const float* k_in, const float* v_in,
                      const MaskDecoder::Norm& norm, ImageToTokenPlan* plan) {
  const int t = s.tokens, in = a.internal, hd = in / a.heads, rows = a.heads * t, d = s.dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> kp(static_cast<size_t>(t) * in), vp(kp.size());
  TokenLinear(t, k_in, a.k, kp.data());
  TokenLinear(t, v_in, a.v, vp.data());
  for (float& v : kp) v *= scale;
  std::vector<float> nmat(static_cast<size_t>(rows) * d);
  FoldHeads(t, a.heads, in, d, kp.data(), a.q_fold, nmat.data());
  plan->nbias.assign(rows, 0.0f);
  for (int i = 0; i < t; ++i) {
    for (int h = 0; h < a.heads; ++h) {
      float bias = 0.0f;
      for (int e = 0; e < hd; ++e) bias += kp[static_cast<size_t>(i) * in + h * hd + e] * a.q.b[h * hd + e];
      plan->nbias[i * a.heads + h] = bias;
    }
  }
  plan->u.resize(static_cast<size_t>(rows) * d);
  // out_proj's own packing is B^T = Wo [dim, internal]: u = vp_h Wo_h^T.
  FoldHeads(t, a.heads, in, d, vp.data(), a.o.packed, plan->u.data());
  plan->tokens = t;
  plan->heads = a.heads;
  plan->rows = rows;
  plan->n.Repack(nmat.data(), rows, d, d);
  plan->out_bias = a.o.b.data();
  plan->norm = &norm;
}

// out[j, r] = in[r, j] (+ row_add[r]) for r < rows, j < cols (in: row
// stride ldi; row_add may be null): channel-first inputs as channel-last
// rows, e.g. the image embedding plus the per-channel dense embedding.
// Rows of `in` outer: each 4-row group is read along its lines, and the
// output block (a few lines per output row) stays in L1 while its 16-float
// lines fill; columns outer would walk `in` down its rows, whose
// power-of-two stride (4096 floats) maps them all to one cache set.
// `add4` is scratch of 4 * rows floats (row_add repeated 4 times, laid out
// like the output block), used only with row_add.
void TransposeSlab(const float* in, int64_t ldi, int rows, int cols, float* out, const float* row_add = nullptr,
                   float* add4 = nullptr) {
  if (row_add != nullptr) {
    for (int j = 0; j < 4; ++j) std::copy_n(row_add, rows, add4 + static_cast<size_t>(j) * rows);
  }
  const int rows4 = rows & ~3, cols4 = cols & ~3;
  for (int r = 0; r < rows4; r += 4) {
    for (int j = 0; j < cols4; j += 4) {
      if (row_add != nullptr) {
        // Same rounding as a separate add: (in + add) * 1.
        kernels::TransposeBlock4AddScale(in + r * ldi + j, ldi, add4 + r, 1.0f, out + j * rows + r, rows);
      } else {
        kernels::TransposeBlock4(in + r * ldi + j, ldi, out + j * rows + r, rows);
      }
    }
    for (int j = cols4; j < cols; ++j) {
      for (int i = r; i < r + 4; ++i) out[j * rows + i] = in[i * ldi + j] + (row_add != nullptr ? row_add[i] : 0.0f);
    }
  }
  for (int r = rows4; r < rows; ++r) {
    for (int j = 0; j < cols; ++j) out[j * rows + r] = in[r * ldi + j] + (row_add != nullptr ? row_add[r] : 0.0f);
  }
}

// Row stride of the stored attention logits [rows, n] (PerSAM's attn_sim
// path): n = 4096 floats would put the rows a product tile reads together
// 16 KiB apart, all in one L1 set.
int LogitsStride(int n) { return n + 16; }

// Positions per block of the image passes: a block's x, x + pe and logits
// (128 x 256 floats = 128 KiB each at most) stay in L2 from the first
// product to the last, and 32 blocks balance two threads.
constexpr int kPassBlock = 128;
// Streaming softmax states per sweep (see ImagePass).
constexpr int kPassChunks = 16;

// First block of chunk c of `chunks` over `blocks` blocks. The chunks
// shrink from 3 blocks to 1 (with 32 blocks: 4 x 3, 8 x 2, 4 x 1): taken
// in order by the dynamic schedule, the big ones go first and the threads
// finish within about one block of each other, with few partial states.
// Fewer than 2 blocks per chunk: equal chunks (none empty).
int ChunkBegin(int c, int chunks, int blocks) {
  if (blocks < 2 * chunks) return static_cast<int>(static_cast<int64_t>(c) * blocks / chunks);  // uniform
  auto weight_before = [chunks](int k) {  // weights 3 (first quarter), 2, 1 (last quarter)
    int w = 0;
    for (int i = 0; i < k; ++i) w += 4 * i < chunks ? 3 : (4 * i >= 3 * chunks ? 1 : 2);
    return w;
  };
  return static_cast<int>(static_cast<int64_t>(weight_before(c)) * blocks / weight_before(chunks));
}

// One parallel sweep over the image tokens x [n, dim] in blocks of
// positions, doing for each block, while it is in cache:
//  - `init`: x = embedding + dense prompt embedding (channel-first inputs,
//    transposed to channel-last);
//  - `i2t`: the image -> token attention of a block and its norm4: x =
//    LN(x + softmax((x + pe) n^T + nbias) u + bo);
//  - `t2i`: the NEXT token -> image attention's logits (x + pe) m^T (its
//    queries depend only on token-side work, not on this pass) and, without
//    attn_sim, its softmax-weighted sum of the values x, by a streaming
//    softmax (partial sums per chunk of blocks, merged in chunk order at
//    the end into px [rows, dim]). With attn_sim the second softmax needs
//    the first one normalised over the whole image: the logits are stored
//    transposed in `logits_t` [rows, n] (row stride LogitsStride(n)) and
//    the product is done after the sweep.
// One parallel region per layer instead of whole-image passes that each
// packed 4 MB of activations as a GEMM operand.
// `x_in` is where the pass reads the image tokens, `x` where an i2t update
// writes them (the same buffer, except when a batch of prompts shares the
// layer-0 tokens: MaskDecoderInputs::image_hwc, read in place and never
// copied; then `xpe_in` holds x_in + pe for the t2i logits of pass 0).
void ImagePass(int n, int d, const float* pe, const MaskDecoderInputs* init, const ImageToTokenPlan* i2t,
               const TokenToImagePlan* t2i, ImagePassBuffers* buf, const float* x_in, const float* xpe_in, float* x,
               float* logits_t, float* px) {
  const int pos_blocks = (n + kPassBlock - 1) / kPassBlock;
  // The blocks are taken in fixed chunks, each with its own streaming
  // softmax state, merged in chunk order: the result does not depend on
  // which thread ran which chunk (or on the thread count), while the
  // chunks are still scheduled dynamically.
  const int chunks = std::min(pos_blocks, kPassChunks);
  const int threads = kernels::NumThreads();
  const int t_rows = t2i != nullptr ? t2i->rows : 0;
  const bool online = t2i != nullptr && t2i->attn_sim == nullptr;
  const int lg_cols = PanelCols(std::max(t_rows, i2t != nullptr ? i2t->rows : 0));
  if (online && static_cast<int>(buf->states.size()) < chunks) buf->states.resize(chunks);
  if (static_cast<int>(buf->thread.size()) < threads) buf->thread.resize(threads);
#pragma omp parallel num_threads(threads)
  {
    ImagePassBuffers::Thread& tb = buf->thread[omp_get_thread_num()];
    if (init != nullptr) tb.dense.resize(static_cast<size_t>(kPassBlock) * d);
    tb.xp.resize(static_cast<size_t>(kPassBlock) * d);
    tb.lg.resize(static_cast<size_t>(kPassBlock) * lg_cols);
    float* xp = tb.xp.data();
    float* lg = tb.lg.data();
#pragma omp for schedule(dynamic, 1)
    for (int chunk = 0; chunk < chunks; ++chunk) {
      OnlineState* st = online ? &buf->states[chunk] : nullptr;
      if (st != nullptr) st->Reset(t_rows, d);
      for (int blk = ChunkBegin(chunk, chunks, pos_blocks); blk < ChunkBegin(chunk + 1, chunks, pos_blocks); ++blk) {
        const int r0 = blk * kPassBlock, r1 = std::min(n, r0 + kPassBlock), nb = r1 - r0;
        float* xb = x + static_cast<size_t>(r0) * d;
        const float* xb_in = x_in + static_cast<size_t>(r0) * d;
        const float* peb = pe + static_cast<size_t>(r0) * d;
        if (init != nullptr && init->image_hwc == nullptr) {
          if (init->dense_chw != nullptr) {
            TransposeSlab(init->embedding + r0, n, d, nb, xb);
            TransposeSlab(init->dense_chw + r0, n, d, nb, tb.dense.data());
            kernels::Add(xb, tb.dense.data(), xb, static_cast<size_t>(nb) * d);
          } else {
            TransposeSlab(init->embedding + r0, n, d, nb, xb, init->dense_channel, tb.dense.data());
          }
        }
        if (i2t != nullptr) {
          // ref: transformer.py TwoWayAttentionBlock.forward: q = keys +
          // key_pe, keys = norm4(keys + cross_attn_image_to_token(q, k, v)).
          const int ld = PanelCols(i2t->rows);
          kernels::Add(xb_in, peb, xp, static_cast<size_t>(nb) * d);
          kernels::GemmStrided(nb, i2t->rows, d, kernels::StridedA{xp, d, 1}, kernels::PackedB(i2t->n),
                               kernels::GemmEpilogue{}, lg, ld);
          kernels::SoftmaxStrided(nb, i2t->tokens, i2t->heads, lg, ld, i2t->nbias.data());
          kernels::GemmEpilogue ep;
          ep.bias = i2t->out_bias;
          ep.residual = xb_in;
          ep.ldr = d;
          kernels::GemmStrided(nb, d, i2t->rows, kernels::StridedA{lg, ld, 1}, kernels::StridedB{i2t->u.data(), d, 32},
                               ep, xb, d);
          if (t2i != nullptr) {
            // norm4, and x + pe for the next attention's logits below.
            kernels::LayerNormRowsPlus(nb, d, xb, d, i2t->norm->w.data(), i2t->norm->b.data(), kLayerNormEps, xb, d,
                                       peb, d, xp, d);
          } else {
            kernels::LayerNormRows(nb, d, xb, d, i2t->norm->w.data(), i2t->norm->b.data(), kLayerNormEps, xb, d);
          }
        }
        if (t2i != nullptr) {
          // ref: transformer.py: k = keys + key_pe, v = keys.
          const int ld = PanelCols(t_rows);
          // After an i2t update the tokens are in xb (and xp = xb + pe).
          const float* keys = i2t != nullptr ? xb : xb_in;
          const float* keys_pe = xp;
          if (i2t == nullptr) {
            if (xpe_in != nullptr) {
              keys_pe = xpe_in + static_cast<size_t>(r0) * d;
            } else {
              kernels::Add(keys, peb, xp, static_cast<size_t>(nb) * d);
            }
          }
          kernels::GemmStrided(nb, t_rows, d, kernels::StridedA{keys_pe, d, 1}, kernels::PackedB(t2i->m),
                               kernels::GemmEpilogue{}, lg, ld);
          if (online) {
            kernels::SoftmaxColumnsOnline(nb, t_rows, lg, ld, st->run_max.data(), st->run_sum.data(),
                                          st->rescale.data());
            const bool first = blk == ChunkBegin(chunk, chunks, pos_blocks);
            if (!first) kernels::ScaleRows(t_rows, d, st->acc.data(), d, st->rescale.data());
            kernels::GemmEpilogue acc;
            acc.residual = first ? nullptr : st->acc.data();
            acc.ldr = d;
            kernels::GemmStrided(t_rows, d, nb, kernels::StridedA{lg, 1, ld}, kernels::StridedB{keys, d, 32}, acc,
                                 st->acc.data(), d);
          } else {
            for (int r = 0; r < t_rows; ++r) {
              float* out = logits_t + static_cast<size_t>(r) * LogitsStride(n) + r0;
              for (int j = 0; j < nb; ++j) out[j] = lg[static_cast<size_t>(j) * ld + r];
            }
          }
        }
      }
    }
    // (implicit barrier) Merge the chunks' partial sums, rows over the
    // threads: px[r] = sum_c acc_c[r] exp(max_c - M) / Z, chunks in order.
    if (online) {
#pragma omp for schedule(static)
      for (int r = 0; r < t_rows; ++r) {
        float gmax = -HUGE_VALF;
        for (int c = 0; c < chunks; ++c) gmax = std::max(gmax, buf->states[c].run_max[r]);
        float z = 0.0f;
        float f[kPassChunks];
        for (int c = 0; c < chunks; ++c) {
          f[c] = std::exp(buf->states[c].run_max[r] - gmax);
          z += buf->states[c].run_sum[r] * f[c];
        }
        const float inv = 1.0f / z;
        float* out = px + static_cast<size_t>(r) * d;
        std::fill_n(out, d, 0.0f);
        for (int c = 0; c < chunks; ++c) {
          const float coef = f[c] * inv;
          if (coef == 0.0f) continue;
          const float* a = buf->states[c].acc.data() + static_cast<size_t>(r) * d;
          for (int j = 0; j < d; ++j) out[j] += coef * a[j];
        }
      }
    }
  }
  if (t2i == nullptr || online) return;
  // PerSAM's target-guided attention: softmax(softmax(logits) + attn_sim),
  // each over the whole image, then px = probs x (columns split over the
  // threads).
  kernels::SoftmaxRows(t_rows, n, logits_t, LogitsStride(n));
  for (int r = 0; r < t_rows; ++r) {
    float* row = logits_t + static_cast<size_t>(r) * LogitsStride(n);
    kernels::Add(row, t2i->attn_sim, row, n);
  }
  kernels::SoftmaxRows(t_rows, n, logits_t, LogitsStride(n));
  const int col_blocks = d / 32;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int cb = 0; cb < col_blocks; ++cb) {
    kernels::GemmStrided(t_rows, 32, n, kernels::StridedA{logits_t, LogitsStride(n), 1},
                         kernels::StridedB{(i2t != nullptr ? x : x_in) + cb * 32, d, 32},
                         kernels::GemmEpilogue{}, px + cb * 32, d);
  }
}

}  // namespace

void PrepareLayer0Tokens(const TwoWayTransformerWeights& w, const MaskDecoderInputs& in,
                         TwoWayTransformerBuffers* buf, float* x0, float* x0_pe) {
  const int n = w.grid * w.grid;
  MaskDecoderInputs init = in;
  init.image_hwc = init.image_pe_hwc = nullptr;
  ImagePass(n, w.dim, w.pe_hwc, &init, nullptr, nullptr, &buf->pass, x0, nullptr, x0, nullptr, nullptr);
  kernels::Add(x0, w.pe_hwc, x0_pe, static_cast<size_t>(n) * w.dim);
}

// ref: transformer.py TwoWayTransformer.forward, mask_decoder.py predict_masks
void RunTwoWayTransformer(const TwoWayTransformerWeights& w, const MaskDecoderInputs& in,
                          TwoWayTransformerBuffers* buf, float* x, float* out_tokens) {
  const std::vector<MaskDecoder::Block>& blocks = w.blocks;
  const int d = w.dim, n = w.grid * w.grid;
  const int t = 1 + w.num_mask_tokens + in.num_sparse;
  const int rows = w.heads * t;
  const Dims dims{n, d, t};

  // Tokens: [iou, mask tokens, sparse]. In the reference, `queries` and
  // `point_embedding` (the tokens' positional encoding) are one tensor and
  // `queries += target_embedding` before block 0 updates both in place, so
  // the encoding carries the target embedding from then on.
  std::vector<float> qpe(static_cast<size_t>(t) * d);
  std::copy(w.output_tokens.begin(), w.output_tokens.end(), qpe.begin());
  if (in.num_sparse > 0) std::copy(in.sparse, in.sparse + static_cast<size_t>(in.num_sparse) * d,
                                   qpe.begin() + w.output_tokens.size());
  if (in.target_embedding != nullptr) {
    for (int i = 0; i < t; ++i) kernels::Add(qpe.data() + static_cast<size_t>(i) * d, in.target_embedding,
                                             qpe.data() + static_cast<size_t>(i) * d, d);
  }
  std::vector<float> q = qpe, tmp(qpe.size()), tmp2(static_cast<size_t>(t) * d);
  std::vector<float> hidden;

  // Order of the work: every image-side step runs in one sweep per layer
  // (ImagePass). The queries of a token -> image attention depend only on
  // token-side work (the image -> token attention before it updates the
  // keys, not the queries), so each sweep does a layer's image -> token
  // update and then, on the updated block, the next attention's logits:
  //   tokens: self attention 0, q of attention 0
  //   sweep:  x = src; token -> image 0
  //   tokens: out 0, MLP 0, image -> token 0 (k, v), self attention 1, q of 1
  //   sweep:  image -> token 0 update; token -> image 1
  //   tokens: out 1, MLP 1, image -> token 1, q of the final attention
  //   sweep:  image -> token 1 update; final token -> image
  //   tokens: out, norm_final_attn.
  auto add_rows = [](const float* a, const float* b, float* out, size_t count) { kernels::Add(a, b, out, count); };
  const size_t tok = static_cast<size_t>(t) * d;
  std::vector<float> px(static_cast<size_t>(rows) * d);
  if (in.attn_sim != nullptr && buf->probs_t.size() < static_cast<size_t>(rows) * LogitsStride(n)) {
    buf->probs_t.resize(static_cast<size_t>(rows) * LogitsStride(n));
  }
  float* logits_t = in.attn_sim != nullptr ? buf->probs_t.data() : nullptr;
  // (1) self attention; block 0 replaces the queries (no pe, no residual).
  auto self_attention = [&](size_t bi) {
    const MaskDecoder::Block& b = blocks[bi];
    if (bi > 0 && in.target_embedding != nullptr) {
      for (int i = 0; i < t; ++i) kernels::Add(q.data() + static_cast<size_t>(i) * d, in.target_embedding,
                                               q.data() + static_cast<size_t>(i) * d, d);
    }
    if (bi == 0) {
      SelfAttention(dims, b.self_attn, q.data(), q.data(), nullptr, tmp.data());
    } else {
      add_rows(q.data(), qpe.data(), tmp2.data(), tok);
      SelfAttention(dims, b.self_attn, tmp2.data(), q.data(), q.data(), tmp.data());
    }
    kernels::LayerNormRows(t, d, tmp.data(), d, b.norm1.w.data(), b.norm1.b.data(), kLayerNormEps, q.data(), d);
  };
  TokenToImagePlan t2i;
  ImageToTokenPlan i2t;

  // Only the iou token and the selected mask tokens are read after the
  // final attention (it is per token, and its image-side products scale
  // with the token count), so just those are gathered: fin rows are [iou,
  // selected mask tokens] (as out_tokens). Each row's result is the same as in the full batch.
  const int kept = 1 + in.num_masks;
  std::vector<float> fin_q(static_cast<size_t>(kept) * d), fin_res(fin_q.size());
  const Dims final_dims{n, d, kept};
  // Final token -> image attention: q = queries + pe (+ target embedding
  // again); no attn_sim.
  auto plan_final = [&]() {
    add_rows(q.data(), qpe.data(), tmp2.data(), tok);
    if (in.target_embedding != nullptr) {
      for (int i = 0; i < t; ++i) kernels::Add(tmp2.data() + static_cast<size_t>(i) * d, in.target_embedding,
                                               tmp2.data() + static_cast<size_t>(i) * d, d);
    }
    for (int r = 0; r < kept; ++r) {
      const size_t from = static_cast<size_t>(r == 0 ? 0 : 1 + in.first_mask + r - 1) * d;
      std::copy_n(tmp2.data() + from, d, fin_q.data() + static_cast<size_t>(r) * d);
      std::copy_n(q.data() + from, d, fin_res.data() + static_cast<size_t>(r) * d);
    }
    PlanTokenToImage(final_dims, w.final_attn, fin_q.data(), nullptr, &t2i);
  };
  if (!blocks.empty()) {
    self_attention(0);
    // (2) tokens -> image (q = queries + pe), with PerSAM's attn_sim.
    add_rows(q.data(), qpe.data(), tmp2.data(), tok);
    PlanTokenToImage(dims, blocks[0].token_to_image, tmp2.data(), in.attn_sim, &t2i);
  } else {
    plan_final();
  }
  // Pass 0 reads the shared layer-0 tokens in place when the caller gives
  // them; pass 1 then reads them from there and writes its update into x.
  const float* x0 = in.image_hwc != nullptr ? in.image_hwc : x;
  ImagePass(n, d, w.pe_hwc, &in, nullptr, &t2i, &buf->pass, x0, in.image_pe_hwc, x, logits_t, px.data());
  for (size_t bi = 0; bi < blocks.size(); ++bi) {
    const MaskDecoder::Block& b = blocks[bi];
    FinishTokenToImage(dims, b.token_to_image, px.data(), q.data(), tmp.data());
    kernels::LayerNormRows(t, d, tmp.data(), d, b.norm2.w.data(), b.norm2.b.data(), kLayerNormEps, q.data(), d);
    // (3) MLP (ReLU).
    hidden.resize(static_cast<size_t>(t) * b.mlp1.out);
    TokenLinear(t, q.data(), b.mlp1, hidden.data(), kernels::Epilogue::kRelu);
    TokenLinear(t, hidden.data(), b.mlp2, tmp.data(), kernels::Epilogue::kNone, q.data());
    kernels::LayerNormRows(t, d, tmp.data(), d, b.norm3.w.data(), b.norm3.b.data(), kLayerNormEps, q.data(), d);
    // (4) image -> tokens (k = queries + pe, v = queries), residual and norm4
    // on the image side, applied in the next sweep.
    add_rows(q.data(), qpe.data(), tmp2.data(), tok);
    PlanImageToToken(dims, b.image_to_token, tmp2.data(), q.data(), b.norm4, &i2t);
    if (bi + 1 < blocks.size()) {
      // The next block's self attention and token -> image queries.
      self_attention(bi + 1);
      add_rows(q.data(), qpe.data(), tmp2.data(), tok);
      PlanTokenToImage(dims, blocks[bi + 1].token_to_image, tmp2.data(), in.attn_sim, &t2i);
    } else {
      plan_final();
    }
    ImagePass(n, d, w.pe_hwc, nullptr, &i2t, &t2i, &buf->pass, bi == 0 ? x0 : x, nullptr, x, logits_t, px.data());
  }
  FinishTokenToImage(final_dims, w.final_attn, px.data(), fin_res.data(), tmp.data());
  kernels::LayerNormRows(kept, d, tmp.data(), d, w.norm_final.w.data(), w.norm_final.b.data(), kLayerNormEps,
                         out_tokens, d);
}

}  // namespace persam
