// NumPy .npy arrays (format 1.0/2.0, C order): float32, float16, uint8, bool.
#ifndef PERSAM_WEIGHTS_NPY_H_
#define PERSAM_WEIGHTS_NPY_H_

#include <string>

#include "weights/mapped_file.h"
#include "weights/tensor.h"

namespace persam {

// Throws persam::Error naming the file on anything malformed; the data must
// be exactly what the shape needs.
Tensor ReadNpy(const std::string& path);
Tensor ReadNpyBytes(const FileBytes& file);  // `file.path` names it in errors
void WriteNpy(const std::string& path, const Tensor& tensor);
void WriteNpyFloat32(const std::string& path, const std::vector<int64_t>& shape,
                     const float* values);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_NPY_H_
