// NumPy .npy: magic, version, a Python-literal header dict, raw C-order data.
#include "weights/npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/output_file.h"
#include "weights/mapped_file.h"

namespace persam {
namespace {

struct NpyType {
  const char* descr;
  DType dtype;
};
constexpr NpyType kTypes[] = {
    {"<f4", DType::kF32}, {"<f2", DType::kF16}, {"|u1", DType::kU8}, {"|b1", DType::kBool},
    {"<f8", DType::kF64}, {"<i8", DType::kI64}, {"<i4", DType::kI32}, {"<i2", DType::kI16},
    {"|i1", DType::kI8},  {"<u1", DType::kU8},  {"<b1", DType::kBool},
};

// Value of `'key': ` in the header dict, up to the next top-level comma.
std::string HeaderField(const std::string& header, const std::string& key, const std::string& path) {
  const std::string quoted = "'" + key + "'";
  size_t pos = header.find(quoted);
  if (pos == std::string::npos) throw Error(path + ": .npy header lacks '" + key + "'");
  pos = header.find(':', pos + quoted.size());
  if (pos == std::string::npos) throw Error(path + ": malformed .npy header");
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  size_t end = pos;
  if (end < header.size() && header[end] == '(') {
    end = header.find(')', end);
    if (end == std::string::npos) throw Error(path + ": malformed .npy shape");
    return header.substr(pos + 1, end - pos - 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  std::string value = header.substr(pos, end - pos);
  while (!value.empty() && value.back() == ' ') value.pop_back();
  return value;
}

}  // namespace

Tensor ReadNpy(const std::string& path) { return ReadNpyBytes(MapFile(path)); }

Tensor ReadNpyBytes(const FileBytes& file) {
  const std::string& path = file.path;
  if (file.size < 10 || std::memcmp(file.data, "\x93NUMPY", 6) != 0) {
    throw Error(path + ": not a .npy file (bad magic)");
  }
  const uint8_t major = file.data[6];
  size_t header_len, header_start;
  if (major == 1) {
    header_len = file.data[8] | file.data[9] << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (file.size < 12) throw Error(path + ": truncated .npy header");
    header_len = file.data[8] | file.data[9] << 8 | file.data[10] << 16 | static_cast<size_t>(file.data[11]) << 24;
    header_start = 12;
  } else {
    throw Error(path + ": unsupported .npy version " + std::to_string(major));
  }
  if (header_len > file.size - header_start) throw Error(path + ": truncated .npy header");
  const std::string header(reinterpret_cast<const char*>(file.data + header_start), header_len);
  std::string descr = HeaderField(header, "descr", path);
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) descr = descr.substr(1, descr.size() - 2);
  if (HeaderField(header, "fortran_order", path) != "False") {
    throw Error(path + ": Fortran-order .npy is not supported (expected C order)");
  }
  Tensor t;
  bool known = false;
  for (const NpyType& type : kTypes) {
    if (descr == type.descr) {
      t.dtype = type.dtype;
      known = true;
    }
  }
  if (!known) throw Error(path + ": unsupported .npy dtype '" + descr + "'");
  const std::string shape = HeaderField(header, "shape", path);
  int64_t numel = 1;
  size_t pos = 0;
  while (pos < shape.size()) {
    while (pos < shape.size() && (shape[pos] == ' ' || shape[pos] == ',')) ++pos;
    if (pos >= shape.size()) break;
    size_t used = 0;
    long long d;
    try {
      d = std::stoll(shape.substr(pos), &used);
    } catch (const std::exception&) {
      throw Error(path + ": malformed .npy shape '" + shape + "'");
    }
    if (d < 0 || __builtin_mul_overflow(numel, d, &numel)) throw Error(path + ": bad .npy shape '" + shape + "'");
    t.shape.push_back(d);
    pos += used;
  }
  const size_t data_start = header_start + header_len;
  // Checked: a shape like (2^46 + 1, 256, 256) of float32 wraps to a small
  // byte count that a short file would match.
  uint64_t bytes;
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel), DTypeSize(t.dtype), &bytes)) {
    throw Error(path + ": .npy shape " + ShapeToString(t.shape) + " of " + DTypeName(t.dtype) +
                " needs more bytes than any file holds");
  }
  if (bytes != file.size - data_start) {
    throw Error(path + ": .npy data is " + std::to_string(file.size - data_start) + " bytes, shape " +
                ShapeToString(t.shape) + " of " + DTypeName(t.dtype) + " needs " + std::to_string(bytes));
  }
  t.data = file.data + data_start;
  t.owner = file.owner;
  return t;
}

void WriteNpy(const std::string& path, const Tensor& tensor) {
  const char* descr = nullptr;
  for (const NpyType& type : kTypes) {
    if (type.dtype == tensor.dtype) {
      descr = type.descr;
      break;
    }
  }
  if (descr == nullptr || tensor.dtype == DType::kBF16) {
    throw Error(path + ": cannot write " + DTypeName(tensor.dtype) + " to .npy");
  }
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape.size(); ++i) shape += std::to_string(tensor.shape[i]) + ", ";
  if (tensor.shape.size() > 1) shape.resize(shape.size() - 2);
  else if (tensor.shape.size() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so that magic + length + header + '\n' is a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  WriteAtomically(path, [&](const std::string& temp) {
    FILE* f = std::fopen(temp.c_str(), "wb");
    if (f == nullptr) throw Error(path + ": cannot create: " + std::strerror(errno));
    const uint8_t prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(header.size() & 0xFF),
                                static_cast<uint8_t>(header.size() >> 8)};
    bool ok = std::fwrite(prefix, 1, 10, f) == 10 && std::fwrite(header.data(), 1, header.size(), f) == header.size();
    const size_t bytes = tensor.NumBytes();
    if (ok && bytes > 0) ok = std::fwrite(tensor.data, 1, bytes, f) == bytes;
    ok = std::fclose(f) == 0 && ok;
    if (!ok) throw Error(path + ": write failed");
  });
}

void WriteNpyFloat32(const std::string& path, const std::vector<int64_t>& shape, const float* values) {
  Tensor t;
  t.dtype = DType::kF32;
  t.shape = shape;
  t.data = reinterpret_cast<const uint8_t*>(values);
  WriteNpy(path, t);
}

}  // namespace persam
