// Pre-packed float32 GEMM weights in a safetensors file (issue 17, load
// time): the one place that defines their names, layout and version.
//
// `persam convert --packed` keeps every official tensor and adds, for each
// float32 weight the engine packs for its float32 GEMM (ViT blocks' qkv,
// proj, lin1, lin2 and patch embedding, TinyViT's attention and MLP
// Linears, the mask decoder's Linears), a tensor
//
//   NAME + kPackedF32Suffix   F32 [ceil(rows / kGemmNR), k, kGemmNR]
//
// holding NAME ([rows, k...] viewed as [rows, k]) in the panels of
// kernels/gemm_pack.h: panel j is rows [32 j, 32 j + 32) k-major, rows past
// `rows` zero. The file's metadata kPackedLayoutKey = PackedLayoutTag()
// says which layout the panels are in. A float32 load uses the panels where
// they lie in the mapped file (no packing, no copy) when the tag is this
// build's; a file with another tag (a future layout) is loaded from its
// plain tensors, packed as for any file. The values are the same either way
// (packing only moves floats), so the embeddings and masks are bit for bit
// those of the plain file; the encoder identity hash skips the packed
// tensors. bf16 and int8 loads ignore them.
#ifndef PERSAM_ENGINE_PACKED_WEIGHTS_FILE_H_
#define PERSAM_ENGINE_PACKED_WEIGHTS_FILE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/linear.h"
#include "kernels/gemm.h"
#include "weights/tensor.h"

namespace persam {

inline constexpr char kPackedF32Suffix[] = ".packed_f32";
inline constexpr char kPackedLayoutKey[] = "persam.packed_layout";
// Bump the version when the panel layout changes (also when kGemmNR does:
// the tag names it).
inline constexpr int kPackedLayoutVersion = 1;

// "f32-panels-v1 nr=32 k-major": this build's layout.
std::string PackedLayoutTag();

bool IsPackedTensorName(const std::string& name);

// Removes the packed tensors from `tensors`; returns how many.
size_t DropPackedTensors(TensorMap* tensors);

// Loading: `tensors` with the packed tensors kept when `metadata` carries
// this build's tag, removed otherwise (another layout: repacked from the
// plain tensors). *layout_note (if not null) says which, for messages.
TensorMap UsablePackedTensors(const TensorMap& tensors, const std::map<std::string, std::string>& metadata,
                              std::string* layout_note = nullptr);

// Rows [row0, row0 + n) of the [rows, k] weight `name` as float32 GEMM
// weights, straight from its packed tensor: nullopt when there is none or
// the rows do not start on a panel (row0 % kGemmNR) or end on one (then the
// caller packs from the plain tensor). A packed tensor of the wrong dtype or
// shape throws persam::Error naming it. Also records `name` for
// PackableWeights.
std::optional<LinearWeights> FindPackedF32(const TensorMap& tensors, const std::string& name, int64_t rows,
                                           int64_t k, int64_t row0, int64_t n);
// The same as kernels::PackedWeights (the mask decoder's float32 Linears).
std::optional<kernels::PackedWeights> FindPackedPanels(const TensorMap& tensors, const std::string& name,
                                                       int64_t rows, int64_t k, int64_t row0, int64_t n);

// Converting: the weights a float32 load of `tensors` packs (by running
// that load once), and the packed tensors for them.
struct PackableWeight {
  std::string name;
  int64_t rows = 0, k = 0;
};
std::vector<PackableWeight> PackableWeights(const TensorMap& tensors, const std::string& source);
// Adds NAME + kPackedF32Suffix for every weight in `weights` (any float
// dtype: packed from its float32 values) to *tensors.
void AddPackedTensors(const std::vector<PackableWeight>& weights, TensorMap* tensors);

}  // namespace persam

#endif  // PERSAM_ENGINE_PACKED_WEIGHTS_FILE_H_
