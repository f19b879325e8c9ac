// Int8 weights in a checkpoint: symmetric quantisation per row.
// A quantised tensor `name` is stored as int8 (shape unchanged) next to a
// float32 tensor `name.scale` whose shape is a prefix of the tensor's: one
// scale per index of those leading dimensions ("row"), covering the
// contiguous trailing elements; the value is q * scale[row]. Weights use one
// leading dimension (per output channel: [out] for a [out, in] Linear or an
// [out, in, kh, kw] convolution); the ViT position embedding [1, H, W, C]
// uses three (per position). Such a file is still plain safetensors: any
// reader sees an int8 tensor and its scales.
//
// The rounding is the one of kernels::PackedWeightsI8::Pack (scale =
// max |w_r| / 127, q = round-to-nearest-even(w / scale) in [-127, 127]), so
// packing the dequantised values for the int8 GEMM gives back the same q.
#ifndef PERSAM_WEIGHTS_QUANTIZED_H_
#define PERSAM_WEIGHTS_QUANTIZED_H_

#include <string>
#include <utility>
#include <vector>

#include "weights/tensor.h"

namespace persam {

inline constexpr const char kInt8ScaleSuffix[] = ".scale";

// `name` is int8 with a matching `name.scale` (float32, shape a prefix of
// name's); throws persam::Error when the scale tensor exists but its shape or
// type is wrong.
bool IsQuantizedInt8(const TensorMap& tensors, const std::string& name);

// The tensor's values as float32: q * scale[row] when quantised, else widened
// (Tensor::ToFloat32). Throws when `name` is missing.
std::vector<float> DequantizedFloat32(const TensorMap& tensors, const std::string& name);

// Quantises a float tensor (any float dtype, rank > scale_dims >= 1) per row
// of its first `scale_dims` dimensions: {int8 tensor, float32 scales of shape
// t.shape[0, scale_dims)}. All-zero rows get scale 1.
std::pair<Tensor, Tensor> QuantizeInt8PerRow(const Tensor& t, const std::string& name, int scale_dims = 1);

// A copy of the map where every quantised tensor is replaced by its float32
// values and the scale tensors are dropped; other tensors are shared, not
// copied. For consumers that only run float weights. Tensors whose names
// start with a non-empty `keep_prefix` stay quantised (a consumer that reads
// int8 itself, e.g. "image_encoder." for the ViT encoder).
TensorMap DequantizeInt8Tensors(const TensorMap& tensors, const std::string& keep_prefix = "");

// Number of quantised tensors in the map.
int CountQuantizedInt8(const TensorMap& tensors);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_QUANTIZED_H_
