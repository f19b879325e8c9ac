#include "engine/decoder_tensors.h"

#include "weights/error.h"

namespace persam {

const std::vector<int64_t>& DecoderTensorShape(const TensorMap& tensors, const std::string& name) {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw Error("missing tensor '" + name + "'");
  return it->second.shape;
}

std::vector<float> DecoderTensor(const TensorMap& tensors, const std::string& name,
                                 const std::vector<int64_t>& shape) {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw Error("missing tensor '" + name + "'");
  if (!shape.empty() && it->second.shape != shape) {
    throw Error("tensor '" + name + "' has shape " + ShapeToString(it->second.shape) +
                ", expected " + ShapeToString(shape));
  }
  return it->second.ToFloat32();
}

}  // namespace persam
