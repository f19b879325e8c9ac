// Reading and writing model weight files: PyTorch .pth (zip, pickle protocol 2),
// the legacy pre-1.6 format, and safetensors (the engine's own format).
#ifndef PERSAM_WEIGHTS_CHECKPOINT_H_
#define PERSAM_WEIGHTS_CHECKPOINT_H_

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "weights/mapped_file.h"
#include "weights/tensor.h"

namespace persam {

struct Checkpoint {
  std::string path;
  std::string format;  // "pth", "pth-legacy", "safetensors"
  TensorMap tensors;
  std::map<std::string, std::string> metadata;  // safetensors __metadata__
};

// Detects the format from the file's first bytes, not its name. Throws
// persam::Error naming the file (and tensor) on anything malformed.
// The file is memory-mapped: contiguous tensors (all of safetensors, most of a
// .pth) point into the map, which their `owner` keeps alive; only strided
// views are copied.
Checkpoint ReadCheckpoint(const std::string& path);
// The same on bytes already in memory (`bytes.path` names them in errors).
Checkpoint ReadCheckpointFromBytes(const FileBytes& bytes);

// The format readers, for callers that know what they have.
Checkpoint ReadPth(const FileBytes& bytes);          // zip or legacy
Checkpoint ReadSafetensors(const FileBytes& bytes);

// Writes a safetensors file: header members in name order, __metadata__ first;
// data ordered by element size (largest first) then name, so that every
// tensor starts at a multiple of its element size from an 8-byte aligned data
// section, with no gaps (as the reference implementation requires). Written
// to a temporary file renamed into place, so a failure leaves no partial file.
void WriteSafetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata);

struct SafetensorsWriteOptions {
  // Store float tensors (f32/f16/bf16/f64) as this type, rounding to nearest
  // even, converted chunk by chunk while writing; integer tensors are kept.
  std::optional<DType> float_dtype;
  // Tensors to write first, each starting 64-byte aligned in the file (their
  // sizes must be multiples of 64 bytes): pre-packed GEMM panels used where
  // they are mapped (engine/packed_weights_file.h). Null: none.
  std::function<bool(const std::string& name)> first;
};
void WriteSafetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata, const SafetensorsWriteOptions& options);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_CHECKPOINT_H_
