// The one exception type of the engine. Every message names the file, tensor
// or argument at fault and what was expected (STYLE.md, practice 11). It
// lives below every layer (kernels, weights, engine, ... all include it);
// the C API (capi/) maps it to a status code.
#ifndef PERSAM_BASE_ERROR_H_
#define PERSAM_BASE_ERROR_H_

#include <stdexcept>
#include <string>

namespace persam {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace persam

#endif  // PERSAM_BASE_ERROR_H_
