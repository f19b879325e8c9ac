#include "engine/prompt_encoder.h"

#include <cmath>
#include <string>

#include "engine/decoder_tensors.h"
#include "kernels/ops.h"
#include "base/error.h"

namespace persam {
namespace {

const char kPrefix[] = "prompt_encoder.";
// LayerNorm2d of the mask downscaling path (common.py default).
constexpr float kLayerNorm2dEps = 1e-6f;

std::string Name(const std::string& suffix) { return kPrefix + suffix; }

// 2x2 stride-2 convolution on channel-last data, [h, w, cin] -> [h/2, w/2,
// cout], weight in PyTorch layout [cout, cin, 2, 2]. The maps are small (at
// most 256 x 256 x 4), so plain loops are enough.
void Conv2x2Stride2Hwc(const float* in, int h, int w, int cin, const float* weight,
                       const float* bias, int cout, float* out) {
  const int oh = h / 2, ow = w / 2;
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      float* o = out + (static_cast<int64_t>(y) * ow + x) * cout;
      for (int co = 0; co < cout; ++co) {
        float acc = bias[co];
        for (int ci = 0; ci < cin; ++ci) {
          const float* wk = weight + (co * cin + ci) * 4;
          for (int ky = 0; ky < 2; ++ky) {
            const float* row = in + (static_cast<int64_t>(2 * y + ky) * w + 2 * x) * cin + ci;
            acc += wk[ky * 2] * row[0] + wk[ky * 2 + 1] * row[cin];
          }
        }
        o[co] = acc;
      }
    }
  }
}

}  // namespace

PromptEncoder::PromptEncoder(const TensorMap& tensors, const SamConfig& config)
    : dim_(config.prompt_dim), grid_(config.embed_grid), image_size_(config.image_size),
      mask_size_(4 * config.embed_grid) {
  const int64_t d = dim_;
  gaussian_ = DecoderTensor(tensors, Name("pe_layer.positional_encoding_gaussian_matrix"), {2, d / 2});
  for (int i = 0; i < 4; ++i) {
    point_embed_[i] = DecoderTensor(tensors, Name("point_embeddings." + std::to_string(i) + ".weight"), {1, d});
  }
  not_a_point_ = DecoderTensor(tensors, Name("not_a_point_embed.weight"), {1, d});
  no_mask_embed_ = DecoderTensor(tensors, Name("no_mask_embed.weight"), {1, d});

  // ref: prompt_encoder.py PromptEncoder.__init__ mask_downscaling
  const auto& s0 = DecoderTensorShape(tensors, Name("mask_downscaling.0.weight"));
  const auto& s1 = DecoderTensorShape(tensors, Name("mask_downscaling.3.weight"));
  if (s0.size() != 4 || s1.size() != 4) throw Error("prompt_encoder.mask_downscaling: expected 4-d conv weights");
  c1_ = static_cast<int>(s0[0]);
  c2_ = static_cast<int>(s1[0]);
  conv0_w_ = DecoderTensor(tensors, Name("mask_downscaling.0.weight"), {c1_, 1, 2, 2});
  conv0_b_ = DecoderTensor(tensors, Name("mask_downscaling.0.bias"), {c1_});
  ln0_w_ = DecoderTensor(tensors, Name("mask_downscaling.1.weight"), {c1_});
  ln0_b_ = DecoderTensor(tensors, Name("mask_downscaling.1.bias"), {c1_});
  conv1_w_ = DecoderTensor(tensors, Name("mask_downscaling.3.weight"), {c2_, c1_, 2, 2});
  conv1_b_ = DecoderTensor(tensors, Name("mask_downscaling.3.bias"), {c2_});
  ln1_w_ = DecoderTensor(tensors, Name("mask_downscaling.4.weight"), {c2_});
  ln1_b_ = DecoderTensor(tensors, Name("mask_downscaling.4.bias"), {c2_});
  conv2_w_ = DecoderTensor(tensors, Name("mask_downscaling.6.weight"), {d, c2_, 1, 1});
  conv2_b_ = DecoderTensor(tensors, Name("mask_downscaling.6.bias"), {d});
}

// ref: prompt_encoder.py PositionEmbeddingRandom.forward (cell centres).
void PromptEncoder::WriteDensePeHwc(float* out) const {
  // 64 x 64 x 256 sin / cos (~17 ms of CPU at load): rows in parallel.
#pragma omp parallel for schedule(static)
  for (int y = 0; y < grid_; ++y) {
    for (int x = 0; x < grid_; ++x) {
      EncodeCoords((x + 0.5f) / grid_, (y + 0.5f) / grid_, out + (static_cast<size_t>(y) * grid_ + x) * dim_);
    }
  }
}

// ref: prompt_encoder.py PositionEmbeddingRandom._pe_encoding
void PromptEncoder::EncodeCoords(float x, float y, float* out) const {
  const int half = dim_ / 2;
  const float cx = 2.0f * x - 1.0f, cy = 2.0f * y - 1.0f;
  // torch multiplies the float32 tensor by the Python scalar 2 * np.pi
  // rounded to float32.
  const float two_pi = static_cast<float>(2.0 * M_PI);
  for (int k = 0; k < half; ++k) {
    const float v = two_pi * (cx * gaussian_[k] + cy * gaussian_[half + k]);
    out[k] = std::sin(v);
    out[half + k] = std::cos(v);
  }
}

int PromptEncoder::NumSparseTokens(const Prompt& prompt) {
  const int points = static_cast<int>(prompt.points.size());
  if (prompt.box) return points + 2;
  return points > 0 ? points + 1 : 0;
}

// ref: prompt_encoder.py PromptEncoder.forward, _embed_points, _embed_boxes
std::vector<float> PromptEncoder::EncodeSparse(const Prompt& prompt, const ImageEmbedding& geometry) const {
  if (geometry.orig_width <= 0 || geometry.orig_height <= 0) {
    throw Error("prompt encoder: the image embedding has no image geometry");
  }
  // ResizeLongestSide.apply_coords: scale in double, then the predictor makes
  // float32 tensors; the +0.5 and the normalisation happen in float32.
  const double sx = static_cast<double>(geometry.input_width) / geometry.orig_width;
  const double sy = static_cast<double>(geometry.input_height) / geometry.orig_height;
  const float inv = static_cast<float>(image_size_);
  auto encode = [&](double px, double py, float* out) {
    const float x = static_cast<float>(px * sx) + 0.5f;
    const float y = static_cast<float>(py * sy) + 0.5f;
    EncodeCoords(x / inv, y / inv, out);
  };

  const int count = NumSparseTokens(prompt);
  std::vector<float> tokens(static_cast<size_t>(count) * dim_);
  int row = 0;
  for (const PointPrompt& p : prompt.points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) throw Error("prompt: point coordinates must be finite");
    if (p.label != 0 && p.label != 1) {
      throw Error("prompt: point label must be 0 (background) or 1 (foreground), got " + std::to_string(p.label));
    }
    float* t = tokens.data() + static_cast<size_t>(row++) * dim_;
    encode(p.x, p.y, t);
    kernels::Add(t, point_embed_[p.label].data(), t, dim_);
  }
  if (prompt.box) {
    const BoxPrompt& b = *prompt.box;
    if (!std::isfinite(b.x0) || !std::isfinite(b.y0) || !std::isfinite(b.x1) || !std::isfinite(b.y1)) {
      throw Error("prompt: box coordinates must be finite");
    }
    float* t0 = tokens.data() + static_cast<size_t>(row++) * dim_;
    encode(b.x0, b.y0, t0);
    kernels::Add(t0, point_embed_[2].data(), t0, dim_);
    float* t1 = tokens.data() + static_cast<size_t>(row++) * dim_;
    encode(b.x1, b.y1, t1);
    kernels::Add(t1, point_embed_[3].data(), t1, dim_);
  } else if (!prompt.points.empty()) {
    WritePaddingPoint(tokens.data() + static_cast<size_t>(row++) * dim_);
  }
  return tokens;
}

// ref: prompt_encoder.py PromptEncoder._embed_points (float64 points) and
// PositionEmbeddingRandom.forward_with_coords (divides, then .to(float))
void PromptEncoder::EncodeInputFramePoint(double x, double y, float* tokens) const {
  if (!std::isfinite(x) || !std::isfinite(y)) throw Error("prompt: point coordinates must be finite");
  const double size = image_size_;
  EncodeCoords(static_cast<float>((x + 0.5) / size), static_cast<float>((y + 0.5) / size), tokens);
  kernels::Add(tokens, point_embed_[1].data(), tokens, dim_);
  WritePaddingPoint(tokens + dim_);
}

// The padding point (label -1): positional part zeroed, then
// not_a_point_embed added, which leaves exactly not_a_point_embed.
void PromptEncoder::WritePaddingPoint(float* token) const {
  for (int c = 0; c < dim_; ++c) token[c] = 0.0f + not_a_point_[c];
}

// ref: prompt_encoder.py PromptEncoder._embed_masks (mask_downscaling)
void PromptEncoder::EncodeMask(const float* mask_input, float* dense_chw) const {
  const int s0 = mask_size_, s1 = mask_size_ / 2, s2 = mask_size_ / 4;
  // Per thread, kept across calls (256 KB each: above malloc's mmap
  // threshold, a fresh one is an mmap and page faults every call).
  thread_local std::vector<float> a, b;
  a.resize(static_cast<size_t>(s1) * s1 * c1_);
  Conv2x2Stride2Hwc(mask_input, s0, s0, 1, conv0_w_.data(), conv0_b_.data(), c1_, a.data());
  kernels::LayerNormRows(s1 * s1, c1_, a.data(), c1_, ln0_w_.data(), ln0_b_.data(), kLayerNorm2dEps,
                         a.data(), c1_);
  kernels::Gelu(a.data(), a.size());
  b.resize(static_cast<size_t>(s2) * s2 * c2_);
  Conv2x2Stride2Hwc(a.data(), s1, s1, c1_, conv1_w_.data(), conv1_b_.data(), c2_, b.data());
  kernels::LayerNormRows(s2 * s2, c2_, b.data(), c2_, ln1_w_.data(), ln1_b_.data(), kLayerNorm2dEps,
                         b.data(), c2_);
  kernels::Gelu(b.data(), b.size());
  // 1x1 conv straight into channel-first layout: out[dim, pos] = W[dim, c2] *
  // b[pos, c2]^T, then the per-channel bias.
  const int positions = s2 * s2;
  kernels::GemmABt(dim_, positions, c2_, 1.0f, conv2_w_.data(), c2_, b.data(), c2_, dense_chw, positions);
  for (int c = 0; c < dim_; ++c) {
    float* row = dense_chw + static_cast<size_t>(c) * positions;
    const float bias = conv2_b_[c];
    for (int p = 0; p < positions; ++p) row[p] += bias;
  }
}

}  // namespace persam
