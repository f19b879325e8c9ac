#include "engine/neck.h"

#include <algorithm>
#include <cstdint>

#include "kernels/conv_rows.h"
#include "kernels/ops.h"
#include "base/error.h"
#include "weights/quantized.h"

namespace persam {
namespace {

constexpr float kLayerNorm2dEps = 1e-6f;  // ref: image_encoder.py LayerNorm2d(eps=1e-6)
// Floats of the 3x3 conv's im2col band (4 MB: L2/L3 resident, small RSS).
constexpr int64_t kBandFloats = int64_t{1} << 20;

// Any float dtype, or int8 with scales (weights/quantized.h).
std::vector<float> Load(const TensorMap& tensors, const std::string& name,
                        const std::vector<int64_t>& shape, const std::string& what) {
  FindTensor(tensors, name, shape, what);
  return DequantizedFloat32(tensors, name);
}

}  // namespace

SamNeck::SamNeck(const TensorMap& tensors, const std::string& prefix, int in_chans,
                 Precision precision, const std::string& what)
    : in_chans_(in_chans) {
  const std::string n0 = prefix + "neck.0.weight";
  const std::vector<int64_t>& s0 = FindTensor(tensors, n0, {}, what).shape;
  if (s0.size() != 4 || s0[0] < 1 || s0[1] != in_chans || s0[2] != 1 || s0[3] != 1) {
    throw Error(what + ": tensor '" + n0 + "' has shape " + ShapeToString(s0) +
                ", expected [out, " + std::to_string(in_chans) + ", 1, 1]");
  }
  out_chans_ = static_cast<int>(s0[0]);
  const int64_t O = out_chans_;
  const std::vector<float> w1 = Load(tensors, n0, {O, in_chans, 1, 1}, what);
  conv1_ = LinearWeights::Pack(w1.data(), out_chans_, in_chans, in_chans, precision);
  ln1_w_ = Load(tensors, prefix + "neck.1.weight", {O}, what);
  ln1_b_ = Load(tensors, prefix + "neck.1.bias", {O}, what);
  const std::vector<float> w2 = kernels::PermuteConvWeightKkc(
      Load(tensors, prefix + "neck.2.weight", {O, O, 3, 3}, what).data(), out_chans_, out_chans_,
      3);
  conv2_ = LinearWeights::Pack(w2.data(), out_chans_, 9 * out_chans_, 9 * out_chans_, precision);
  ln2_w_ = Load(tensors, prefix + "neck.3.weight", {O}, what);
  ln2_b_ = Load(tensors, prefix + "neck.3.bias", {O}, what);
}

size_t SamNeck::WeightBytes() const {
  return conv1_.Bytes() + conv2_.Bytes() + 4 * size_t(4) * out_chans_;
}

int SamNeck::BandRows(int grid) const {
  const int64_t row = int64_t(grid) * 9 * out_chans_;
  return static_cast<int>(std::clamp<int64_t>(kBandFloats / row, 1, grid));
}

size_t SamNeck::MapScratchFloats(int grid) const { return 2 * size_t(grid) * grid * out_chans_; }

size_t SamNeck::ColsScratchFloats(int grid) const { return size_t(BandRows(grid)) * grid * 9 * out_chans_; }

void SamNeck::Run(const float* tokens, int grid, float* maps, float* cols, float* embedding) const {
  const int T = grid * grid, O = out_chans_;
  float* a = maps;                         // [T, O]
  float* b = a + size_t(T) * O;            // [T, O]
  // cols: [band * grid, 9 * O]; tokens are dead once conv1 has read them.
  const kernels::GemmEpilogue none;
  // Channel-last, so LayerNorm2d (over channels, per pixel) is a row LN.
  conv1_.Apply(T, tokens, in_chans_, none, a, O);
  kernels::LayerNormRows(T, O, a, O, ln1_w_.data(), ln1_b_.data(), kLayerNorm2dEps, a, O);
  const int band = BandRows(grid);
  for (int y0 = 0; y0 < grid; y0 += band) {
    const int y1 = std::min(grid, y0 + band);
    kernels::Im2ColRows(a, 0, grid, grid, O, O, 1, 3, 1, 1, y0, y1, cols);
    conv2_.Apply((y1 - y0) * grid, cols, 9 * O, none, b + size_t(y0) * grid * O, O);
  }
  kernels::LayerNormRows(T, O, b, O, ln2_w_.data(), ln2_b_.data(), kLayerNorm2dEps, b, O);
  kernels::TransposeMatrix(b, T, O, embedding);  // [T, O] -> [O, grid, grid]
}

}  // namespace persam
