// A minimal, non-executing unpickler for what torch.save writes (protocol 2,
// plus the few protocol 3-5 opcodes other savers emit). It builds a value
// tree; only a fixed set of globals has meaning (OrderedDict, the tensor and
// parameter rebuild functions, torch.*Storage types). Any other global becomes
// an opaque object that the caller may ignore, and is never called.
#ifndef PERSAM_WEIGHTS_PICKLE_H_
#define PERSAM_WEIGHTS_PICKLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "weights/tensor.h"

namespace persam {

struct PyObject {
  enum class Kind {
    kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict,
    kGlobal,   // a class or function reference: `text` = "module.name"
    kStorage,  // persistent id of a torch storage
    kTensor,   // torch._utils._rebuild_tensor_v2(...)
    kObject,   // anything else built from a global: `text` = the global
  };
  Kind kind = Kind::kNone;
  int64_t integer = 0;  // kInt, kBool
  double real = 0.0;    // kFloat
  std::string text;     // kString, kBytes, kGlobal, kObject; kStorage: the key
  std::vector<PyObject*> items;                          // kTuple, kList
  std::vector<std::pair<PyObject*, PyObject*>> entries;  // kDict, in insertion order
  // kStorage: element type and count as declared by the pickle.
  DType storage_dtype = DType::kF32;
  int64_t storage_numel = 0;
  // kTensor: a strided view of `storage`.
  PyObject* storage = nullptr;
  int64_t storage_offset = 0;
  std::vector<int64_t> shape, strides;
};

struct PickleResult {
  PyObject* root = nullptr;
  size_t end_offset = 0;  // byte after STOP
  std::vector<std::unique_ptr<PyObject>> arena;  // owns every object
};

// Unpickles `data[0, size)`. `source` names the file (and entry) in errors.
// Throws persam::Error for unsupported opcodes, malformed or truncated input.
PickleResult Unpickle(const uint8_t* data, size_t size, const std::string& source);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_PICKLE_H_
