#include "engine/mask_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <omp.h>

#include "engine/decoder_tensors.h"
#include "kernels/attention.h"
#include "kernels/conv.h"
#include "kernels/gelu_ops.h"
#include "kernels/gemm_pack.h"
#include "kernels/ops.h"
#include "kernels/transpose_block.h"
#include "weights/error.h"

namespace persam {
namespace {

// nn.LayerNorm default in the two-way transformer; LayerNorm2d in the
// upscaling path uses common.py's 1e-6.
constexpr float kLayerNormEps = 1e-5f;
constexpr float kLayerNorm2dEps = 1e-6f;

std::string Name(const std::string& suffix) { return "mask_decoder." + suffix; }

MaskDecoder::Linear LoadLinear(const TensorMap& t, const std::string& prefix, int in, int out) {
  MaskDecoder::Linear l;
  l.in = in;
  l.out = out;
  l.w = DecoderTensor(t, prefix + ".weight", {out, in});
  l.b = DecoderTensor(t, prefix + ".bias", {out});
  l.packed = kernels::PackedWeights::Pack(l.w.data(), out, in, in);
  return l;
}

MaskDecoder::Norm LoadNorm(const TensorMap& t, const std::string& prefix, int dim) {
  return {DecoderTensor(t, prefix + ".weight", {dim}), DecoderTensor(t, prefix + ".bias", {dim})};
}

// ref: transformer.py Attention.__init__ (internal dim = width of q_proj).
MaskDecoder::AttentionWeights LoadAttention(const TensorMap& t, const std::string& prefix, int dim, int heads) {
  const auto& qs = DecoderTensorShape(t, prefix + ".q_proj.weight");
  if (qs.size() != 2) throw Error("tensor '" + prefix + ".q_proj.weight' must be 2-d");
  const int internal = static_cast<int>(qs[0]);
  if (internal <= 0 || internal % heads != 0) {
    throw Error("tensor '" + prefix + ".q_proj.weight': internal dim " + std::to_string(internal) +
                " is not a multiple of " + std::to_string(heads) + " heads");
  }
  MaskDecoder::AttentionWeights a;
  a.heads = heads;
  a.internal = internal;
  a.q = LoadLinear(t, prefix + ".q_proj", dim, internal);
  a.k = LoadLinear(t, prefix + ".k_proj", dim, internal);
  a.v = LoadLinear(t, prefix + ".v_proj", dim, internal);
  a.o = LoadLinear(t, prefix + ".out_proj", internal, dim);
  return a;
}

// y[m, out] = act(x[m, in] W^T + b) (+ residual [m, out]).
void RunLinear(int m, const float* x, const MaskDecoder::Linear& l, float* y,
               kernels::Epilogue act = kernels::Epilogue::kNone, const float* residual = nullptr) {
  kernels::GemmEpilogue ep;
  ep.bias = l.b.data();
  ep.activation = act;
  ep.residual = residual;
  ep.ldr = l.out;
  kernels::Gemm(m, x, l.in, l.packed, ep, y, l.out);
}

}  // namespace

// Buffers reused across calls: the decoder's working set is ~20 MB and fresh
// allocations of that size cost page faults on every call.
struct MaskDecoder::Workspace {
  std::vector<float> x;                   // image tokens [n, dim]
  kernels::PackedWeights xp, x_t;         // x + pe as B [n, dim]; B [dim, n] = x^T
  kernels::PackedWeights up;              // image -> token output: B [dim, heads * tokens]
  std::vector<float> probs_t;             // attention [heads * tokens, n]
  // The output upscaling runs in bands of grid rows, one band per thread at
  // a time; each thread keeps its own band buffers (L2-sized, reused for
  // every band: whole-image buffers would cycle 10 MB of dirty lines
  // through memory per call).
  struct Band {
    std::vector<float> up0;       // first ConvTranspose, LN2d, GELU: [4 positions, up0_out]
    kernels::PackedWeights up0_b; // the same as the second GEMM's B operand
    std::vector<float> up1;       // second ConvTranspose before bias/GELU: [4 up1_out, 4 positions]
    std::vector<float> masks;     // [4 children, num_masks, 4 positions]
  };
  std::vector<Band> bands;        // one per thread
  void Reserve(size_t n, int dim, int rows) {
    auto grow = [](std::vector<float>& v, size_t size) {
      if (v.size() < size) v.resize(size);
    };
    grow(x, n * dim);
    grow(probs_t, n * rows);
  }
};

MaskDecoder::~MaskDecoder() = default;

MaskDecoder::MaskDecoder(const TensorMap& t, const SamConfig& config, const std::vector<float>& dense_pe_hwc)
    : dim_(config.prompt_dim), grid_(config.embed_grid), heads_(config.decoder_heads),
      num_mask_tokens_(config.num_mask_tokens) {
  const int d = dim_;
  if (static_cast<int64_t>(dense_pe_hwc.size()) != static_cast<int64_t>(grid_) * grid_ * d) {
    throw Error("mask decoder: dense positional encoding has the wrong size");
  }
  pe_packed_ = kernels::PackedWeights::Pack(dense_pe_hwc.data(), grid_ * grid_, d, d);
  const std::string tr = Name("transformer.");
  for (int i = 0; i < config.decoder_depth; ++i) {
    const std::string p = tr + "layers." + std::to_string(i) + ".";
    Block b;
    b.self_attn = LoadAttention(t, p + "self_attn", d, heads_);
    b.token_to_image = LoadAttention(t, p + "cross_attn_token_to_image", d, heads_);
    b.image_to_token = LoadAttention(t, p + "cross_attn_image_to_token", d, heads_);
    b.norm1 = LoadNorm(t, p + "norm1", d);
    b.norm2 = LoadNorm(t, p + "norm2", d);
    b.norm3 = LoadNorm(t, p + "norm3", d);
    b.norm4 = LoadNorm(t, p + "norm4", d);
    const auto& ms = DecoderTensorShape(t, p + "mlp.lin1.weight");
    const int mlp = ms.empty() ? 0 : static_cast<int>(ms[0]);
    b.mlp1 = LoadLinear(t, p + "mlp.lin1", d, mlp);
    b.mlp2 = LoadLinear(t, p + "mlp.lin2", mlp, d);
    blocks_.push_back(std::move(b));
  }
  final_attn_ = LoadAttention(t, tr + "final_attn_token_to_image", d, heads_);
  norm_final_ = LoadNorm(t, tr + "norm_final_attn", d);

  output_tokens_ = DecoderTensor(t, Name("iou_token.weight"), {1, d});
  const std::vector<float> mask_tokens = DecoderTensor(t, Name("mask_tokens.weight"), {num_mask_tokens_, d});
  output_tokens_.insert(output_tokens_.end(), mask_tokens.begin(), mask_tokens.end());

  // ref: mask_decoder.py MaskDecoder.__init__ output_upscaling
  const auto& u0 = DecoderTensorShape(t, Name("output_upscaling.0.weight"));
  const auto& u1 = DecoderTensorShape(t, Name("output_upscaling.3.weight"));
  if (u0.size() != 4 || u1.size() != 4) throw Error("mask_decoder.output_upscaling: expected 4-d weights");
  up0_out_ = static_cast<int>(u0[1]);
  up1_out_ = static_cast<int>(u1[1]);
  const std::vector<float> w0 = DecoderTensor(t, Name("output_upscaling.0.weight"), {d, up0_out_, 2, 2});
  const std::vector<float> w1 = DecoderTensor(t, Name("output_upscaling.3.weight"), {up0_out_, up1_out_, 2, 2});
  up0_packed_ = kernels::PackConvTranspose2x2(w0.data(), d, up0_out_);
  up1_rows_.resize(static_cast<size_t>(4) * up1_out_ * up0_out_);
  for (int ci = 0; ci < up0_out_; ++ci) {
    for (int co = 0; co < up1_out_; ++co) {
      for (int child = 0; child < 4; ++child) {
        up1_rows_[(static_cast<size_t>(child) * up1_out_ + co) * up0_out_ + ci] =
            w1[(static_cast<size_t>(ci) * up1_out_ + co) * 4 + child];
      }
    }
  }
  // The packed GEMM rows are (child = dy * 2 + dx, channel): the bias
  // repeats once per child.
  const std::vector<float> b0 = DecoderTensor(t, Name("output_upscaling.0.bias"), {up0_out_});
  const std::vector<float> b1 = DecoderTensor(t, Name("output_upscaling.3.bias"), {up1_out_});
  for (int child = 0; child < 4; ++child) {
    up0_b_.insert(up0_b_.end(), b0.begin(), b0.end());
    up1_b_.insert(up1_b_.end(), b1.begin(), b1.end());
  }
  up_norm_ = LoadNorm(t, Name("output_upscaling.1"), up0_out_);

  // ref: mask_decoder.py MLP (hypernetworks: dim -> dim -> dim -> dim / 8).
  for (int i = 0; i < num_mask_tokens_; ++i) {
    const std::string p = Name("output_hypernetworks_mlps." + std::to_string(i) + ".layers.");
    hyper_.push_back({LoadLinear(t, p + "0", d, d), LoadLinear(t, p + "1", d, d),
                      LoadLinear(t, p + "2", d, up1_out_)});
  }
  for (int i = 0; i < config.iou_head_depth; ++i) {
    const std::string p = Name("iou_prediction_head.layers." + std::to_string(i));
    const int in = i == 0 ? d : config.iou_head_hidden;
    const int out = i + 1 == config.iou_head_depth ? num_mask_tokens_ : config.iou_head_hidden;
    iou_head_.push_back(LoadLinear(t, p, in, out));
  }
  ws_ = std::make_unique<Workspace>();
}

namespace {

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
  RunLinear(t, q_in, a.q, q.data());
  RunLinear(t, q_in, a.k, k.data());
  RunLinear(t, v_in, a.v, v.data());
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
  RunLinear(t, o.data(), a.o, out, kernels::Epilogue::kNone, residual);
}


// Token -> image cross attention with few query tokens, computed without
// projecting the 4096 image tokens (the reference's k_proj and v_proj):
//   logit(t, j) = scale <Wq_h q_t + bq_h, Wk_h kx_j + bk_h>
//               = <scale Wk_h^T (Wq_h q_t + bq_h), kx_j> + const(t),
// and the constant cancels in the softmax; since each row of p sums to 1,
//   sum_j p(t, j) (Wv_h x_j + bv_h) = Wv_h (sum_j p(t, j) x_j) + bv_h.
// That is 2 (heads * tokens) dim n flops instead of 4 internal dim n; the
// rounding differs from the reference's order by a few float32 ulps. Both
// products over the image run with the few (head, token) rows as the GEMM's
// M side and the image as its packed B side: `xp` = keys + pe [n, dim],
// `x_t` = B [dim, n] with B^T = keys.
// ref: transformer.py Attention.forward (attn_sim: PerSAM's second softmax)
void TokenToImage(const Dims& s, const MaskDecoder::AttentionWeights& a, const float* q_in,
                  const kernels::PackedWeights& xp, const kernels::PackedWeights& x_t,
                  const float* attn_sim, float* probs, const float* residual, float* out) {
  const int t = s.tokens, in = a.internal, hd = in / a.heads, rows = a.heads * t, d = s.dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> q(static_cast<size_t>(t) * in);
  RunLinear(t, q_in, a.q, q.data());
  // m[h * t + i, c] = scale * sum_e q[i, h hd + e] Wk[h hd + e, c]
  std::vector<float> m(static_cast<size_t>(rows) * d, 0.0f);
  for (int h = 0; h < a.heads; ++h) {
    for (int i = 0; i < t; ++i) {
      float* mr = m.data() + static_cast<size_t>(h * t + i) * d;
      for (int e = 0; e < hd; ++e) {
        const float coef = scale * q[static_cast<size_t>(i) * in + h * hd + e];
        const float* wk = a.k.w.data() + static_cast<size_t>(h * hd + e) * d;
        for (int c = 0; c < d; ++c) mr[c] += coef * wk[c];
      }
    }
  }
  // probs [rows, n]: one softmax over the image per (head, token).
  kernels::Gemm(rows, m.data(), d, xp, kernels::GemmEpilogue{}, probs, s.n);
  kernels::SoftmaxRows(rows, s.n, probs, s.n);
  if (attn_sim != nullptr) {
    for (int r = 0; r < rows; ++r) kernels::Add(probs + static_cast<size_t>(r) * s.n, attn_sim,
                                                probs + static_cast<size_t>(r) * s.n, s.n);
    kernels::SoftmaxRows(rows, s.n, probs, s.n);
  }
  // px[h * t + i, c] = sum_j p(h, i, j) x[j, c]
  std::vector<float> px(static_cast<size_t>(rows) * d);
  kernels::Gemm(rows, probs, s.n, x_t, kernels::GemmEpilogue{}, px.data(), d);
  // v_all[h * t + i, :] = Wv px[h * t + i] for every head's rows; head h's
  // output is the h-th block of its own rows (8x the needed flops, but
  // rows x dim x internal is tiny and this is one packed GEMM).
  std::vector<float> v_all(static_cast<size_t>(rows) * in);
  RunLinear(rows, px.data(), a.v, v_all.data());
  std::vector<float> o(static_cast<size_t>(t) * in);
  for (int i = 0; i < t; ++i) {
    for (int h = 0; h < a.heads; ++h) {
      std::copy_n(v_all.data() + static_cast<size_t>(h * t + i) * in + h * hd, hd,
                  o.data() + static_cast<size_t>(i) * in + h * hd);
    }
  }
  RunLinear(t, o.data(), a.o, out, kernels::Epilogue::kNone, residual);
}

// Image -> token cross attention, x updated in place (x += attention out),
// again without projecting the image tokens: with kp = k_proj(keys), vp =
// v_proj(values) of the few tokens,
//   logit(j, h, i) = <scale Wq_h^T kp_h[i], xp_j> + scale <bq_h, kp_h[i]>,
//   out_j = sum_h sum_i p(j, h, i) (Wo_h vp_h[i]) + bo.
// The logits are computed as [heads * tokens, n] (the image is the packed B
// side, as above). The rest is per position and left to the caller's block
// loop (MaskDecoder::Run): each (head, position) softmax down a column of
// the logits, with the per-row bias `nbias`, and the product with `up`, the
// packed [dim, heads * tokens] matrix of the Wo_h vp_h[i]:
// x = probs^T up^T + bo + x.
// ref: transformer.py TwoWayAttentionBlock.forward (cross_attn_image_to_token)
void ImageToToken(const Dims& s, const MaskDecoder::AttentionWeights& a, const float* k_in,
                  const float* v_in, const kernels::PackedWeights& xp, float* logits,
                  std::vector<float>* nbias_out, kernels::PackedWeights* up) {
  const int t = s.tokens, in = a.internal, hd = in / a.heads, rows = a.heads * t, d = s.dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> kp(static_cast<size_t>(t) * in), vp(kp.size());
  RunLinear(t, k_in, a.k, kp.data());
  RunLinear(t, v_in, a.v, vp.data());
  std::vector<float> nmat(static_cast<size_t>(rows) * d, 0.0f), nbias(rows, 0.0f);
  std::vector<float> ut(static_cast<size_t>(d) * rows, 0.0f);  // [d, rows]
  for (int h = 0; h < a.heads; ++h) {
    for (int i = 0; i < t; ++i) {
      const int r = h * t + i;
      float* nr = nmat.data() + static_cast<size_t>(r) * d;
      float bias = 0.0f;
      for (int e = 0; e < hd; ++e) {
        const float coef = scale * kp[static_cast<size_t>(i) * in + h * hd + e];
        const float* wq = a.q.w.data() + static_cast<size_t>(h * hd + e) * d;
        for (int c = 0; c < d; ++c) nr[c] += coef * wq[c];
        bias += coef * a.q.b[h * hd + e];
      }
      nbias[r] = bias;
      for (int c = 0; c < d; ++c) {
        const float* wo = a.o.w.data() + static_cast<size_t>(c) * in + h * hd;
        const float* vr = vp.data() + static_cast<size_t>(i) * in + h * hd;
        float acc = 0.0f;
        for (int e = 0; e < hd; ++e) acc += wo[e] * vr[e];
        ut[static_cast<size_t>(c) * rows + r] = acc;
      }
    }
  }
  kernels::Gemm(rows, nmat.data(), d, xp, kernels::GemmEpilogue{}, logits, s.n);
  up->Repack(ut.data(), d, rows, rows);
  *nbias_out = std::move(nbias);
}

// out[j, r] = in[r, j] for r < rows, j < cols (in: row stride ldi): a block
// of positions of the [heads * tokens, n] attention as the GEMM's A rows.
// Rows of `in` outer: each 4-row group is read along its lines, and the
// output block (a few lines per output row) stays in L1 while its 16-float
// lines fill; columns outer would walk `in` down its rows, whose
// power-of-two stride (4096 floats) maps them all to one cache set.
void TransposeSlab(const float* in, int64_t ldi, int rows, int cols, float* out) {
  const int rows4 = rows & ~3, cols4 = cols & ~3;
  for (int r = 0; r < rows4; r += 4) {
    for (int j = 0; j < cols4; j += 4) kernels::TransposeBlock4(in + r * ldi + j, ldi, out + j * rows + r, rows);
    for (int j = cols4; j < cols; ++j) {
      for (int i = r; i < r + 4; ++i) out[j * rows + i] = in[i * ldi + j];
    }
  }
  for (int r = rows4; r < rows; ++r) {
    for (int j = 0; j < cols; ++j) out[j * rows + r] = in[r * ldi + j];
  }
}

}  // namespace

// ref: mask_decoder.py MaskDecoder.predict_masks, transformer.py TwoWayTransformer.forward
void MaskDecoder::Run(const MaskDecoderInputs& in, float* masks, float* scores, StageTimings* timings) const {
  if (in.first_mask < 0 || in.num_masks <= 0 || in.first_mask + in.num_masks > num_mask_tokens_) {
    throw Error("mask decoder: mask range out of bounds");
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Two stages, so --verbose shows where the decoder's time goes.
  auto transformer_stage = std::make_unique<ScopedStage>(timings, "mask_decoder.transformer");
  const int d = dim_, n = grid_ * grid_;
  const int t = 1 + num_mask_tokens_ + in.num_sparse;
  const int rows = heads_ * t;
  const int s2 = 4 * grid_;
  Workspace& w = *ws_;
  w.Reserve(static_cast<size_t>(n), d, rows);
  const Dims dims{n, d, t};

  // Tokens: [iou, mask tokens, sparse]. In the reference, `queries` and
  // `point_embedding` (the tokens' positional encoding) are one tensor and
  // `queries += target_embedding` before block 0 updates both in place, so
  // the encoding carries the target embedding from then on.
  std::vector<float> qpe(static_cast<size_t>(t) * d);
  std::copy(output_tokens_.begin(), output_tokens_.end(), qpe.begin());
  if (in.num_sparse > 0) std::copy(in.sparse, in.sparse + static_cast<size_t>(in.num_sparse) * d,
                                   qpe.begin() + output_tokens_.size());
  if (in.target_embedding != nullptr) {
    for (int i = 0; i < t; ++i) kernels::Add(qpe.data() + static_cast<size_t>(i) * d, in.target_embedding,
                                             qpe.data() + static_cast<size_t>(i) * d, d);
  }
  std::vector<float> q = qpe, tmp(qpe.size()), tmp2(static_cast<size_t>(t) * d);
  std::vector<float> hidden;

  // Image side: src = embedding + dense prompt embedding, channel-last (x),
  // and block 0's packed keys, per block of positions in one parallel loop
  // (as at the end of each block below): a block is transposed, summed and
  // packed while it is in L2.
  constexpr int kBlock = 4 * static_cast<int>(kernels::kGemmNR);  // whole xp panels
  const int pos_blocks = (n + kBlock - 1) / kBlock;
  w.xp.Resize(n, d);
  w.x_t.Resize(d, n);
#pragma omp parallel
  {
    std::vector<float> dense_rows(in.dense_chw != nullptr ? static_cast<size_t>(kBlock) * d : 0);
#pragma omp for schedule(dynamic, 1)
    for (int blk = 0; blk < pos_blocks; ++blk) {
      const int r0 = blk * kBlock, r1 = std::min(n, r0 + kBlock);
      float* xb = w.x.data() + static_cast<size_t>(r0) * d;
      TransposeSlab(in.embedding + r0, n, d, r1 - r0, xb);
      if (in.dense_chw != nullptr) {
        TransposeSlab(in.dense_chw + r0, n, d, r1 - r0, dense_rows.data());
        kernels::Add(xb, dense_rows.data(), xb, static_cast<size_t>(r1 - r0) * d);
      } else {
        for (int j = 0; j < r1 - r0; ++j) {
          kernels::Add(xb + static_cast<size_t>(j) * d, in.dense_channel, xb + static_cast<size_t>(j) * d, d);
        }
      }
      w.xp.RepackRows(w.x.data(), d, r0, r1, &pe_packed_);
      w.x_t.RepackTransposedRows(w.x.data(), d, r0, r1);
    }
  }

  auto add_rows = [](const float* a, const float* b, float* out, size_t count) { kernels::Add(a, b, out, count); };
  const size_t tok = static_cast<size_t>(t) * d;
  for (size_t bi = 0; bi < blocks_.size(); ++bi) {
    const Block& b = blocks_[bi];
    if (bi > 0 && in.target_embedding != nullptr) {
      for (int i = 0; i < t; ++i) kernels::Add(q.data() + static_cast<size_t>(i) * d, in.target_embedding,
                                               q.data() + static_cast<size_t>(i) * d, d);
    }
    // (1) self attention; block 0 replaces the queries (no pe, no residual).
    if (bi == 0) {
      SelfAttention(dims, b.self_attn, q.data(), q.data(), nullptr, tmp.data());
    } else {
      add_rows(q.data(), qpe.data(), tmp2.data(), tok);
      SelfAttention(dims, b.self_attn, tmp2.data(), q.data(), q.data(), tmp.data());
    }
    kernels::LayerNormRows(t, d, tmp.data(), d, b.norm1.w.data(), b.norm1.b.data(), kLayerNormEps, q.data(), d);
    // (2) tokens -> image, with PerSAM's attn_sim.
    // The image side of both cross attentions: keys + pe and keys, packed
    // once per block (the keys change only at the end of the block, where
    // they are packed for the next one; block 0's come with the input).
    add_rows(q.data(), qpe.data(), tmp2.data(), tok);
    TokenToImage(dims, b.token_to_image, tmp2.data(), w.xp, w.x_t, in.attn_sim, w.probs_t.data(), q.data(),
                 tmp.data());
    kernels::LayerNormRows(t, d, tmp.data(), d, b.norm2.w.data(), b.norm2.b.data(), kLayerNormEps, q.data(), d);
    // (3) MLP (ReLU).
    hidden.resize(static_cast<size_t>(t) * b.mlp1.out);
    RunLinear(t, q.data(), b.mlp1, hidden.data(), kernels::Epilogue::kRelu);
    RunLinear(t, hidden.data(), b.mlp2, tmp.data(), kernels::Epilogue::kNone, q.data());
    kernels::LayerNormRows(t, d, tmp.data(), d, b.norm3.w.data(), b.norm3.b.data(), kLayerNormEps, q.data(), d);
    // (4) image -> tokens, residual on the image side. Everything after the
    // logits is per position: the softmaxes, the transpose into the
    // product's A rows, the product, norm4 and the packing of the new keys
    // for the next attention (the next block's or the final one). So it runs
    // in blocks of positions in one parallel loop, each block in L2 from the
    // softmax to the packings, where whole-image passes each streamed 4 MB
    // and each took a parallel region. Every value is computed as in
    // whole-image calls.
    add_rows(q.data(), qpe.data(), tmp2.data(), tok);
    std::vector<float> nbias;
    ImageToToken(dims, b.image_to_token, tmp2.data(), q.data(), w.xp, w.probs_t.data(), &nbias, &w.up);
    const int heads = b.image_to_token.heads, rows = heads * t;
#pragma omp parallel
    {
      std::vector<float> probs(static_cast<size_t>(kBlock) * rows);  // [positions, rows]
#pragma omp for schedule(dynamic, 1)
      for (int blk = 0; blk < pos_blocks; ++blk) {
        const int r0 = blk * kBlock, r1 = std::min(n, r0 + kBlock);
        for (int h = 0; h < heads; ++h) {
          kernels::SoftmaxColumns(t, r1 - r0, w.probs_t.data() + static_cast<size_t>(h) * t * n + r0, n,
                                  nbias.data() + h * t);
        }
        TransposeSlab(w.probs_t.data() + r0, n, rows, r1 - r0, probs.data());
        float* xb = w.x.data() + static_cast<size_t>(r0) * d;
        kernels::GemmEpilogue ep;
        ep.bias = b.image_to_token.o.b.data();
        ep.residual = xb;
        ep.ldr = d;
        kernels::Gemm(r1 - r0, probs.data(), rows, w.up, ep, xb, d);
        kernels::LayerNormRows(r1 - r0, d, xb, d, b.norm4.w.data(), b.norm4.b.data(), kLayerNormEps, xb, d);
        w.xp.RepackRows(w.x.data(), d, r0, r1, &pe_packed_);
        w.x_t.RepackTransposedRows(w.x.data(), d, r0, r1);
      }
    }
  }
  // Final token -> image attention: q = queries + pe (+ target embedding
  // again); the keys were packed at the end of the last block.
  add_rows(q.data(), qpe.data(), tmp2.data(), tok);
  if (in.target_embedding != nullptr) {
    for (int i = 0; i < t; ++i) kernels::Add(tmp2.data() + static_cast<size_t>(i) * d, in.target_embedding,
                                             tmp2.data() + static_cast<size_t>(i) * d, d);
  }
  // Only the iou token and the selected mask tokens are read after this
  // attention (it is per token, and its image-side products scale with the
  // token count), so just those are gathered: fin rows are [iou, selected
  // mask tokens]. Each row's result is the same as in the full batch.
  const int kept = 1 + in.num_masks;
  std::vector<float> fin_q(static_cast<size_t>(kept) * d), fin_res(fin_q.size()), fin(fin_q.size());
  for (int r = 0; r < kept; ++r) {
    const size_t from = static_cast<size_t>(r == 0 ? 0 : 1 + in.first_mask + r - 1) * d;
    std::copy_n(tmp2.data() + from, d, fin_q.data() + static_cast<size_t>(r) * d);
    std::copy_n(q.data() + from, d, fin_res.data() + static_cast<size_t>(r) * d);
  }
  const Dims final_dims{n, d, kept};
  TokenToImage(final_dims, final_attn_, fin_q.data(), w.xp, w.x_t, nullptr, w.probs_t.data(), fin_res.data(),
               tmp.data());
  kernels::LayerNormRows(kept, d, tmp.data(), d, norm_final_.w.data(), norm_final_.b.data(), kLayerNormEps,
                         fin.data(), d);

  transformer_stage.reset();
  ScopedStage upscale_stage(timings, "mask_decoder.masks");

  // Hypernetwork MLPs of the selected mask tokens (masks = hyper @ map).
  std::vector<float> hyper(static_cast<size_t>(in.num_masks) * up1_out_);
  std::vector<float> h0(d), h1(d);
  for (int i = 0; i < in.num_masks; ++i) {
    const auto& mlp = hyper_[in.first_mask + i];
    RunLinear(1, fin.data() + static_cast<size_t>(1 + i) * d, mlp[0], h0.data(), kernels::Epilogue::kRelu);
    RunLinear(1, h0.data(), mlp[1], h1.data(), kernels::Epilogue::kRelu);
    RunLinear(1, h1.data(), mlp[2], hyper.data() + static_cast<size_t>(i) * up1_out_);
  }

  // ref: mask_decoder.py predict_masks: output_upscaling (ConvTranspose, LN2d,
  // GELU, ConvTranspose, GELU), then masks = hyper_in @ upscaled. Each 2x2
  // stride-2 transposed convolution is one GEMM whose rows or columns hold a
  // pixel's 4 children; the children are never scattered into an image
  // until the final masks: LN2d, GELU and the mask product are per pixel.
  // The first GEMM's rows are positions p = y * grid + x, its columns
  // (c1, channel), so up0 is [(p, c1), up0_out]. The second runs transposed,
  // weights as A: up1 = W1 up0^T is [(c2, channel), (p, c1)], so the bias,
  // GELU and the product with the hypernetwork outputs sweep whole vectors of
  // pixels (GeluBiasColumnsProduct: vertical FMAs, no horizontal sums) and
  // up1 only lives in L2. Mask pixel of (p, c1, c2), c = dy * 2 + dx:
  // (4 y + 2 dy1 + dy2, 4 x + 2 dx1 + dx2).
  // Everything is per image position, so it runs in bands of grid rows, one
  // band per thread at a time (the GEMMs inside run single-threaded): a
  // band's maps stay in L2 from the first GEMM to the masks, where whole-image
  // passes would stream 24 MB through memory. Each value is computed exactly
  // as in one whole-image pass (a GEMM output does not depend on M blocking).
  // 3 grid rows = 192 positions: the first GEMM's M is exactly 16 register
  // tiles of 12 rows (2 rows: 128 = 10.7 tiles) and the second GEMM's N is
  // 768 columns per A packing; per thread the band's buffers (~1 MB) still
  // fit its L2. Single-threaded the decoder ran 32.6 instead of 33.5 ms.
  constexpr int kBandRows = 3;
  const int bands = (grid_ + kBandRows - 1) / kBandRows;
  const int nm = in.num_masks;
  const int band_cols = 4 * kBandRows * grid_;  // (p, c1) columns of a full band
  if (w.bands.size() < static_cast<size_t>(omp_get_max_threads())) w.bands.resize(omp_get_max_threads());
#pragma omp parallel
  {
    Workspace::Band& bw = w.bands[omp_get_thread_num()];
    if (bw.up0.size() < static_cast<size_t>(band_cols) * up0_out_) {
      bw.up0.resize(static_cast<size_t>(band_cols) * up0_out_);
    }
    if (bw.up1.size() < static_cast<size_t>(band_cols) * 4 * up1_out_) {
      bw.up1.resize(static_cast<size_t>(band_cols) * 4 * up1_out_);
    }
    if (bw.masks.size() < static_cast<size_t>(band_cols) * 4 * nm) {
      bw.masks.resize(static_cast<size_t>(band_cols) * 4 * nm);
    }
#pragma omp for schedule(dynamic, 1)
    for (int band = 0; band < bands; ++band) {
      const int y0 = band * kBandRows, y1 = std::min(grid_, y0 + kBandRows);
      const int positions = (y1 - y0) * grid_, first = y0 * grid_;
      const int cols = 4 * positions;
      kernels::GemmEpilogue ep0;
      ep0.bias = up0_b_.data();
      kernels::Gemm(positions, w.x.data() + static_cast<size_t>(first) * d, d, up0_packed_, ep0, bw.up0.data(),
                    4 * up0_out_);
      kernels::LayerNormGeluRows(cols, up0_out_, bw.up0.data(), up0_out_, up_norm_.w.data(), up_norm_.b.data(),
                                 kLayerNorm2dEps, bw.up0.data(), up0_out_);
      bw.up0_b.Repack(bw.up0.data(), cols, up0_out_, up0_out_);
      kernels::Gemm(4 * up1_out_, up1_rows_.data(), up0_out_, bw.up0_b, kernels::GemmEpilogue{}, bw.up1.data(),
                    cols);
      // masks[c2][m][(p, c1)] = hyper[m] . gelu(up1[(c2, :), (p, c1)] + b1).
      for (int c2 = 0; c2 < 4; ++c2) {
        kernels::GeluBiasColumnsProduct(up1_out_, cols, bw.up1.data() + static_cast<size_t>(c2) * up1_out_ * cols,
                                        cols, up1_b_.data() + c2 * up1_out_, nm, hyper.data(), up1_out_,
                                        bw.masks.data() + static_cast<size_t>(c2) * nm * cols, cols);
      }
      // Put the band's mask pixels in place, row by row (see the order above).
      for (int m = 0; m < nm; ++m) {
        for (int py = 4 * y0; py < 4 * y1; ++py) {
          const int y = py >> 2, dy1 = (py >> 1) & 1, dy2 = py & 1;
          const float* src = bw.masks.data() + static_cast<size_t>(m) * cols +
                             static_cast<size_t>(y - y0) * grid_ * 4 + dy1 * 2;
          float* dst = masks + (static_cast<size_t>(m) * s2 + py) * s2;
          for (int x = 0; x < grid_; ++x) {
            const float* sx = src + 4 * x;
            const size_t c2_stride = static_cast<size_t>(nm) * cols;
            // px = 4 x + 2 dx1 + dx2; column (p, c1) = 4 p + 2 dy1 + dx1; c2 = 2 dy2 + dx2.
            dst[4 * x + 0] = sx[(2 * dy2 + 0) * c2_stride + 0];
            dst[4 * x + 1] = sx[(2 * dy2 + 1) * c2_stride + 0];
            dst[4 * x + 2] = sx[(2 * dy2 + 0) * c2_stride + 1];
            dst[4 * x + 3] = sx[(2 * dy2 + 1) * c2_stride + 1];
          }
        }
      }
    }
  }

  // IoU head on the iou token.
  std::vector<float> a(fin.begin(), fin.begin() + d), b2;
  for (size_t i = 0; i < iou_head_.size(); ++i) {
    b2.resize(iou_head_[i].out);
    const bool last = i + 1 == iou_head_.size();
    RunLinear(1, a.data(), iou_head_[i], b2.data(), last ? kernels::Epilogue::kNone : kernels::Epilogue::kRelu);
    a.swap(b2);
  }
  for (int i = 0; i < in.num_masks; ++i) scores[i] = a[in.first_mask + i];
}

}  // namespace persam
