#include "engine/decoder_tensors.h"

namespace persam {

const std::vector<int64_t>& DecoderTensorShape(const TensorMap& tensors, const std::string& name) {
  return FindTensor(tensors, name).shape;
}

std::vector<float> DecoderTensor(const TensorMap& tensors, const std::string& name,
                                 const std::vector<int64_t>& shape) {
  return FindTensor(tensors, name, shape).ToFloat32();
}

}  // namespace persam
