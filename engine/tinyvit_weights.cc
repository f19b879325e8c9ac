// TinyViT load-time helpers: Conv2d_BN folding, the attention bias index
// table, PatchMerging's stride rule (engine/tinyvit_encoder.h).
#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include "engine/tinyvit_encoder.h"
#include "engine/packed_weights_file.h"
#include "base/error.h"

namespace persam {
namespace {

const Tensor& Find(const TensorMap& tensors, const std::string& name) {
  return FindTensor(tensors, name, {}, "TinyViT encoder");
}

std::vector<float> Vector(const TensorMap& tensors, const std::string& name, int64_t n) {
  const Tensor& t = Find(tensors, name);
  if (t.shape.size() != 1 || t.shape[0] != n) {
    throw Error("TinyViT encoder: tensor " + name + " has shape " + ShapeToString(t.shape) +
                ", expected [" + std::to_string(n) + "]");
  }
  return t.ToFloat32();
}

}  // namespace

FoldedConv FoldConv2dBn(const TensorMap& tensors, const std::string& prefix, float eps) {
  const std::string wname = prefix + ".c.weight";
  const Tensor& wt = Find(tensors, wname);
  if (wt.shape.size() != 4 || wt.shape[2] != wt.shape[3] || wt.NumElements() == 0) {
    throw Error("TinyViT encoder: tensor " + wname + " has shape " + ShapeToString(wt.shape) +
                ", expected [out, in / groups, k, k]");
  }
  FoldedConv conv;
  conv.out_channels = static_cast<int>(wt.shape[0]);
  conv.in_per_group = static_cast<int>(wt.shape[1]);
  conv.kernel = static_cast<int>(wt.shape[2]);
  const int64_t n = conv.out_channels;
  const std::vector<float> gamma = Vector(tensors, prefix + ".bn.weight", n);
  const std::vector<float> beta = Vector(tensors, prefix + ".bn.bias", n);
  const std::vector<float> mean = Vector(tensors, prefix + ".bn.running_mean", n);
  const std::vector<float> var = Vector(tensors, prefix + ".bn.running_var", n);
  conv.weight = wt.ToFloat32();
  conv.bias.resize(n);
  const size_t per_out = conv.weight.size() / n;
  for (int64_t o = 0; o < n; ++o) {
    // ref: tiny_vit_sam.py Conv2d_BN.fuse (in double, rounded once)
    const double scale = static_cast<double>(gamma[o]) / std::sqrt(static_cast<double>(var[o]) + eps);
    for (size_t i = 0; i < per_out; ++i) {
      float& w = conv.weight[o * per_out + i];
      w = static_cast<float>(w * scale);
    }
    conv.bias[o] = static_cast<float>(beta[o] - mean[o] * scale);
  }
  return conv;
}

LinearWeights PackLinearWeight(const TensorMap& tensors, const std::string& name,
                               const std::vector<int64_t>& shape, Precision precision) {
  const Tensor& t = FindTensor(tensors, name, shape, "TinyViT encoder");
  if (shape.size() != 2) throw Error("TinyViT encoder: tensor " + name + " is not a 2-d Linear weight");
  const int n = static_cast<int>(shape[0]), k = static_cast<int>(shape[1]);
  if (precision == Precision::kF32) {
    // `persam convert --packed` files: the panels as stored (engine/packed_weights_file.h).
    std::optional<LinearWeights> stored = FindPackedF32(tensors, name, n, k, 0, n);
    if (stored) return *std::move(stored);
  }
  std::vector<float> scratch;
  return LinearWeights::Pack(t.Float32Values(&scratch), n, k, k, precision);
}

std::vector<int> AttentionBiasIndices(int window, int* num_offsets) {
  // ref: tiny_vit_sam.py Attention.__init__ (itertools.product points,
  // offsets numbered by first appearance)
  const int n = window * window;
  std::map<std::pair<int, int>, int> offsets;
  std::vector<int> idx(static_cast<size_t>(n) * n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      const std::pair<int, int> off(std::abs(i / window - j / window),
                                    std::abs(i % window - j % window));
      auto it = offsets.emplace(off, static_cast<int>(offsets.size())).first;
      idx[static_cast<size_t>(i) * n + j] = it->second;
    }
  }
  if (num_offsets != nullptr) *num_offsets = static_cast<int>(offsets.size());
  return idx;
}

int PatchMergingStride(int out_dim) {
  return (out_dim == 320 || out_dim == 448 || out_dim == 576) ? 1 : 2;
}

}  // namespace persam
