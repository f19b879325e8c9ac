#include "engine/vit_encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "hwy/aligned_allocator.h"
#include "kernels/attention.h"
#include "kernels/conv.h"
#include "kernels/ops.h"
#include "kernels/parallel.h"
#include "engine/packed_weights_file.h"
#include "base/error.h"
#include "weights/mapped_file.h"
#include "weights/quantized.h"

namespace persam {
namespace {

constexpr float kLayerNormEps = 1e-6f;  // ref: image_encoder.py, LayerNorm(eps=1e-6) in build_sam.py
constexpr int kInChans = 3;

const Tensor& Get(const TensorMap& tensors, const std::string& name,
                  const std::vector<int64_t>& shape) {
  return FindTensor(tensors, name, shape, "ViT encoder");
}

// Drops the resident file pages of rows [row0, row0 + rows) of `t` (each
// `row_bytes` long) once they are converted or packed: the loader then never
// holds a tensor twice (weights/mapped_file.h; a no-op for heap tensors).
void ReleaseRows(const Tensor& t, int64_t row0, int64_t rows, size_t row_bytes) {
  ReleaseFilePages(t.data + size_t(row0) * row_bytes, size_t(rows) * row_bytes);
}
void Release(const TensorMap& tensors, const std::string& name) {
  const Tensor& t = tensors.at(name);
  ReleaseFilePages(t.data, t.NumBytes());
  const auto scales = tensors.find(name + kInt8ScaleSuffix);
  if (scales != tensors.end()) ReleaseFilePages(scales->second.data, scales->second.NumBytes());
}

// Any float dtype, or int8 with scales (weights/quantized.h).
std::vector<float> Floats(const TensorMap& tensors, const std::string& name,
                          const std::vector<int64_t>& shape) {
  Get(tensors, name, shape);
  std::vector<float> values = DequantizedFloat32(tensors, name);
  Release(tensors, name);
  return values;
}

// Packs rows [row0, row0 + n) of a [rows, k] weight (any float dtype, or int8
// with per-channel scales) for `precision`, and drops the float32 copy right
// away, so conversion never holds more than one extra tensor; the packed
// rows' file pages are released (ReleaseRows). bf16 weights at bf16 and int8
// weights at int8 are packed as stored, with no conversion (the same packed
// values as from their float32 values: same rounding rule).
LinearWeights PackRows(const TensorMap& tensors, const std::string& name,
                       const std::vector<int64_t>& shape, int n, int k, Precision precision,
                       int row0) {
  const Tensor& t = Get(tensors, name, shape);
  // Stored at the precision it runs at: packed as is.
  if (precision == Precision::kInt8 && IsQuantizedInt8(tensors, name)) {
    const Tensor& scales = tensors.at(name + kInt8ScaleSuffix);
    return LinearWeights::PackInt8(reinterpret_cast<const int8_t*>(t.data) + size_t(row0) * k,
                                   reinterpret_cast<const float*>(scales.data) + row0, n, k, k);
  }
  if (precision == Precision::kBF16 && t.dtype == DType::kBF16) {
    return LinearWeights::PackBF16(reinterpret_cast<const uint16_t*>(t.data) + size_t(row0) * k, n,
                                   k, k);
  }
  if (t.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
    return LinearWeights::Pack(reinterpret_cast<const float*>(t.data) + size_t(row0) * k, n, k, k,
                               precision);
  }
  const std::vector<float> w = DequantizedFloat32(tensors, name);
  return LinearWeights::Pack(w.data() + size_t(row0) * k, n, k, k, precision);
}

LinearWeights Pack(const TensorMap& tensors, const std::string& name,
                   const std::vector<int64_t>& shape, int n, int k, Precision precision,
                   int row0 = 0) {
  if (precision == Precision::kF32) {
    // `persam convert --packed` files: the panels as stored
    // (engine/packed_weights_file.h); the plain rows are never read, so
    // there are no file pages to release.
    Get(tensors, name, shape);
    std::optional<LinearWeights> stored = FindPackedF32(tensors, name, shape[0], k, row0, n);
    if (stored) return *std::move(stored);
  }
  LinearWeights packed = PackRows(tensors, name, shape, n, k, precision, row0);
  const Tensor& t = tensors.at(name);
  ReleaseRows(t, row0, n, size_t(k) * DTypeSize(t.dtype));
  return packed;
}

// ref: image_encoder.py get_rel_pos: F.interpolate(mode="linear",
// align_corners=False) of the table along its rows when its length is not
// 2 * size - 1. Appends `out_rows` x dim values to `out`.
void AppendResizedTable(const std::vector<float>& table, int rows, int dim, int out_rows,
                        std::vector<float>* out) {
  if (rows == out_rows) {
    out->insert(out->end(), table.begin(), table.end());
    return;
  }
  // PyTorch: scale = (float)in / out, src = max(scale * (dst + 0.5) - 0.5, 0).
  const float scale = static_cast<float>(rows) / static_cast<float>(out_rows);
  for (int j = 0; j < out_rows; ++j) {
    const float src = std::max(scale * (j + 0.5f) - 0.5f, 0.0f);
    const int i0 = std::min(static_cast<int>(src), rows - 1);
    const int i1 = i0 + (i0 < rows - 1 ? 1 : 0);
    const float l1 = src - static_cast<float>(i0);
    const float l0 = 1.0f - l1;
    for (int c = 0; c < dim; ++c) {
      out->push_back(l0 * table[size_t(i0) * dim + c] + l1 * table[size_t(i1) * dim + c]);
    }
  }
}

using Buffer = hwy::AlignedFreeUniquePtr<float[]>;
Buffer Allocate(size_t n) { return hwy::AllocateAligned<float>(std::max<size_t>(n, 1)); }

}  // namespace

// Activations, sized for one 1024 x 1024 image. T = grid^2 tokens, Tp = the
// window-padded token count (70^2 for SAM), the largest any block uses.
// Buffers are shared by stages whose live ranges do not overlap (RunBlock),
// so ViT-B needs 118 MB (98 MB with MLP chunks of at most Tp / 2 rows):
// nothing holds all of q, k and v in one piece.
struct VitEncoder::Workspace {
  int tokens = 0;
  size_t rel_slab = 0;    // floats per head in rel_h / rel_w: max block tokens x window
  size_t a_floats = 0;    // Tp * C
  size_t big_floats = 0;
  int mlp_rows = 0;       // MLP hidden rows per chunk (set_mlp_chunk_rows)
  Buffer x;      // [T, C] residual stream
  Buffer a;      // [Tp, C] LN1 output, then q . table rows (RelativePositionBias),
                 // then the attention output (block order)
  Buffer b;      // [Tp, C] windowed blocks' token-order LN1 output, then q (block
                 // order), then the token-order attention output, then LN2 output
  Buffer big;    // kv [Tp, 2C] | MLP hidden [chunk rows, mlp_dim] | im2col | neck scratch
  Buffer rel_h;  // [heads][block tokens, window] decomposed bias, one slab per head
  Buffer rel_w;
};

VitEncoder::~VitEncoder() = default;

// ref: segment_anything/modeling/image_encoder.py ImageEncoderViT.__init__
VitEncoder::VitEncoder(const TensorMap& tensors, const SamConfig& config, Precision precision)
    : precision_(precision) {
  const VitConfig& vc = config.vit;
  embed_dim_ = vc.embed_dim;
  depth_ = vc.depth;
  heads_ = vc.num_heads;
  head_dim_ = vc.head_dim;
  mlp_dim_ = vc.mlp_dim;
  patch_ = vc.patch_size;
  grid_ = vc.grid;
  image_size_ = config.image_size;
  if (embed_dim_ <= 0 || depth_ <= 0 || heads_ <= 0 || head_dim_ * heads_ != embed_dim_ ||
      mlp_dim_ <= 0 || patch_ <= 0 || grid_ * patch_ != image_size_) {
    throw Error("ViT encoder: inconsistent config (embed " + std::to_string(embed_dim_) +
                ", depth " + std::to_string(depth_) + ", heads " + std::to_string(heads_) +
                " x " + std::to_string(head_dim_) + ", mlp " + std::to_string(mlp_dim_) +
                ", patch " + std::to_string(patch_) + ", grid " + std::to_string(grid_) +
                ", image " + std::to_string(image_size_) + ")");
  }
  const int64_t C = embed_dim_, hd = head_dim_, M = mlp_dim_;
  const std::string p = "image_encoder.";

  const int patch_k = kInChans * patch_ * patch_;
  patch_w_ = Pack(tensors, p + "patch_embed.proj.weight", {C, kInChans, patch_, patch_},
                  embed_dim_, patch_k, precision);
  patch_b_ = Floats(tensors, p + "patch_embed.proj.bias", {C});
  pos_embed_ = Floats(tensors, p + "pos_embed", {1, grid_, grid_, C});

  blocks_.resize(depth_);
  for (int i = 0; i < depth_; ++i) {
    Block& blk = blocks_[i];
    const std::string b = p + "blocks." + std::to_string(i) + ".";
    blk.global = vc.window_size <= 0 ||
                 std::find(vc.global_blocks.begin(), vc.global_blocks.end(), i) !=
                     vc.global_blocks.end();
    // ref: Block.__init__: input_size = (window, window) for windowed blocks.
    blk.window = blk.global ? grid_ : vc.window_size;
    blk.norm1_w = Floats(tensors, b + "norm1.weight", {C});
    blk.norm1_b = Floats(tensors, b + "norm1.bias", {C});
    blk.norm2_w = Floats(tensors, b + "norm2.weight", {C});
    blk.norm2_b = Floats(tensors, b + "norm2.bias", {C});
    // The qkv Linear as two GEMMs, q ([C, C]) and kv ([2C, C]): q then lies
    // in its own [tokens, heads, head_dim] buffer, i.e. [tokens * heads,
    // head_dim] rows, which the relative-position product reads in one call.
    blk.q = Pack(tensors, b + "attn.qkv.weight", {3 * C, C}, embed_dim_, embed_dim_, precision);
    blk.kv = Pack(tensors, b + "attn.qkv.weight", {3 * C, C}, 2 * embed_dim_, embed_dim_,
                  precision, /*row0=*/embed_dim_);
    blk.qkv_b = Floats(tensors, b + "attn.qkv.bias", {3 * C});
    blk.proj = Pack(tensors, b + "attn.proj.weight", {C, C}, embed_dim_, embed_dim_, precision);
    blk.proj_b = Floats(tensors, b + "attn.proj.bias", {C});
    blk.lin1 = Pack(tensors, b + "mlp.lin1.weight", {M, C}, mlp_dim_, embed_dim_, precision);
    blk.lin1_b = Floats(tensors, b + "mlp.lin1.bias", {M});
    blk.lin2 = Pack(tensors, b + "mlp.lin2.weight", {C, M}, embed_dim_, mlp_dim_, precision);
    blk.lin2_b = Floats(tensors, b + "mlp.lin2.bias", {C});
    const int rel_rows = 2 * blk.window - 1;
    for (const char* axis : {"attn.rel_pos_h", "attn.rel_pos_w"}) {
      const Tensor& t = Get(tensors, b + axis, {});
      if (t.shape.size() != 2 || t.shape[1] != hd || t.shape[0] < 1) {
        throw Error("ViT encoder: tensor '" + b + axis + "' has shape " +
                    ShapeToString(t.shape) + ", expected [L, " + std::to_string(hd) + "]");
      }
      AppendResizedTable(t.ToFloat32(), static_cast<int>(t.shape[0]), head_dim_, rel_rows,
                         &blk.rel_table);
      Release(tensors, b + axis);
    }
  }

  // The neck's GEMMs feed the embedding directly: see NeckPrecision.
  neck_ = SamNeck(tensors, p, embed_dim_, NeckPrecision(precision), "ViT encoder");
  out_chans_ = neck_.out_chans();
}

size_t VitEncoder::WeightBytes() const {
  auto packed = [](const LinearWeights& w) { return w.Bytes(); };
  size_t bytes = packed(patch_w_) + neck_.WeightBytes() +
                 4 * (patch_b_.size() + pos_embed_.size());
  for (const Block& b : blocks_) {
    bytes += packed(b.q) + packed(b.kv) + packed(b.proj) + packed(b.lin1) + packed(b.lin2);
    bytes += 4 * (b.qkv_b.size() + b.proj_b.size() + b.lin1_b.size() + b.lin2_b.size() +
                  b.rel_table.size() + 4 * size_t(embed_dim_));
  }
  return bytes;
}

// Decomposed relative position bias of one block for every head, into
// ws.rel_h / ws.rel_w ([head][token in block order][window]).
// ref: image_encoder.py add_decomposed_rel_pos, with the UNSCALED q:
//   rel_h[q, kh] = <q, Rh[qh - kh + S - 1]>, rel_w[q, kw] = <q, Rw[qw - kw + S - 1]>.
// One GEMM per chunk of tokens computes q . every table row for all heads at
// once (q rows [tokens * heads, head_dim]; Rh and Rw rows stacked: n =
// 2 (2S - 1)); the gather then picks the S entries each query needs. That is
// twice the minimal work, but one well-shaped product per block instead of
// thousands of S x S x head_dim ones.
void VitEncoder::RelativePositionBias(const Block& block, Workspace& ws, int tokens) const {
  const int S = block.window, L = 2 * S - 1, window_tokens = S * S, H = heads_;
  const size_t row_floats = size_t(H) * 2 * L;  // per token
  // `a` is free between the qkv GEMMs (its input) and the attention (its output).
  const int chunk = static_cast<int>(std::max<size_t>(1, ws.a_floats / row_floats));
  const float* q = ws.b.get();
  float* dots_buffer = ws.a.get();
  for (int t0 = 0; t0 < tokens; t0 += chunk) {
    const int n_tok = std::min(chunk, tokens - t0);
    kernels::GemmABt(n_tok * H, 2 * L, head_dim_, 1.0f, q + size_t(t0) * embed_dim_, head_dim_,
                     block.rel_table.data(), head_dim_, dots_buffer, 2 * L);
    const float* dots = dots_buffer;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n_tok; ++i) {
      const int t = t0 + i;
      const int local = t % window_tokens;
      const int qh = local / S, qw = local % S;
      for (int h = 0; h < H; ++h) {
        const float* d = dots + (size_t(i) * H + h) * 2 * L;
        float* oh = ws.rel_h.get() + size_t(h) * ws.rel_slab + size_t(t) * S;
        float* ow = ws.rel_w.get() + size_t(h) * ws.rel_slab + size_t(t) * S;
        for (int k = 0; k < S; ++k) {
          oh[k] = d[qh - k + S - 1];
          ow[k] = d[L + qw - k + S - 1];
        }
      }
    }
  }
}

// ref: image_encoder.py Block.forward and Attention.forward.
void VitEncoder::RunBlock(const Block& blk, Workspace& ws, StageTimings* timings) const {
  const int C = embed_dim_, G = grid_, T = ws.tokens;
  const int S = blk.window;
  const int per_side = (G + S - 1) / S;  // windows per side (Hp / S)
  const int padded_side = per_side * S;
  const int block_tokens = blk.global ? T : padded_side * padded_side;
  const int window_tokens = S * S;
  const int num_windows = blk.global ? 1 : per_side * per_side;

  {
    ScopedStage stage(timings, "encoder.blocks.norm");
    if (blk.global) {
      // x = self.norm1(x)
      kernels::LayerNormRows(T, C, ws.x.get(), C, blk.norm1_w.data(), blk.norm1_b.data(),
                             kLayerNormEps, ws.a.get(), C);
    } else {
      kernels::LayerNormRows(T, C, ws.x.get(), C, blk.norm1_w.data(), blk.norm1_b.data(),
                             kLayerNormEps, ws.b.get(), C);
      // ref: window_partition: F.pad with zero tokens to a multiple of the
      // window, then window-major order. Zero rows make the padded tokens'
      // q/k/v equal to the qkv bias, as in the reference (not masked).
      float* dst = ws.a.get();
      const float* src = ws.b.get();
#pragma omp parallel for schedule(static)
      for (int row = 0; row < padded_side; ++row) {
        const int wr = row / S, r = row % S;
        for (int wc = 0; wc < per_side; ++wc) {
          float* out = dst + (size_t(wr * per_side + wc) * window_tokens + size_t(r) * S) * C;
          for (int c = 0; c < S; ++c) {
            const int col = wc * S + c;
            if (row < G && col < G) {
              std::memcpy(out + size_t(c) * C, src + (size_t(row) * G + col) * C,
                          sizeof(float) * C);
            } else {
              std::memset(out + size_t(c) * C, 0, sizeof(float) * C);
            }
          }
        }
      }
    }
  }
  {
    // qkv = self.qkv(x): columns (3, heads, head_dim), computed as q [Tp, C]
    // in `b` and kv [Tp, 2C] (k then v) in `big`.
    ScopedStage stage(timings, "encoder.blocks.qkv");
    kernels::GemmEpilogue ep;
    ep.bias = blk.qkv_b.data();
    blk.q.Apply(block_tokens, ws.a.get(), C, ep, ws.b.get(), C);
    ep.bias = blk.qkv_b.data() + C;
    blk.kv.Apply(block_tokens, ws.a.get(), C, ep, ws.big.get(), 2 * C);
  }
  {
    ScopedStage stage(timings, "encoder.blocks.rel_pos");
    RelativePositionBias(blk, ws, block_tokens);
  }
  {
    // attn = softmax((q * scale) @ k^T + rel bias) @ v, per (window, head);
    // the output goes to [tokens, C] with heads side by side, which is the
    // reference's permute(0, 2, 3, 1, 4).reshape(B, H, W, -1).
    ScopedStage stage(timings, "encoder.blocks.attention");
    float* out = ws.a.get();
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
    std::vector<kernels::AttentionArgs> items(size_t(num_windows) * heads_);
    for (int w = 0; w < num_windows; ++w) {
      for (int h = 0; h < heads_; ++h) {
        kernels::AttentionArgs& it = items[size_t(w) * heads_ + h];
        const size_t row0 = size_t(w) * window_tokens;
        it.num_queries = window_tokens;
        it.num_keys = window_tokens;
        it.head_dim = head_dim_;
        it.q = ws.b.get() + row0 * C + size_t(h) * head_dim_;
        it.q_stride = C;
        it.k = ws.big.get() + row0 * 2 * C + size_t(h) * head_dim_;
        it.v = it.k + C;
        it.k_stride = it.v_stride = 2 * C;
        it.out = out + row0 * C + size_t(h) * head_dim_;
        it.out_stride = C;
        it.scale = scale;
        const size_t rel0 = size_t(h) * ws.rel_slab + row0 * S;
        it.rel_h = ws.rel_h.get() + rel0;
        it.rel_w = ws.rel_w.get() + rel0;
        it.key_rows = S;
        it.key_cols = S;
      }
    }
    // bf16 / int8 models: the two products on bf16 operands, the bias and
    // softmax in float32 (AttentionPrecision, engine/precision.h).
    if (AttentionPrecision(precision_) == Precision::kF32) {
      kernels::AttentionBatch(items.data(), static_cast<int>(items.size()));
    } else {
      kernels::AttentionBatchBF16(items.data(), static_cast<int>(items.size()));
    }
  }
  {
    ScopedStage stage(timings, "encoder.blocks.proj");
    const float* attn = ws.a.get();
    if (!blk.global) {
      // ref: window_unpartition: back to grid order, padding cropped.
      const float* src = ws.a.get();
      float* dst = ws.b.get();
      attn = dst;
#pragma omp parallel for schedule(static)
      for (int row = 0; row < G; ++row) {
        const int wr = row / S, r = row % S;
        for (int col = 0; col < G; ++col) {
          const int wc = col / S, c = col % S;
          std::memcpy(dst + (size_t(row) * G + col) * C,
                      src + (size_t(wr * per_side + wc) * window_tokens + size_t(r) * S + c) * C,
                      sizeof(float) * C);
        }
      }
    }
    // x = shortcut + self.proj(attn): bias and residual fused into the GEMM.
    kernels::GemmEpilogue ep;
    ep.bias = blk.proj_b.data();
    ep.residual = ws.x.get();
    ep.ldr = C;
    blk.proj.Apply(T, attn, C, ep, ws.x.get(), C);
  }
  {
    ScopedStage stage(timings, "encoder.blocks.norm");
    kernels::LayerNormRows(T, C, ws.x.get(), C, blk.norm2_w.data(), blk.norm2_b.data(),
                           kLayerNormEps, ws.b.get(), C);
  }
  {
    ScopedStage stage(timings, "encoder.blocks.mlp");
    Mlp(blk, ws);
  }
}

// ref: common.py MLPBlock: lin2(act(lin1(x))), x = x + mlp(norm2(x)), on
// chunks of token rows (LN2 output in `b`, hidden in `big`): rows are
// independent, so chunking changes nothing but the hidden buffer's size.
void VitEncoder::Mlp(const Block& blk, Workspace& ws) const {
  const int C = embed_dim_, T = ws.tokens;
  const int chunk = ws.mlp_rows;
  for (int r0 = 0; r0 < T; r0 += chunk) {
    const int rows = std::min(chunk, T - r0);
    float* x = ws.x.get() + size_t(r0) * C;
    kernels::GemmEpilogue ep1;
    ep1.bias = blk.lin1_b.data();
    ep1.activation = kernels::Epilogue::kGelu;
    blk.lin1.Apply(rows, ws.b.get() + size_t(r0) * C, C, ep1, ws.big.get(), mlp_dim_);
    kernels::GemmEpilogue ep2;
    ep2.bias = blk.lin2_b.data();
    ep2.residual = x;
    ep2.ldr = C;
    blk.lin2.Apply(rows, ws.big.get(), mlp_dim_, ep2, x, C);
  }
}

std::unique_ptr<VitEncoder::Workspace> VitEncoder::NewWorkspace() const {
  const int C = embed_dim_, G = grid_, T = G * G;
  auto ws = std::make_unique<Workspace>();
  ws->tokens = T;
  size_t Tp = T;
  for (const Block& b : blocks_) {
    const size_t side = b.global ? G : size_t(G + b.window - 1) / b.window * b.window;
    Tp = std::max(Tp, side * side);
    ws->rel_slab = std::max(ws->rel_slab, side * side * b.window);
  }
  ws->a_floats = Tp * C;
  // The MLP hidden activation shares the kv buffer: whole it is [T, 4C],
  // 20 MB more than kv for ViT-B; chunks of <= Tp / 2 rows fit in kv.
  ws->mlp_rows = mlp_chunk_rows_ > 0 ? std::min(mlp_chunk_rows_, T) : T;
  ws->big_floats = std::max({Tp * 2 * C, size_t(T) * kInChans * patch_ * patch_,
                             neck_.ScratchFloats(G), size_t(ws->mlp_rows) * mlp_dim_});
  ws->x = Allocate(size_t(T) * C);
  ws->a = Allocate(ws->a_floats);
  ws->b = Allocate(ws->a_floats);
  ws->big = Allocate(ws->big_floats);
  ws->rel_h = Allocate(size_t(heads_) * ws->rel_slab);
  ws->rel_w = Allocate(size_t(heads_) * ws->rel_slab);
  return ws;
}

size_t VitEncoder::WorkspaceBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!workspace_) return 0;
  const Workspace& ws = *workspace_;
  return sizeof(float) * (size_t(ws.tokens) * embed_dim_ + 2 * ws.a_floats + ws.big_floats +
                          2 * size_t(heads_) * ws.rel_slab);
}

void VitEncoder::ReleaseScratch() const {
  std::lock_guard<std::mutex> lock(mutex_);
  workspace_.reset();
}

// ref: segment_anything/modeling/image_encoder.py ImageEncoderViT.forward
void VitEncoder::Encode(const float* input, float* embedding, StageTimings* timings,
                        const ActivationHook& hook) const {
  std::lock_guard<std::mutex> lock(mutex_);
  // Fewer threads when other processes hold cores (kernels/parallel.h).
  const kernels::ScopedThreadCount threads(kernels::ThreadsForLongStage());
  const int C = embed_dim_, G = grid_, T = G * G, O = out_chans_;
  if (!workspace_) workspace_ = NewWorkspace();
  Workspace& ws = *workspace_;

  {
    // ref: PatchEmbed.forward: Conv2d(k = s = patch) then permute to B H W C,
    // as im2col (one row per patch) x the [C, 3 * p * p] weight.
    ScopedStage stage(timings, "encoder.patch_embed");
    kernels::Im2ColChw(input, kInChans, image_size_, image_size_, patch_, patch_, 0,
                       ws.big.get());
    kernels::GemmEpilogue ep;
    ep.bias = patch_b_.data();
    patch_w_.Apply(T, ws.big.get(), kInChans * patch_ * patch_, ep, ws.x.get(), C);
    if (hook) hook("patch_embed", ws.x.get(), {1, G, G, C});
    // x = x + self.pos_embed
    kernels::Add(ws.x.get(), pos_embed_.data(), ws.x.get(), size_t(T) * C);
  }
  for (int i = 0; i < depth_; ++i) {
    RunBlock(blocks_[i], ws, timings);
    if (hook) hook("blocks." + std::to_string(i), ws.x.get(), {1, G, G, C});
  }
  {
    // ref: ImageEncoderViT.neck (engine/neck.h)
    ScopedStage stage(timings, "encoder.neck");
    neck_.Run(ws.x.get(), G, ws.big.get(), embedding);
  }
  if (hook) hook("neck", embedding, {1, O, G, G});
}

std::unique_ptr<ImageEncoder> MakeVitEncoder(const TensorMap& tensors, const SamConfig& config) {
  return std::make_unique<VitEncoder>(tensors, config);
}

std::unique_ptr<ImageEncoder> MakeVitEncoder(const TensorMap& tensors, const SamConfig& config,
                                             Precision precision) {
  return std::make_unique<VitEncoder>(tensors, config, precision);
}

}  // namespace persam
