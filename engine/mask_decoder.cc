#include "engine/mask_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include <omp.h>

#include "engine/decoder_tensors.h"
#include "engine/packed_weights_file.h"
#include "engine/two_way_transformer.h"
#include "kernels/block_products.h"
#include "kernels/conv.h"
#include "kernels/gelu_ops.h"
#include "kernels/gemm_pack.h"  // kGemmNR: panel width of up0_b
#include "base/error.h"

namespace persam {
namespace {

// LayerNorm2d in the upscaling path uses common.py's 1e-6 (the two-way
// transformer's nn.LayerNorm default 1e-5 is in two_way_transformer.cc).
constexpr float kLayerNorm2dEps = 1e-6f;

std::string Name(const std::string& suffix) { return "mask_decoder." + suffix; }

MaskDecoder::Linear LoadLinear(const TensorMap& t, const std::string& prefix, int in, int out) {
  MaskDecoder::Linear l;
  l.in = in;
  l.out = out;
  // Packed from the checkpoint's bytes; no float32 copy is kept (it was
  // 14 MB of MobileSAM's resident model, issue 21).
  const Tensor& w = FindTensor(t, prefix + ".weight", {out, in});
  // `persam convert --packed` files: the panels as stored (engine/packed_weights_file.h).
  if (std::optional<kernels::PackedWeights> stored = FindPackedPanels(t, prefix + ".weight", out, in, 0, out)) {
    l.packed = *std::move(stored);
  } else {
    std::vector<float> scratch;
    l.packed = kernels::PackedWeights::Pack(w.Float32Values(&scratch), out, in, in);
  }
  l.b = DecoderTensor(t, prefix + ".bias", {out});
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
  std::vector<float> scratch;
  a.q_fold.RepackTransposed(FindTensor(t, prefix + ".q_proj.weight").Float32Values(&scratch), internal, dim, dim);
  a.k_fold.RepackTransposed(FindTensor(t, prefix + ".k_proj.weight").Float32Values(&scratch), internal, dim, dim);
  return a;
}

// y[m, out] = act(x[m, in] W^T + b) (+ residual [m, out]).
void RunLinear(int m, const float* x, const MaskDecoder::Linear& l, float* y,
               kernels::Epilogue act = kernels::Epilogue::kNone, const float* residual = nullptr) {
  kernels::Gemm(m, x, l.in, l.packed, l.Epilogue(act, residual), y, l.out);
}

}  // namespace

// Buffers reused across calls: the decoder's working set is ~20 MB and fresh
// allocations of that size cost page faults on every call.
struct MaskDecoder::Workspace {
  HugePageBuffer x;                       // image tokens [n, dim]
  TwoWayTransformerBuffers transformer;  // the transformer's image passes, attn_sim
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
  void Reserve(size_t n, int dim) {
    x.Reserve(n * dim);
  }
};

MaskDecoder::~MaskDecoder() = default;

MaskDecoder::MaskDecoder(const TensorMap& t, const SamConfig& config, const PromptEncoder& prompt_encoder)
    : dim_(config.prompt_dim), grid_(config.embed_grid), heads_(config.decoder_heads),
      num_mask_tokens_(config.num_mask_tokens) {
  const int d = dim_;
  if (static_cast<int64_t>(prompt_encoder.dense_pe_floats()) != static_cast<int64_t>(grid_) * grid_ * d) {
    throw Error("mask decoder: dense positional encoding has the wrong size");
  }
  // The image passes read dim-wide rows in 32-column panels (GemmStrided).
  if (d <= 0 || d % 32 != 0) throw Error("mask decoder: prompt dim " + std::to_string(d) + " is not a multiple of 32");
  pe_hwc_.Reserve(prompt_encoder.dense_pe_floats());
  prompt_encoder.WriteDensePeHwc(pe_hwc_.data());
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

void MaskDecoder::PrepareImageTokens(const MaskDecoderInputs& in, std::vector<float>* image_hwc,
                                     std::vector<float>* image_pe_hwc) const {
  const size_t size = static_cast<size_t>(grid_) * grid_ * dim_;
  image_hwc->resize(size);
  image_pe_hwc->resize(size);
  std::lock_guard<std::mutex> lock(mu_);
  const TwoWayTransformerWeights transformer{blocks_, final_attn_, norm_final_, output_tokens_, pe_hwc_.data(),
                                            dim_, grid_, heads_, num_mask_tokens_};
  PrepareLayer0Tokens(transformer, in, &ws_->transformer, image_hwc->data(), image_pe_hwc->data());
}

// ref: mask_decoder.py MaskDecoder.predict_masks, transformer.py TwoWayTransformer.forward
void MaskDecoder::Run(const MaskDecoderInputs& in, float* masks, float* scores, StageTimings* timings) const {
  std::lock_guard<std::mutex> lock(mu_);
  RunIn(in, masks, scores, timings, ws_.get());
}

void MaskDecoder::WorkspaceDeleter::operator()(Workspace* w) const { delete w; }

MaskDecoder::WorkspacePtr MaskDecoder::NewWorkspace() const { return WorkspacePtr(new Workspace()); }

void MaskDecoder::RunIn(const MaskDecoderInputs& in, float* masks, float* scores, StageTimings* timings,
                        Workspace* workspace) const {
  if (in.first_mask < 0 || in.num_masks <= 0 || in.first_mask + in.num_masks > num_mask_tokens_) {
    throw Error("mask decoder: mask range out of bounds");
  }
  // Two stages, so --verbose shows where the decoder's time goes.
  auto transformer_stage = std::make_unique<ScopedStage>(timings, "mask_decoder.transformer");
  const int d = dim_;
  const int s2 = 4 * grid_;
  Workspace& w = *workspace;
  w.Reserve(static_cast<size_t>(grid_) * grid_, d);
  std::vector<float> fin(static_cast<size_t>(1 + in.num_masks) * d);  // [iou, selected mask tokens]
  const TwoWayTransformerWeights transformer{blocks_, final_attn_, norm_final_, output_tokens_, pe_hwc_.data(),
                                            d, grid_, heads_, num_mask_tokens_};
  RunTwoWayTransformer(transformer, in, &w.transformer, w.x.data(), fin.data());

  transformer_stage.reset();
  ScopedStage upscale_stage(timings, "mask_decoder.masks");

  // Hypernetwork MLPs of the selected mask tokens (masks = hyper @ map) and
  // the IoU head on the iou token: independent 1-row products whose time is
  // reading their weights (0.25 MB per 256 x 256 layer), so they run as
  // parallel tasks. ref: mask_decoder.py MaskDecoder.predict_masks
  // (output_hypernetworks_mlps, iou_prediction_head).
  std::vector<float> hyper(static_cast<size_t>(in.num_masks) * up1_out_);
  std::vector<float> iou(static_cast<size_t>(num_mask_tokens_));
  const int head_tasks = in.num_masks + 1;
#pragma omp parallel for schedule(dynamic, 1)
  for (int task = 0; task < head_tasks; ++task) {
    std::vector<float> h0(d), h1(d);
    if (task < in.num_masks) {
      const auto& mlp = hyper_[in.first_mask + task];
      RunLinear(1, fin.data() + static_cast<size_t>(1 + task) * d, mlp[0], h0.data(), kernels::Epilogue::kRelu);
      RunLinear(1, h0.data(), mlp[1], h1.data(), kernels::Epilogue::kRelu);
      RunLinear(1, h1.data(), mlp[2], hyper.data() + static_cast<size_t>(task) * up1_out_);
      continue;
    }
    std::vector<float> a(fin.begin(), fin.begin() + d), b2;
    for (size_t i = 0; i < iou_head_.size(); ++i) {
      b2.resize(iou_head_[i].out);
      const bool last = i + 1 == iou_head_.size();
      RunLinear(1, a.data(), iou_head_[i], b2.data(), last ? kernels::Epilogue::kNone : kernels::Epilogue::kRelu);
      a.swap(b2);
    }
    std::copy_n(a.begin(), num_mask_tokens_, iou.begin());
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
  // 2 grid rows = 128 positions: 32 equal bands, so 2 threads finish
  // together (3 rows made 21 bands and a 1-row one: one thread idled for
  // 2/3 of a band, ~0.1 ms of the stage); the first GEMM's M = 128 (10.7
  // register tiles of 12 rows) costs 1% more per row than 192 (16 tiles).
  // Per thread the band's buffers (~0.7 MB with the packed first weights)
  // fit its L2.
  constexpr int kBandRows = 2;
  const int bands = (grid_ + kBandRows - 1) / kBandRows;
  const int nm = in.num_masks;
  const int band_cols = 4 * kBandRows * grid_;  // (p, c1) columns of a full band
  // The second GEMM and the GELU product run in chunks of 128 (p, c1)
  // columns (whole 32-column panels of up0_b): the chunk of up1 (64 KB)
  // is consumed from L1/L2 right after it is computed, where a whole band of
  // up1 (384 KB) pushed the band's buffers past a core's 1 MB L2.
  constexpr int kChunkCols = 128;
  if (w.bands.size() < static_cast<size_t>(omp_get_max_threads())) w.bands.resize(omp_get_max_threads());
#pragma omp parallel
  {
    Workspace::Band& bw = w.bands[omp_get_thread_num()];
    if (bw.up0.size() < static_cast<size_t>(band_cols) * up0_out_) {
      bw.up0.resize(static_cast<size_t>(band_cols) * up0_out_);
    }
    if (bw.up1.size() < static_cast<size_t>(kChunkCols) * 4 * up1_out_) {
      bw.up1.resize(static_cast<size_t>(kChunkCols) * 4 * up1_out_);
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
      // Operands read in place (GemmStrided): no per-band packing of the
      // band's rows of x; each output is the same FMA chain as Gemm's.
      kernels::GemmStrided(positions, 4 * up0_out_, d, {w.x.data() + static_cast<size_t>(first) * d, d, 1},
                           kernels::PackedB(up0_packed_), ep0, bw.up0.data(), 4 * up0_out_);
      kernels::LayerNormGeluRows(cols, up0_out_, bw.up0.data(), up0_out_, up_norm_.w.data(), up_norm_.b.data(),
                                 kLayerNorm2dEps, bw.up0.data(), up0_out_);
      bw.up0_b.Repack(bw.up0.data(), cols, up0_out_, up0_out_);
      constexpr int64_t kNR = static_cast<int64_t>(kernels::kGemmNR);
      const int64_t panel_stride = static_cast<int64_t>(up0_out_) * kNR;
      for (int j0 = 0; j0 < cols; j0 += kChunkCols) {
        const int jc = std::min(kChunkCols, cols - j0);
        const kernels::StridedB b1{bw.up0_b.panels() + (j0 / kNR) * panel_stride, kNR, panel_stride};
        kernels::GemmStrided(4 * up1_out_, jc, up0_out_, {up1_rows_.data(), up0_out_, 1}, b1,
                             kernels::GemmEpilogue{}, bw.up1.data(), kChunkCols);
        // masks[c2][m][(p, c1)] = hyper[m] . gelu(up1[(c2, :), (p, c1)] + b1).
        for (int c2 = 0; c2 < 4; ++c2) {
          kernels::GeluBiasColumnsProduct(up1_out_, jc, bw.up1.data() + static_cast<size_t>(c2) * up1_out_ * kChunkCols,
                                          kChunkCols, up1_b_.data() + c2 * up1_out_, nm, hyper.data(), up1_out_,
                                          bw.masks.data() + static_cast<size_t>(c2) * nm * cols + j0, cols);
        }
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

  for (int i = 0; i < in.num_masks; ++i) scores[i] = iou[in.first_mask + i];
}

}  // namespace persam
