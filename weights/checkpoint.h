// Reading and writing model weight files: PyTorch .pth (zip, pickle protocol 2),
// the legacy pre-1.6 format, and safetensors (the engine's own format).
#ifndef PERSAM_WEIGHTS_CHECKPOINT_H_
#define PERSAM_WEIGHTS_CHECKPOINT_H_

#include <map>
#include <string>

#include "weights/tensor.h"

namespace persam {

struct Checkpoint {
  std::string path;
  std::string format;  // "pth", "safetensors"
  TensorMap tensors;
  std::map<std::string, std::string> metadata;  // safetensors __metadata__
};

// Detects the format from the file's first bytes, not its name. Throws
// persam::Error naming the file (and tensor) on anything malformed.
Checkpoint ReadCheckpoint(const std::string& path);

// Writes a safetensors file (tensors in name order, 8-byte aligned data).
void WriteSafetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_CHECKPOINT_H_
