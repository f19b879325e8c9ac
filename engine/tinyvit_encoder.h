// MobileSAM's TinyViT image encoder ("vit_t"): building blocks exposed for
// tests. The encoder itself is created with MakeTinyVitEncoder
// (engine/image_encoder.h).
//
// ref: MobileSAM mobile_sam/modeling/tiny_vit_sam.py (TinyViT, Conv2d_BN,
// MBConv, PatchMerging, Attention, TinyViTBlock).
#ifndef PERSAM_ENGINE_TINYVIT_ENCODER_H_
#define PERSAM_ENGINE_TINYVIT_ENCODER_H_

#include <string>
#include <vector>

#include "engine/linear.h"
#include "engine/precision.h"
#include "weights/tensor.h"

namespace persam {

// BatchNorm eps of every Conv2d_BN (torch.nn.BatchNorm2d default) and of the
// LayerNorms inside the TinyViT blocks (torch.nn.LayerNorm default).
inline constexpr float kTinyVitBnEps = 1e-5f;
inline constexpr float kTinyVitLnEps = 1e-5f;

// A Conv2d_BN with the (eval-mode) BatchNorm folded into the conv:
// w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps),
// computed in double and rounded once.
// ref: tiny_vit_sam.py Conv2d_BN.fuse
struct FoldedConv {
  int out_channels = 0;
  int in_per_group = 0;  // in_channels / groups
  int kernel = 0;
  std::vector<float> weight;  // [out, in_per_group, k, k] (PyTorch order)
  std::vector<float> bias;    // [out]
};

// `prefix` names the Conv2d_BN module, e.g.
// "image_encoder.layers.0.blocks.0.conv1"; reads prefix.c.weight and
// prefix.bn.{weight,bias,running_mean,running_var}. Throws persam::Error
// naming the tensor when one is missing or its shape is inconsistent.
FoldedConv FoldConv2dBn(const TensorMap& tensors, const std::string& prefix,
                        float eps = kTinyVitBnEps);

// A Linear weight [n, k] (`shape`, checked) packed for `precision`; float32
// tensors are packed straight from the checkpoint's bytes (no float copy
// first: a MobileSAM load copied ~20 MB for nothing), others through
// ToFloat32. The packed values are the same either way.
LinearWeights PackLinearWeight(const TensorMap& tensors, const std::string& name,
                               const std::vector<int64_t>& shape, Precision precision);

// The attention_bias_idxs table of a window x window TinyViT attention:
// idx[i * N + j] (N = window^2, i, j in row-major window order) is the index
// of the offset (|dy|, |dx|) between positions i and j, offsets numbered in
// order of first appearance. Also returns the number of distinct offsets.
// ref: tiny_vit_sam.py Attention.__init__
std::vector<int> AttentionBiasIndices(int window, int* num_offsets);

// PatchMerging's depthwise stride: MobileSAM keeps the resolution (stride 1)
// when out_dim is 320, 448 or 576, else halves it.
// ref: tiny_vit_sam.py PatchMerging.__init__
int PatchMergingStride(int out_dim);

}  // namespace persam

#endif  // PERSAM_ENGINE_TINYVIT_ENCODER_H_
