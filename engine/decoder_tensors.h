// Fetching float32 copies of the prompt encoder / mask decoder tensors by
// their official names, with shape checks that name the tensor.
#ifndef PERSAM_ENGINE_DECODER_TENSORS_H_
#define PERSAM_ENGINE_DECODER_TENSORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "weights/tensor.h"

namespace persam {

// The tensor `name` widened to float32. Throws persam::Error naming the tensor
// and both shapes when it is missing or its shape differs from `shape` (an
// empty `shape` accepts any).
std::vector<float> DecoderTensor(const TensorMap& tensors, const std::string& name,
                                 const std::vector<int64_t>& shape);
// The shape of `name`; throws when missing.
const std::vector<int64_t>& DecoderTensorShape(const TensorMap& tensors, const std::string& name);

}  // namespace persam

#endif  // PERSAM_ENGINE_DECODER_TENSORS_H_
