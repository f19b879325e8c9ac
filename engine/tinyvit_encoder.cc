// MobileSAM's TinyViT image encoder: [3, S, S] -> [256, 64, 64].
//
// Layout: activations are channel-last token matrices [h * w, c] throughout
// (the reference's (B, L, C) tokens, and its NCHW convs transposed), so every
// 1x1 conv and Linear is one GEMM with the bias / GELU / residual fused into
// its store. BatchNorms are folded into the convs at load. Big intermediate
// maps (stage 0: 256 x 256 x 256) are produced a band of rows at a time.
//
// ref: MobileSAM mobile_sam/modeling/tiny_vit_sam.py
#include "engine/tinyvit_encoder.h"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/huge_page_buffer.h"
#include "engine/image_encoder.h"
#include "engine/linear.h"
#include "engine/neck.h"
#include "kernels/conv_rows.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "kernels/parallel.h"
#include "kernels/window_attention.h"
#include "base/error.h"

namespace persam {
namespace {

using kernels::Epilogue;
using kernels::GemmEpilogue;

// Band sizes: about this many floats in the largest per-band buffer (4 MB),
// which keeps a band's intermediates in L2/L3 and the peak RSS low.
constexpr int64_t kBandFloats = int64_t{1} << 20;
// Rows of tokens per MLP chunk: the [rows, 4C] hidden is 5 MB at the widest
// stage of vit_t (C = 320); 4096 rows made it 21 MB, the largest scratch
// buffer of an encode (issue 21: peak RSS on small boards), while 1024 rows
// still give the GEMM full-size row blocks.
constexpr int kMlpChunkRows = 1024;

// The scratch of one Encode, kept by the encoder and reused by its next
// call: fresh allocations of tens of MB cost ~12k page faults (~50 MB of
// page zeroing) per encode. Each slot is reused by steps that never need it
// at the same time (~34 MB in all for vit_t at 1024 x 1024). The slots are
// on transparent huge pages where the kernel allows them: the first encode
// of a process (every `persam segment`) then takes ~20 faults instead of
// ~8k at ~10 us each in this VM (patch embedding 116 -> 52 ms, the whole
// command ~90 ms faster). Aligned, not zero-filled (every element is
// written before it is read).
class Workspace {
 public:
  enum Slot {
    kX,     // stage tokens
    kY,     // second token buffer (block temporaries, bottleneck outputs)
    kBig,   // MLP hidden | bottleneck hidden | patch-embed mid | neck
    kMid,   // MLP LayerNorm | bottleneck depthwise output
    kCols,  // 3x3 im2col band | qkv of one row of windows
    kBias,  // one block's attention bias, expanded (TinyVitBlock::ExpandBias)
    kSlots
  };
  // A buffer of at least n floats (contents unspecified). Growing frees
  // the old buffer first, so that both never count towards the peak RSS.
  float* Get(Slot slot, size_t n) {
    buf_[slot].Reserve(n);
    return buf_[slot].data();
  }

 private:
  HugePageBuffer buf_[kSlots];
};

std::vector<float> Load(const TensorMap& tensors, const std::string& name,
                        const std::vector<int64_t>& shape) {
  return FindTensor(tensors, name, shape, "TinyViT encoder").ToFloat32();
}

void CheckConv(const FoldedConv& conv, const std::string& name, int out, int in_per_group,
               int kernel) {
  if (conv.out_channels != out || conv.in_per_group != in_per_group || conv.kernel != kernel) {
    throw Error("TinyViT encoder: tensor " + name + ".c.weight has shape [" +
                std::to_string(conv.out_channels) + ", " + std::to_string(conv.in_per_group) +
                ", " + std::to_string(conv.kernel) + ", " + std::to_string(conv.kernel) +
                "], expected [" + std::to_string(out) + ", " + std::to_string(in_per_group) +
                ", " + std::to_string(kernel) + ", " + std::to_string(kernel) + "]");
  }
}

// A dense k x k conv (k = 1 or 3) as GEMM weights, im2col column order,
// packed for the encoder's precision (the BN-folded weights are what gets
// rounded to bf16 / quantised per output channel).
struct DenseConv {
  int cin = 0, cout = 0, kernel = 1;
  LinearWeights packed;
  std::vector<float> bias;
};

DenseConv MakeDense(const FoldedConv& f, Precision precision) {
  DenseConv d;
  d.cin = f.in_per_group;
  d.cout = f.out_channels;
  d.kernel = f.kernel;
  const std::vector<float> w =
      kernels::PermuteConvWeightKkc(f.weight.data(), d.cout, d.cin, d.kernel);
  const int k = d.kernel * d.kernel * d.cin;
  d.packed = LinearWeights::Pack(w.data(), d.cout, k, k, precision);
  d.bias = f.bias;
  return d;
}

// conv1 (1x1) -> act -> depthwise 3x3 (stride) -> act -> conv3 (1x1)
// [+ input -> act]: MBConv (residual, stride 1) and PatchMerging (no
// residual) share this shape.
// ref: tiny_vit_sam.py MBConv.forward, PatchMerging.forward
struct Bottleneck {
  DenseConv conv1, conv3;
  std::vector<float> dw_weight, dw_bias;  // [hidden, 1, 3, 3], [hidden]
  int stride = 1;
  bool residual = false;  // MBConv: x = act(conv3(...) + x)
};

// ref: tiny_vit_sam.py TinyViTBlock / Attention / Mlp
struct TinyVitBlock {
  int dim = 0, heads = 0, head_dim = 0, window = 0, mlp_hidden = 0;
  std::vector<float> attn_norm_g, attn_norm_b;
  // The transformer blocks' Linears run at the encoder's precision (issue
  // 7), like the dense convolutions (DenseConv).
  LinearWeights qkv;
  std::vector<float> qkv_b;
  std::vector<float> qkv_pad;  // qkv of a zero (padding) token: LN(0) = beta
  // attention_biases [heads, offsets] and the offset of each (query, key)
  // pair [N * N]; expanded per encode by ExpandBias. Kept compact: the
  // expanded tables of vit_t's six 14 x 14-window blocks were 4.7 MB of the
  // model (issue 21, peak RSS); expanding one costs ~0.1 ms.
  std::vector<float> compact_bias;
  std::vector<uint16_t> bias_index;  // < bias_offsets <= 65536 (LoadBlock checks)
  int bias_offsets = 0;
  int bias_stride = 0;  // row stride of the expanded table

  // Writes attention_biases[:, idxs] as [heads, N, bias_stride], rows padded
  // with -inf to the window attention's key padding
  // (kernels/window_attention.h).
  void ExpandBias(float* out) const {
    const int n = window * window;
    for (int hd = 0; hd < heads; ++hd) {
      const float* ab = compact_bias.data() + static_cast<size_t>(hd) * bias_offsets;
      for (int i = 0; i < n; ++i) {
        float* row = out + (static_cast<size_t>(hd) * n + i) * bias_stride;
        const uint16_t* index = bias_index.data() + static_cast<size_t>(i) * n;
        for (int j = 0; j < n; ++j) row[j] = ab[index[j]];
        std::fill(row + n, row + bias_stride, -HUGE_VALF);
      }
    }
  }
  size_t ExpandedBiasFloats() const { return static_cast<size_t>(heads) * window * window * bias_stride; }
  LinearWeights proj;
  std::vector<float> proj_b;
  std::vector<float> local_w, local_b;  // depthwise 3x3 Conv2d_BN, folded
  std::vector<float> mlp_norm_g, mlp_norm_b;
  LinearWeights fc1, fc2;
  std::vector<float> fc1_b, fc2_b;
};

struct Stage {
  int dim = 0;
  int resolution = 0;  // input grid side
  std::vector<Bottleneck> mbconv;
  std::vector<TinyVitBlock> blocks;
  bool has_downsample = false;
  Bottleneck downsample;
  int out_resolution = 0, out_dim = 0;
};

// out = conv(in) for a 3x3 dense conv, pad 1, output rows [oy_begin,
// oy_end) in bands (im2col + GEMM); `in` holds input rows from in_row_begin
// (see Im2ColRows), `out` the output rows from oy_begin.
void Conv3x3Rows(const float* in, int in_row_begin, int h, int w, int64_t pixel_stride,
                 int64_t channel_stride, int stride, const DenseConv& conv, Epilogue act,
                 int oy_begin, int oy_end, float* out, Workspace& ws) {
  const int ow = kernels::ConvOutSize(w, 3, stride, 1);
  const int64_t k = 9 * static_cast<int64_t>(conv.cin);
  const int band = static_cast<int>(std::max<int64_t>(1, kBandFloats / (ow * k)));
  float* cols = ws.Get(Workspace::kCols, static_cast<size_t>(std::min(band, oy_end - oy_begin)) * ow * k);
  GemmEpilogue ep;
  ep.bias = conv.bias.empty() ? nullptr : conv.bias.data();
  ep.activation = act;
  for (int oy0 = oy_begin; oy0 < oy_end; oy0 += band) {
    const int oy1 = std::min(oy_end, oy0 + band);
    kernels::Im2ColRows(in, in_row_begin, h, w, conv.cin, pixel_stride, channel_stride, 3, stride,
                        1, oy0, oy1, cols);
    conv.packed.Apply((oy1 - oy0) * ow, cols, static_cast<int>(k), ep,
                      out + static_cast<int64_t>(oy0 - oy_begin) * ow * conv.cout, conv.cout);
  }
}

// ref: tiny_vit_sam.py PatchEmbed.forward: conv s2 + BN, GELU, conv s2 + BN
// on the CHW image [3, s, s] -> tokens [(s/4)^2, e0]. Banded: only the conv1
// rows the current conv2 band needs exist (carrying the 1-row halo over).
void PatchEmbed(const float* image, int s, const DenseConv& c1, const DenseConv& c2, float* out,
                Workspace& ws) {
  const int r1 = kernels::ConvOutSize(s, 3, 2, 1), r2 = kernels::ConvOutSize(r1, 3, 2, 1);
  const int band = static_cast<int>(
      std::max<int64_t>(1, kBandFloats / (static_cast<int64_t>(r1) * c1.cout * 2)));
  const int64_t row = static_cast<int64_t>(r1) * c1.cout;
  float* mid = ws.Get(Workspace::kBig, static_cast<size_t>(std::min(r1, 2 * band + 1)) * row);
  int have0 = 0, have1 = 0;  // conv1 rows [have0, have1) are in `mid`
  for (int oy0 = 0; oy0 < r2; oy0 += band) {
    const int oy1 = std::min(r2, oy0 + band);
    const int iy0 = std::max(0, 2 * oy0 - 1), iy1 = std::min(r1, 2 * oy1);
    int first_new = iy0;
    if (have1 > iy0 && have0 <= iy0) {
      std::memmove(mid, mid + (iy0 - have0) * row, sizeof(float) * (have1 - iy0) * row);
      first_new = have1;
    }
    Conv3x3Rows(image, 0, s, s, 1, static_cast<int64_t>(s) * s, 2, c1, Epilogue::kGelu, first_new,
                iy1, mid + (first_new - iy0) * row, ws);
    have0 = iy0;
    have1 = iy1;
    Conv3x3Rows(mid, iy0, r1, r1, c1.cout, 1, 2, c2, Epilogue::kNone, oy0, oy1,
                out + static_cast<int64_t>(oy0) * r2 * c2.cout, ws);
  }
}

// Whether RunBottleneck may write its output over its input: a stride-1
// residual MBConv reads input rows only below the output rows written so far
// (its 1-row halo of expanded rows is kept in `hid`), and its residual
// aliases the output exactly, which the GEMM epilogue allows (kernels/gemm.h).
bool InPlace(const Bottleneck& b) { return b.residual && b.stride == 1; }

// out = Bottleneck(x), x: [h * w, cin] -> out: [oh * ow, cout]; out == x
// only where InPlace(b).
// Timings (if not null) accumulate under `stage` + ".conv1" / ".dwconv" /
// ".conv3" over the bands.
void RunBottleneck(const Bottleneck& b, const float* x, int h, int w, float* out,
                   StageTimings* timings, const std::string& stage, Workspace& ws) {
  const int cin = b.conv1.cin, hidden = b.conv1.cout, cout = b.conv3.cout, s = b.stride;
  const int oh = (h - 1) / s + 1, ow = (w - 1) / s + 1;
  const int band = static_cast<int>(
      std::max<int64_t>(1, kBandFloats / (static_cast<int64_t>(w) * hidden * s)));
  const int max_in_rows = std::min(h, (band - 1) * s + 3);
  const int64_t hrow = static_cast<int64_t>(w) * hidden;
  float* hid = ws.Get(Workspace::kBig, static_cast<size_t>(max_in_rows) * hrow);
  float* mid = ws.Get(Workspace::kMid, static_cast<size_t>(std::min(band, oh)) * ow * hidden);
  GemmEpilogue ep1;
  ep1.bias = b.conv1.bias.data();
  ep1.activation = Epilogue::kGelu;
  int have0 = 0, have1 = 0;  // input rows [have0, have1) are in `hid`
  for (int oy0 = 0; oy0 < oh; oy0 += band) {
    const int oy1 = std::min(oh, oy0 + band);
    const int iy0 = std::max(0, oy0 * s - 1), iy1 = std::min(h, (oy1 - 1) * s + 2);
    // Keep the rows the previous band already expanded (the 3x3 halo).
    int first_new = iy0;
    if (have1 > iy0 && have0 <= iy0) {
      std::memmove(hid, hid + (iy0 - have0) * hrow,
                   sizeof(float) * (have1 - iy0) * hrow);
      first_new = have1;
    }
    if (iy1 > first_new) {
      ScopedStage t(timings, stage + ".conv1");
      b.conv1.packed.Apply((iy1 - first_new) * w, x + static_cast<int64_t>(first_new) * w * cin,
                           cin, ep1, hid + (first_new - iy0) * hrow, hidden);
    }
    have0 = iy0;
    have1 = iy1;
    {
      ScopedStage t(timings, stage + ".dwconv");
      kernels::DepthwiseConv3x3HwcRows(hid, iy0, h, w, hidden, s, b.dw_weight.data(),
                                       b.dw_bias.data(), Epilogue::kGelu, oy0, oy1, mid);
    }
    ScopedStage t(timings, stage + ".conv3");
    GemmEpilogue ep3;
    ep3.bias = b.conv3.bias.data();
    float* o = out + static_cast<int64_t>(oy0) * ow * cout;
    if (b.residual) {
      ep3.residual = x + static_cast<int64_t>(oy0) * w * cin;
      ep3.ldr = cin;
    }
    b.conv3.packed.Apply((oy1 - oy0) * ow, mid, hidden, ep3, o, cout);
    if (b.residual) kernels::Gelu(o, static_cast<size_t>(oy1 - oy0) * ow * cout);
  }
}

// x = x + Attn(x) (windowed); x = local_conv(x); x = x + MLP(x). In place on
// x [h * w, dim]; `tmp` is a second [h * w, dim] buffer. Timings (if not
// null) accumulate under `stage` + ".qkv" / ".attention" / ".proj" /
// ".local_conv" / ".mlp".
// ref: tiny_vit_sam.py TinyViTBlock.forward
void RunBlock(const TinyVitBlock& b, float* x, int h, int w, float* tmp, StageTimings* timings,
              const std::string& stage, Workspace& ws) {
  const int c = b.dim, win_side = b.window;
  const int64_t tokens = static_cast<int64_t>(h) * w;
  const int nh = (h + win_side - 1) / win_side;
  const int c3 = 3 * c;
  {
    // One row of windows at a time: LayerNorm and qkv of its token rows,
    // then the window attention reading that row-major qkv in place and
    // writing the band's rows of tmp (which held the LayerNorm output the
    // qkv was computed from): no window partition / reverse copies, and the
    // band's qkv stays in L2 (stage 1 of vit_t: 1 MB).
    // LayerNorm and qkv run on the real tokens only; the padding tokens the
    // reference adds (F.pad with zeros, then LayerNorm -> beta) all share
    // one precomputed qkv row.
    float* qkv = ws.Get(Workspace::kCols, static_cast<size_t>(win_side) * w * c3);
    GemmEpilogue ep;
    ep.bias = b.qkv_b.data();
    kernels::WindowAttentionBand wa;
    wa.qkv = qkv;
    wa.pad_qkv = b.qkv_pad.data();
    wa.w = w;
    wa.window = win_side;
    wa.heads = b.heads;
    wa.head_dim = b.head_dim;
    wa.scale = 1.0f / std::sqrt(static_cast<float>(b.head_dim));
    float* bias = ws.Get(Workspace::kBias, b.ExpandedBiasFloats());
    {
      ScopedStage t(timings, stage + ".attention");
      b.ExpandBias(bias);
    }
    wa.bias = bias;
    wa.bias_stride = b.bias_stride;
    for (int wy = 0; wy < nh; ++wy) {
      const int y0 = wy * win_side, rows = std::min(h, y0 + win_side) - y0;
      const int64_t band_tokens = static_cast<int64_t>(rows) * w;
      float* band = tmp + static_cast<int64_t>(y0) * w * c;
      {
        ScopedStage t(timings, stage + ".qkv");
        kernels::LayerNormRows(static_cast<int>(band_tokens), c,
                               x + static_cast<int64_t>(y0) * w * c, c, b.attn_norm_g.data(),
                               b.attn_norm_b.data(), kTinyVitLnEps, band, c);
        b.qkv.Apply(static_cast<int>(band_tokens), band, c, ep, qkv, c3);
      }
      ScopedStage t(timings, stage + ".attention");
      wa.rows = rows;
      wa.out = band;
      kernels::WindowAttention(wa);
    }
    // x = x + proj(attn).
    ScopedStage t_proj(timings, stage + ".proj");
    GemmEpilogue pe;
    pe.bias = b.proj_b.data();
    pe.residual = x;
    pe.ldr = c;
    b.proj.Apply(static_cast<int>(tokens), tmp, c, pe, x, c);
  }
  {
    // Local depthwise conv (Conv2d_BN, no activation, no residual): tmp = conv(x).
    ScopedStage t(timings, stage + ".local_conv");
    kernels::DepthwiseConv3x3HwcRows(x, 0, h, w, c, 1, b.local_w.data(), b.local_b.data(),
                                     Epilogue::kNone, 0, h, tmp);
  }
  ScopedStage t_mlp(timings, stage + ".mlp");
  // x = tmp + fc2(GELU(fc1(LN(tmp)))), in chunks of rows.
  const int chunk = static_cast<int>(std::min<int64_t>(tokens, kMlpChunkRows));
  float* normed = ws.Get(Workspace::kMid, static_cast<size_t>(chunk) * c);
  float* hidden = ws.Get(Workspace::kBig, static_cast<size_t>(chunk) * b.mlp_hidden);
  for (int64_t r0 = 0; r0 < tokens; r0 += chunk) {
    const int rows = static_cast<int>(std::min<int64_t>(chunk, tokens - r0));
    kernels::LayerNormRows(rows, c, tmp + r0 * c, c, b.mlp_norm_g.data(), b.mlp_norm_b.data(),
                           kTinyVitLnEps, normed, c);
    GemmEpilogue e1;
    e1.bias = b.fc1_b.data();
    e1.activation = Epilogue::kGelu;
    b.fc1.Apply(rows, normed, c, e1, hidden, b.mlp_hidden);
    GemmEpilogue e2;
    e2.bias = b.fc2_b.data();
    e2.residual = tmp + r0 * c;
    e2.ldr = c;
    b.fc2.Apply(rows, hidden, b.mlp_hidden, e2, x + r0 * c, c);
  }
}

class TinyVitEncoder : public ImageEncoder {
 public:
  TinyVitEncoder(const TensorMap& tensors, const SamConfig& config, Precision precision);
  void Encode(const float* input, float* embedding, StageTimings* timings,
              const ActivationHook& hook) const override;
  void EncodeConsuming(std::vector<float> input, float* embedding, StageTimings* timings) const override;
  void ReleaseScratch() const override {
    std::lock_guard<std::mutex> lock(workspace_mutex_);
    workspace_.reset();
  }

 private:
  Bottleneck LoadBottleneck(const TensorMap& t, const std::string& prefix, int cin, int hidden,
                            int cout, int stride, bool residual, Precision precision) const;
  TinyVitBlock LoadBlock(const TensorMap& t, const std::string& prefix, int dim, int heads,
                         int window, int mlp_hidden) const;

  // Floats of the two token buffers (Workspace::kX, kY) for a patch
  // embedding output of res x res.
  struct TokenBufferSizes {
    size_t x = 0, y = 0;
  };
  TokenBufferSizes ComputeTokenBufferSizes(int res) const;

  Precision precision_ = Precision::kF32;
  int image_size_ = 0;
  int grid_ = 0;  // side of the embedding grid (64)
  DenseConv embed1_, embed2_;
  std::vector<Stage> stages_;
  SamNeck neck_;
  // Scratch kept between Encode calls (see Workspace). `owner`, if not
  // null, holds `input` and is emptied once the patch embedding has read it.
  void EncodeWith(Workspace& ws, const float* input, std::vector<float>* owner, float* embedding,
                  StageTimings* timings, const ActivationHook& hook) const;
  void EncodeInWorkspace(const float* input, std::vector<float>* owner, float* embedding,
                         StageTimings* timings, const ActivationHook& hook) const;
  mutable std::mutex workspace_mutex_;
  mutable std::unique_ptr<Workspace> workspace_;
};

Bottleneck TinyVitEncoder::LoadBottleneck(const TensorMap& t, const std::string& prefix, int cin,
                                          int hidden, int cout, int stride,
                                          bool residual, Precision precision) const {
  Bottleneck b;
  const FoldedConv c1 = FoldConv2dBn(t, prefix + ".conv1");
  CheckConv(c1, prefix + ".conv1", hidden, cin, 1);
  const FoldedConv c2 = FoldConv2dBn(t, prefix + ".conv2");
  CheckConv(c2, prefix + ".conv2", hidden, 1, 3);
  const FoldedConv c3 = FoldConv2dBn(t, prefix + ".conv3");
  CheckConv(c3, prefix + ".conv3", cout, hidden, 1);
  b.conv1 = MakeDense(c1, precision);
  b.conv3 = MakeDense(c3, precision);
  b.dw_weight = c2.weight;
  b.dw_bias = c2.bias;
  b.stride = stride;
  b.residual = residual;
  return b;
}

TinyVitBlock TinyVitEncoder::LoadBlock(const TensorMap& t, const std::string& p, int dim,
                                       int heads, int window, int mlp_hidden) const {
  TinyVitBlock b;
  b.dim = dim;
  b.heads = heads;
  b.head_dim = dim / heads;
  b.window = window;
  b.mlp_hidden = mlp_hidden;
  const int64_t c = dim;
  b.attn_norm_g = Load(t, p + ".attn.norm.weight", {c});
  b.attn_norm_b = Load(t, p + ".attn.norm.bias", {c});
  b.qkv = PackLinearWeight(t, p + ".attn.qkv.weight", {3 * c, c}, precision_);
  b.qkv_b = Load(t, p + ".attn.qkv.bias", {3 * c});
  // The padding tokens' qkv: Linear(LayerNorm(0)) = Linear(beta).
  b.qkv_pad.resize(3 * c);
  GemmEpilogue ep;
  ep.bias = b.qkv_b.data();
  b.qkv.Apply(1, b.attn_norm_b.data(), dim, ep, b.qkv_pad.data(), 3 * dim);
  const std::vector<int> index = AttentionBiasIndices(window, &b.bias_offsets);
  if (b.bias_offsets > 65536) throw Error(p + ": window " + std::to_string(window) + " is too large");
  b.bias_index.assign(index.begin(), index.end());
  b.compact_bias = Load(t, p + ".attn.attention_biases", {heads, static_cast<int64_t>(b.bias_offsets)});
  const int n = window * window;
  b.bias_stride = (n + kernels::kWindowBiasAlign - 1) / kernels::kWindowBiasAlign *
                  kernels::kWindowBiasAlign;
  b.proj = PackLinearWeight(t, p + ".attn.proj.weight", {c, c}, precision_);
  b.proj_b = Load(t, p + ".attn.proj.bias", {c});
  const FoldedConv local = FoldConv2dBn(t, p + ".local_conv");
  CheckConv(local, p + ".local_conv", dim, 1, 3);
  b.local_w = local.weight;
  b.local_b = local.bias;
  b.mlp_norm_g = Load(t, p + ".mlp.norm.weight", {c});
  b.mlp_norm_b = Load(t, p + ".mlp.norm.bias", {c});
  b.fc1 = PackLinearWeight(t, p + ".mlp.fc1.weight", {mlp_hidden, c}, precision_);
  b.fc1_b = Load(t, p + ".mlp.fc1.bias", {mlp_hidden});
  b.fc2 = PackLinearWeight(t, p + ".mlp.fc2.weight", {c, mlp_hidden}, precision_);
  b.fc2_b = Load(t, p + ".mlp.fc2.bias", {c});
  return b;
}

TinyVitEncoder::TinyVitEncoder(const TensorMap& t, const SamConfig& config, Precision precision)
    : precision_(precision), image_size_(config.image_size), grid_(config.embed_grid) {
  const TinyVitConfig& tc = config.tinyvit;
  const size_t num_stages = tc.embed_dims.size();
  if (num_stages < 1 || tc.depths.size() != num_stages || tc.num_heads.size() != num_stages ||
      tc.window_sizes.size() != num_stages) {
    throw Error("TinyViT encoder: config needs one embed_dim, depth, num_heads and window size "
                "per stage");
  }
  const std::string root = "image_encoder.";
  // ref: tiny_vit_sam.py PatchEmbed: Conv2d_BN(3, n/2, 3, 2, 1), GELU,
  // Conv2d_BN(n/2, n, 3, 2, 1).
  const int e0 = tc.embed_dims[0];
  const FoldedConv pe1 = FoldConv2dBn(t, root + "patch_embed.seq.0");
  CheckConv(pe1, root + "patch_embed.seq.0", e0 / 2, 3, 3);
  const FoldedConv pe2 = FoldConv2dBn(t, root + "patch_embed.seq.2");
  CheckConv(pe2, root + "patch_embed.seq.2", e0, e0 / 2, 3);
  // The first conv (3 input channels, 27-deep dot products on the raw
  // image, ~0.6 % of the work) stays float32 at every precision.
  embed1_ = MakeDense(pe1, Precision::kF32);
  embed2_ = MakeDense(pe2, precision_);
  const int patches = image_size_ / 4;  // the reference's patches_resolution
  int res = kernels::ConvOutSize(kernels::ConvOutSize(image_size_, 3, 2, 1), 3, 2, 1);
  for (size_t i = 0; i < num_stages; ++i) {
    Stage s;
    s.dim = tc.embed_dims[i];
    // The reference views its tokens with this input_resolution; a config
    // whose strides do not produce it would not run there either.
    const int expected = patches >> (i == 3 ? 2 : i);
    if (res != expected) {
      throw Error("TinyViT encoder: stage " + std::to_string(i) + " input is " +
                  std::to_string(res) + "x" + std::to_string(res) +
                  " but the reference expects " + std::to_string(expected));
    }
    s.resolution = res;
    const std::string lp = root + "layers." + std::to_string(i);
    if (i == 0) {
      // ref: tiny_vit_sam.py ConvLayer (MBConv blocks)
      const int hidden = static_cast<int>(s.dim * tc.mbconv_expand_ratio);
      for (int j = 0; j < tc.depths[i]; ++j) {
        s.mbconv.push_back(LoadBottleneck(t, lp + ".blocks." + std::to_string(j), s.dim, hidden,
                                          s.dim, 1, /*residual=*/true, precision_));
      }
    } else {
      const int heads = tc.num_heads[i], window = tc.window_sizes[i];
      if (heads <= 0 || s.dim % heads != 0 || window <= 0) {
        throw Error("TinyViT encoder: stage " + std::to_string(i) + " has dim " +
                    std::to_string(s.dim) + ", " + std::to_string(heads) + " heads, window " +
                    std::to_string(window) + " (heads must divide dim)");
      }
      const int mlp_hidden = static_cast<int>(s.dim * tc.mlp_ratio);
      for (int j = 0; j < tc.depths[i]; ++j) {
        s.blocks.push_back(LoadBlock(t, lp + ".blocks." + std::to_string(j), s.dim, heads, window,
                                     mlp_hidden));
      }
    }
    s.out_dim = s.dim;
    s.out_resolution = res;
    if (i + 1 < num_stages) {
      // ref: tiny_vit_sam.py PatchMerging (out_dim = next stage's dim)
      s.has_downsample = true;
      s.out_dim = tc.embed_dims[i + 1];
      const int stride = PatchMergingStride(s.out_dim);
      // At the neck's precision (bf16 in int8 mode): measured on the
      // fixture model (cat/00), int8 PatchMerging convs raise the int8
      // embedding's relative RMS error from 0.024 to 0.031 (bound 0.03);
      // they are ~5 % of the work.
      s.downsample = LoadBottleneck(t, lp + ".downsample", s.dim, s.out_dim, s.out_dim, stride,
                                    /*residual=*/false, NeckPrecision(precision_));
      s.out_resolution = (res - 1) / stride + 1;
    }
    res = s.out_resolution;
    stages_.push_back(std::move(s));
  }
  if (res != grid_) {
    throw Error("TinyViT encoder: the last stage outputs " + std::to_string(res) + "x" +
                std::to_string(res) + " tokens, the neck expects " + std::to_string(grid_) + "x" +
                std::to_string(grid_));
  }
  // ref: tiny_vit_sam.py TinyViT.neck (engine/neck.h), at the ViT's neck
  // precision (bf16 in int8 mode).
  neck_ = SamNeck(t, root, tc.embed_dims.back(), NeckPrecision(precision_), "TinyViT encoder");
  if (neck_.out_chans() != config.prompt_dim) {
    throw Error("TinyViT encoder: tensor '" + root + "neck.0.weight' has " +
                std::to_string(neck_.out_chans()) + " output channels, expected the prompt dim " +
                std::to_string(config.prompt_dim));
  }
}

void TinyVitEncoder::Encode(const float* input, float* embedding, StageTimings* timings,
                            const ActivationHook& hook) const {
  EncodeInWorkspace(input, nullptr, embedding, timings, hook);
}

void TinyVitEncoder::EncodeConsuming(std::vector<float> input, float* embedding, StageTimings* timings) const {
  EncodeInWorkspace(input.data(), &input, embedding, timings, nullptr);
}

void TinyVitEncoder::EncodeInWorkspace(const float* input, std::vector<float>* owner, float* embedding,
                                       StageTimings* timings, const ActivationHook& hook) const {
  // Fewer threads when other processes hold cores (kernels/parallel.h).
  const kernels::ScopedThreadCount threads(kernels::ThreadsForLongStage());
  // The workspace of the previous call (a concurrent call gets its own).
  std::unique_ptr<Workspace> ws;
  {
    std::lock_guard<std::mutex> lock(workspace_mutex_);
    ws = std::move(workspace_);
  }
  if (!ws) ws = std::make_unique<Workspace>();
  EncodeWith(*ws, input, owner, embedding, timings, hook);
  std::lock_guard<std::mutex> lock(workspace_mutex_);
  workspace_ = std::move(ws);
}

// The token buffers follow EncodeWith's steps: x starts with the patch
// embedding's tokens; steps that write a second buffer and swap (PatchMerging,
// a non-residual MBConv) need both buffers as large as their output; the
// attention blocks need y as large as their tokens (RunBlock's `tmp`). The
// stage-0 MBConvs run in place, so the second buffer is sized by stage 1's
// tokens, not the patch embedding's: 8.4 instead of 16.8 MB for vit_t at
// 1024 (issue 21, peak RSS).
TinyVitEncoder::TokenBufferSizes TinyVitEncoder::ComputeTokenBufferSizes(int res) const {
  TokenBufferSizes sizes;
  sizes.x = static_cast<size_t>(res) * res * embed2_.cout;
  const auto both = [&sizes](size_t floats) {
    sizes.x = std::max(sizes.x, floats);
    sizes.y = std::max(sizes.y, floats);
  };
  for (const Stage& st : stages_) {
    const size_t tokens = static_cast<size_t>(res) * res;
    for (const Bottleneck& b : st.mbconv) {
      if (!InPlace(b)) both(tokens * b.conv3.cout);
    }
    if (!st.blocks.empty()) sizes.y = std::max(sizes.y, tokens * st.blocks.front().dim);
    if (st.has_downsample) {
      both(static_cast<size_t>(st.out_resolution) * st.out_resolution * st.out_dim);
      res = st.out_resolution;
    }
  }
  sizes.y = std::max<size_t>(sizes.y, 1);
  return sizes;
}

void TinyVitEncoder::EncodeWith(Workspace& ws, const float* input, std::vector<float>* owner,
                                float* embedding, StageTimings* timings, const ActivationHook& hook) const {
  const int s = image_size_;
  const int r1 = kernels::ConvOutSize(s, 3, 2, 1);
  int res = kernels::ConvOutSize(r1, 3, 2, 1);
  const TokenBufferSizes sizes = ComputeTokenBufferSizes(res);
  float* x = ws.Get(Workspace::kX, sizes.x);
  {
    ScopedStage stage(timings, "encoder.patch_embed");
    PatchEmbed(input, s, embed1_, embed2_, x, ws);
  }
  if (owner != nullptr) std::vector<float>().swap(*owner);
  // The second token buffer only after the input is gone (when consumed):
  // the input and it never count towards the peak RSS together (issue 21).
  float* y = ws.Get(Workspace::kY, sizes.y);
  size_t x_floats = sizes.x, y_floats = sizes.y;  // follow x and y through the swaps
  // Per stage, one entry per kind of work (summed over the stage's blocks),
  // e.g. "encoder.layers.1.mlp", "encoder.layers.0.downsample.conv1".
  for (size_t i = 0; i < stages_.size(); ++i) {
    const Stage& st = stages_[i];
    const std::string name = "encoder.layers." + std::to_string(i);
    for (const Bottleneck& b : st.mbconv) {
      if (InPlace(b)) {
        RunBottleneck(b, x, res, res, x, timings, name + ".mbconv", ws);
      } else {
        RunBottleneck(b, x, res, res, y, timings, name + ".mbconv", ws);
        std::swap(x, y);
        std::swap(x_floats, y_floats);
      }
    }
    for (const TinyVitBlock& b : st.blocks) RunBlock(b, x, res, res, y, timings, name, ws);
    if (st.has_downsample) {
      RunBottleneck(st.downsample, x, res, res, y, timings, name + ".downsample", ws);
      std::swap(x, y);
      std::swap(x_floats, y_floats);
      res = st.out_resolution;
    }
    if (hook) {
      hook("layers." + std::to_string(i), x,
           {1, static_cast<int64_t>(res) * res, static_cast<int64_t>(st.out_dim)});
    }
  }
  {
    // ref: tiny_vit_sam.py TinyViT.forward_features (view as 64x64, neck)
    ScopedStage stage(timings, "encoder.neck");
    // The second token buffer is free by now and usually large enough for
    // the neck's scratch (vit_t at 1024: 12.6 of 16.8 MB), which then does
    // not grow kBig.
    // Its two maps go in the second token buffer and its im2col band after
    // the tokens in the first where they fit (vit_t at 1024: 8.4 MB maps in
    // a 16.8 MB y, the 4.2 MB band in the 3.2 MB x has free, so kBig), so
    // the neck adds little to the encoder's peak.
    const size_t maps = neck_.MapScratchFloats(res), cols = neck_.ColsScratchFloats(res);
    const size_t tokens = (static_cast<size_t>(res) * res * stages_.back().out_dim + 15) / 16 * 16;
    float* map_scratch = maps <= y_floats ? y : ws.Get(Workspace::kBig, maps + cols);
    float* cols_scratch = map_scratch != y ? map_scratch + maps
                          : tokens + cols <= x_floats ? x + tokens
                                                      : ws.Get(Workspace::kBig, cols);
    neck_.Run(x, res, map_scratch, cols_scratch, embedding);
  }
  if (hook) hook("neck", embedding, {1, neck_.out_chans(), res, res});
}

}  // namespace

std::unique_ptr<ImageEncoder> MakeTinyVitEncoder(const TensorMap& tensors,
                                                 const SamConfig& config) {
  return std::make_unique<TinyVitEncoder>(tensors, config, Precision::kF32);
}

std::unique_ptr<ImageEncoder> MakeTinyVitEncoder(const TensorMap& tensors, const SamConfig& config,
                                                 Precision precision) {
  return std::make_unique<TinyVitEncoder>(tensors, config, precision);
}

}  // namespace persam
