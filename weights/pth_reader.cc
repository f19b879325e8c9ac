// PyTorch checkpoints: the zip format of torch.save (>= 1.6) and the legacy
// stream format (magic, protocol, sys info, pickle, storage keys, raw
// storages). Both share the pickle; only where storage bytes live differs.
#include <cstring>
#include <functional>

#include "weights/checkpoint.h"
#include "base/error.h"
#include "weights/pickle.h"
#include "weights/utf8.h"
#include "weights/zip_archive.h"

namespace persam {
namespace {

using Kind = PyObject::Kind;

// Where a storage's bytes are: pointer into the file and byte count.
struct StorageBytes {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
};
using StorageLookup = std::function<StorageBytes(const PyObject& storage)>;

bool CheckedMul(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }
bool CheckedAdd(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }

// Copies a strided view into C order, innermost dimension last.
void CopyStrided(const uint8_t* base, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                 size_t elem, size_t dim, uint8_t** out) {
  if (dim + 1 == shape.size()) {
    if (strides[dim] == 1) {
      const size_t n = static_cast<size_t>(shape[dim]) * elem;
      std::memcpy(*out, base, n);
      *out += n;
      return;
    }
    for (int64_t i = 0; i < shape[dim]; ++i) {
      std::memcpy(*out, base + static_cast<size_t>(i * strides[dim]) * elem, elem);
      *out += elem;
    }
    return;
  }
  for (int64_t i = 0; i < shape[dim]; ++i) {
    CopyStrided(base + static_cast<size_t>(i * strides[dim]) * elem, shape, strides, elem, dim + 1, out);
  }
}

// The bytes all strided copies of one checkpoint may allocate together: a
// real checkpoint's views each read their own storage, so their copies add
// up to at most the file; stride-0 (broadcast) and aliased views of one
// storage could otherwise multiply a few bytes into gigabytes. The slack
// covers small broadcast buffers.
constexpr uint64_t kCopySlack = uint64_t{64} << 20;
uint64_t CopyBudget(const FileBytes& file) { return static_cast<uint64_t>(file.size) + kCopySlack; }

Tensor MaterializeTensor(const PyObject& view, const std::string& name, const FileBytes& file,
                         const StorageLookup& lookup, uint64_t* copied) {
  const std::string where = file.path + ": tensor '" + name + "'";
  const PyObject& storage = *view.storage;
  Tensor t;
  t.dtype = storage.storage_dtype;
  t.shape = view.shape;
  const size_t elem = DTypeSize(t.dtype);
  int64_t numel = 1;
  int64_t last = view.storage_offset;  // highest element index the view reads
  for (size_t i = 0; i < view.shape.size(); ++i) {
    if (!CheckedMul(numel, view.shape[i], &numel)) throw Error(where + ": element count overflows");
  }
  if (numel > 0) {
    for (size_t i = 0; i < view.shape.size(); ++i) {
      int64_t span;
      if (!CheckedMul(view.shape[i] - 1, view.strides[i], &span) || !CheckedAdd(last, span, &last)) {
        throw Error(where + ": view extent overflows");
      }
    }
  }
  const StorageBytes bytes = lookup(storage);
  if (storage.storage_numel < 0 || storage.storage_numel > static_cast<int64_t>(bytes.size / elem) ||
      static_cast<uint64_t>(storage.storage_numel) * elem != bytes.size) {
    throw Error(where + ": storage '" + storage.text + "' holds " + std::to_string(bytes.size) +
                " bytes, the pickle declares " + std::to_string(storage.storage_numel) + " " +
                DTypeName(t.dtype) + " elements");
  }
  if (numel == 0) {
    t.data = bytes.data;  // never read
    t.owner = file.owner;
    return t;
  }
  if (last >= storage.storage_numel) {
    throw Error(where + " (shape " + ShapeToString(view.shape) + ", offset " +
                std::to_string(view.storage_offset) + ") reads element " + std::to_string(last) +
                " past the end of its storage '" + storage.text + "' of " +
                std::to_string(storage.storage_numel) + " elements");
  }
  const uint8_t* base = bytes.data + static_cast<size_t>(view.storage_offset) * elem;
  bool contiguous = true;
  int64_t expected = 1;
  for (size_t i = view.shape.size(); i-- > 0;) {
    if (view.shape[i] != 1 && view.strides[i] != expected) contiguous = false;
    expected *= view.shape[i];
  }
  if (contiguous) {  // zero copy: point into the mapped file
    t.data = base;
    t.owner = file.owner;
    return t;
  }
  // A strided view (transpose, expand) is copied, within CopyBudget.
  uint64_t bytes_needed;
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel), elem, &bytes_needed) ||
      bytes_needed > CopyBudget(file) - *copied) {
    throw Error(where + ": strided view " + ShapeToString(view.shape) + " of storage '" + storage.text +
                "' would bring the copies of broadcast or transposed views to " +
                std::to_string(*copied + bytes_needed) + " bytes, more than the file's " +
                std::to_string(file.size) + " bytes + 64 MiB allow");
  }
  *copied += bytes_needed;
  std::shared_ptr<uint8_t> buffer(new uint8_t[static_cast<size_t>(numel) * elem], std::default_delete<uint8_t[]>());
  // Size-1 dimensions select nothing: dropped, the copy loops only over the
  // others (a [N, 1] view copies N elements, not N one-element rows).
  std::vector<int64_t> shape, strides;
  for (size_t i = 0; i < view.shape.size(); ++i) {
    if (view.shape[i] == 1) continue;
    shape.push_back(view.shape[i]);
    strides.push_back(view.strides[i]);
  }
  uint8_t* out = buffer.get();
  if (shape.empty()) {
    std::memcpy(out, base, elem);
  } else {
    CopyStrided(base, shape, strides, elem, 0, &out);
  }
  t.data = buffer.get();
  t.owner = buffer;
  return t;
}

std::string Describe(const PyObject& o) {
  switch (o.kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "a bool";
    case Kind::kInt: return "an int";
    case Kind::kFloat: return "a float";
    case Kind::kString: return "a string";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "a tuple";
    case Kind::kList: return "a list";
    case Kind::kDict: return "a dict";
    case Kind::kGlobal: return "the global '" + o.text + "'";
    case Kind::kStorage: return "a bare storage";
    case Kind::kTensor: return "a tensor";
    case Kind::kObject: return "a '" + o.text + "' object";
  }
  return "?";
}

bool HasTensorValue(const PyObject& dict) {
  for (const auto& entry : dict.entries) {
    if (entry.second->kind == Kind::kTensor) return true;
  }
  return false;
}

// The state dict: the root dict, or the dict under "model" / "state_dict" of
// a training checkpoint that wraps it.
const PyObject& FindStateDict(const PyObject& root, const std::string& path) {
  if (root.kind != Kind::kDict) {
    throw Error(path + ": no state dict: the checkpoint holds " + Describe(root) +
                ", expected a dict of tensors (torch.save(model.state_dict(), f))");
  }
  if (!HasTensorValue(root)) {
    for (const char* key : {"model", "state_dict", "model_state_dict"}) {
      for (const auto& entry : root.entries) {
        if (entry.first->kind == Kind::kString && entry.first->text == key && entry.second->kind == Kind::kDict) {
          return *entry.second;
        }
      }
    }
    if (!root.entries.empty()) {
      std::string keys;
      for (const auto& entry : root.entries) {
        if (entry.first->kind != Kind::kString) continue;
        if (keys.size() > 200) {
          keys += ", ...";
          break;
        }
        keys += (keys.empty() ? "'" : ", '") + entry.first->text + "': " + Describe(*entry.second);
      }
      throw Error(path + ": no state dict: the top-level dict holds no tensors and no 'model' or "
                  "'state_dict' entry (" + keys + ")");
    }
  }
  return root;
}

TensorMap BuildTensors(const PickleResult& pickle, const FileBytes& file, const StorageLookup& lookup) {
  const PyObject& state = FindStateDict(*pickle.root, file.path);
  TensorMap tensors;
  uint64_t copied = 0;
  for (const auto& entry : state.entries) {
    if (entry.first->kind != Kind::kString) {
      throw Error(file.path + ": state dict key is " + Describe(*entry.first) + ", expected a string");
    }
    const std::string& name = entry.first->text;
    if (!IsValidUtf8(name)) {
      throw Error(file.path + ": a state dict key is not valid UTF-8 (" + std::to_string(name.size()) + " bytes)");
    }
    if (entry.second->kind != Kind::kTensor) {
      throw Error(file.path + ": state dict entry '" + name + "' is " + Describe(*entry.second) +
                  ", expected a dense tensor (torch._utils._rebuild_tensor_v2)");
    }
    tensors[name] = MaterializeTensor(*entry.second, name, file, lookup, &copied);
  }
  return tensors;
}

Checkpoint ReadZip(const FileBytes& file) {
  const ZipArchive zip(file);
  // Entries live under one top folder named after the saved file (any name).
  std::string prefix;
  int pickles = 0;
  for (const auto& entry : zip.entries()) {
    const std::string& name = entry.first;
    const size_t slash = name.find('/');
    if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      prefix = name.substr(0, slash);
      ++pickles;
    }
  }
  if (pickles != 1) {
    throw Error(file.path + ": not a PyTorch checkpoint: expected one '<folder>/data.pkl' entry in the zip, found " +
                std::to_string(pickles));
  }
  if (const ZipEntry* order = zip.Find(prefix + "/byteorder")) {
    const std::string value(reinterpret_cast<const char*>(file.data + order->data_offset),
                            static_cast<size_t>(std::min<uint64_t>(order->size, 16)));
    if (value != "little") throw Error(file.path + ": byte order '" + value + "' is not supported (expected little)");
  }
  const ZipEntry& pkl = *zip.Find(prefix + "/data.pkl");
  const uint8_t* pkl_data = file.data + pkl.data_offset;
  // The pickle is small and drives everything else: verify its checksum. Storage
  // records are not checksummed, which would page in the whole file.
  if (Crc32(pkl_data, static_cast<size_t>(pkl.size)) != pkl.crc32) {
    throw Error(file.path + ": entry '" + prefix + "/data.pkl' is corrupt (CRC mismatch)");
  }
  const PickleResult pickle = Unpickle(pkl_data, static_cast<size_t>(pkl.size), file.path + ": " + prefix + "/data.pkl");
  const StorageLookup lookup = [&](const PyObject& storage) {
    const std::string entry_name = prefix + "/data/" + storage.text;
    const ZipEntry* entry = zip.Find(entry_name);
    if (entry == nullptr) throw Error(file.path + ": storage entry '" + entry_name + "' is missing from the zip");
    return StorageBytes{file.data + entry->data_offset, entry->size};
  };
  Checkpoint checkpoint;
  checkpoint.path = file.path;
  checkpoint.format = "pth";
  checkpoint.tensors = BuildTensors(pickle, file, lookup);
  return checkpoint;
}

Checkpoint ReadLegacy(const FileBytes& file) {
  static const uint8_t kMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  const std::string source = file.path + " (legacy format)";
  size_t offset = 0;
  auto next = [&](const char* what) {
    PickleResult r = Unpickle(file.data + offset, file.size - offset, source + ": " + what);
    offset += r.end_offset;
    return r;
  };
  const PickleResult magic = next("magic number");
  if (magic.root->kind != Kind::kInt || magic.root->text.size() != sizeof(kMagic) ||
      std::memcmp(magic.root->text.data(), kMagic, sizeof(kMagic)) != 0) {
    throw Error(file.path + ": starts like a pickle but is not a PyTorch checkpoint (bad magic number)");
  }
  const PickleResult protocol = next("protocol version");
  if (protocol.root->kind != Kind::kInt || protocol.root->integer != 1001) {
    throw Error(file.path + ": unsupported legacy protocol version (expected 1001)");
  }
  const PickleResult sys_info = next("system info");
  if (sys_info.root->kind == Kind::kDict) {
    for (const auto& entry : sys_info.root->entries) {
      if (entry.first->kind == Kind::kString && entry.first->text == "little_endian" &&
          entry.second->kind == Kind::kBool && entry.second->integer == 0) {
        throw Error(file.path + ": saved on a big-endian machine; not supported");
      }
    }
  }
  const PickleResult main = next("data");
  const PickleResult keys = next("storage keys");
  if (keys.root->kind != Kind::kList) throw Error(file.path + ": legacy storage key list missing");
  // Element types of the storages, from the pickle's persistent ids.
  std::map<std::string, DType> types;
  for (const auto& object : main.arena) {
    if (object->kind == Kind::kStorage) types[object->text] = object->storage_dtype;
  }
  // Raw storages follow in key order: int64 element count, then the elements.
  std::map<std::string, StorageBytes> storages;
  for (const PyObject* key : keys.root->items) {
    if (key->kind != Kind::kString) throw Error(file.path + ": legacy storage key is not a string");
    auto type = types.find(key->text);
    if (type == types.end()) throw Error(file.path + ": legacy storage '" + key->text + "' is never used");
    if (file.size - offset < 8) throw Error(file.path + ": truncated before storage '" + key->text + "'");
    uint64_t numel;
    std::memcpy(&numel, file.data + offset, 8);
    offset += 8;
    const uint64_t elem = DTypeSize(type->second);
    if (numel > (file.size - offset) / elem) {
      throw Error(file.path + ": storage '" + key->text + "' of " + std::to_string(numel) +
                  " elements runs past the end of the file");
    }
    storages[key->text] = StorageBytes{file.data + offset, numel * elem};
    offset += static_cast<size_t>(numel * elem);
  }
  const StorageLookup lookup = [&](const PyObject& storage) {
    auto it = storages.find(storage.text);
    if (it == storages.end()) throw Error(file.path + ": storage '" + storage.text + "' is missing");
    return it->second;
  };
  Checkpoint checkpoint;
  checkpoint.path = file.path;
  checkpoint.format = "pth-legacy";
  checkpoint.tensors = BuildTensors(main, file, lookup);
  return checkpoint;
}

}  // namespace

Checkpoint ReadPth(const FileBytes& file) {
  if (file.size >= 4 && std::memcmp(file.data, "PK", 2) == 0) return ReadZip(file);
  if (file.size >= 2 && file.data[0] == 0x80) return ReadLegacy(file);
  if (file.size >= 262 && std::memcmp(file.data + 257, "ustar", 5) == 0) {
    throw Error(file.path + ": tar-based PyTorch checkpoint (PyTorch < 0.4) is not supported; re-save it with a "
                "recent PyTorch: torch.save(torch.load(f), f2)");
  }
  throw Error(file.path + ": not a PyTorch checkpoint (expected a zip archive or a pickle)");
}

}  // namespace persam
