// safetensors: u64 header length, a JSON header, then raw little-endian data.
// Reading maps the file and points tensors into it; nothing is copied.
#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstring>

#include "weights/cast.h"
#include "weights/checkpoint.h"
#include "base/error.h"
#include "base/output_file.h"
#include "weights/json.h"

namespace persam {
namespace {

// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeader = 100u << 20;

bool ParseDType(const std::string& name, DType* dtype) {
  static const DType kAll[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI64,
                               DType::kI32, DType::kI16, DType::kI8,   DType::kU8,  DType::kBool};
  for (DType d : kAll) {
    if (name == DTypeSafetensorsName(d)) {
      *dtype = d;
      return true;
    }
  }
  return false;
}

struct Span {
  uint64_t begin, end;
  const std::string* name;
};

}  // namespace

Checkpoint ReadSafetensors(const FileBytes& file) {
  const std::string& path = file.path;
  if (file.size < 8) throw Error(path + ": truncated safetensors file (" + std::to_string(file.size) + " bytes)");
  uint64_t header_len;
  std::memcpy(&header_len, file.data, 8);
  if (header_len > file.size - 8) {
    throw Error(path + ": safetensors header length " + std::to_string(header_len) + " exceeds the file size " +
                std::to_string(file.size) + " (truncated file?)");
  }
  if (header_len > kMaxHeader) throw Error(path + ": safetensors header larger than 100 MB");
  const JsonValue header =
      ParseJson(reinterpret_cast<const char*>(file.data + 8), static_cast<size_t>(header_len), path + " (header)");
  if (!header.IsObject()) throw Error(path + ": safetensors header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file.size - data_start;
  Checkpoint checkpoint;
  checkpoint.path = path;
  checkpoint.format = "safetensors";
  std::vector<Span> spans;
  for (const auto& member : header.Members()) {
    const std::string& name = member.first;
    const JsonValue& info = member.second;
    if (name == "__metadata__") {
      if (!info.IsObject()) throw Error(path + ": __metadata__ is not an object");
      for (const auto& kv : info.Members()) {
        if (!kv.second.IsString()) throw Error(path + ": __metadata__ value '" + kv.first + "' is not a string");
        checkpoint.metadata[kv.first] = kv.second.AsString();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    if (!info.IsObject()) throw Error(where + ": header entry is not an object");
    for (const auto& kv : info.Members()) {
      if (kv.first != "dtype" && kv.first != "shape" && kv.first != "data_offsets") {
        throw Error(where + ": unexpected header field '" + kv.first + "'");
      }
    }
    const JsonValue* dtype = info.Find("dtype");
    const JsonValue* shape = info.Find("shape");
    const JsonValue* offsets = info.Find("data_offsets");
    if (dtype == nullptr || shape == nullptr || offsets == nullptr) {
      throw Error(where + ": header entry needs dtype, shape and data_offsets");
    }
    Tensor t;
    if (!dtype->IsString() || !ParseDType(dtype->AsString(), &t.dtype)) {
      throw Error(where + ": unsupported dtype " + (dtype->IsString() ? "'" + dtype->AsString() + "'" : "(not a string)") +
                  " (expected F32, F16, BF16, F64, I64, I32, I16, I8, U8 or BOOL)");
    }
    if (!shape->IsArray()) throw Error(where + ": shape is not an array");
    int64_t numel = 1;
    for (const JsonValue& d : shape->Items()) {
      if (!d.IsInteger() || d.AsInt64() < 0) throw Error(where + ": shape holds a non-integer or negative value");
      t.shape.push_back(d.AsInt64());
      if (__builtin_mul_overflow(numel, d.AsInt64(), &numel)) throw Error(where + ": element count overflows");
    }
    if (!offsets->IsArray() || offsets->size() != 2 || !offsets->Items()[0].IsInteger() ||
        !offsets->Items()[1].IsInteger() || offsets->Items()[0].AsInt64() < 0 || offsets->Items()[1].AsInt64() < 0) {
      throw Error(where + ": data_offsets is not [begin, end] with non-negative integers");
    }
    const uint64_t begin = static_cast<uint64_t>(offsets->Items()[0].AsInt64());
    const uint64_t end = static_cast<uint64_t>(offsets->Items()[1].AsInt64());
    if (begin > end || end > data_size) {
      throw Error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  "] lie outside the data section of " + std::to_string(data_size) + " bytes");
    }
    int64_t bytes;
    if (__builtin_mul_overflow(numel, static_cast<int64_t>(DTypeSize(t.dtype)), &bytes) ||
        static_cast<uint64_t>(bytes) != end - begin) {
      throw Error(where + ": data_offsets span " + std::to_string(end - begin) + " bytes, but " +
                  std::string(DTypeSafetensorsName(t.dtype)) + " " + ShapeToString(t.shape) + " needs " +
                  std::to_string(numel) + " x " + std::to_string(DTypeSize(t.dtype)));
    }
    t.data = file.data + data_start + begin;
    t.owner = file.owner;
    auto inserted = checkpoint.tensors.emplace(name, std::move(t));
    spans.push_back(Span{begin, end, &inserted.first->first});
  }
  // No two tensors may share bytes (the format has no views).
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Span* previous = nullptr;
  for (const Span& span : spans) {
    if (span.begin == span.end) continue;
    if (previous != nullptr && span.begin < previous->end) {
      throw Error(path + ": tensors '" + *previous->name + "' and '" + *span.name + "' overlap in the data section");
    }
    previous = &span;
  }
  return checkpoint;
}

void WriteSafetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata) {
  WriteSafetensors(path, tensors, metadata, SafetensorsWriteOptions());
}

void WriteSafetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata, const SafetensorsWriteOptions& options) {
  auto saved_dtype = [&](const Tensor& t) {
    return options.float_dtype ? CastDType(t.dtype, *options.float_dtype) : t.dtype;
  };
  auto saved_bytes = [&](const Tensor& t) {
    return static_cast<uint64_t>(t.NumElements()) * DTypeSize(saved_dtype(t));
  };
  // Data order: element size descending, then name, keeps each tensor aligned.
  std::vector<const std::pair<const std::string, Tensor>*> order;
  for (const auto& entry : tensors) order.push_back(&entry);
  // Tensors options.first selects go first (each a multiple of 64 bytes
  // long, checked): each then starts 64-byte aligned in the file.
  auto first = [&](const auto* entry) { return options.first && options.first(entry->first); };
  for (const auto* entry : order) {
    if (first(entry) && saved_bytes(entry->second) % 64 != 0) {
      throw Error(path + ": tensor '" + entry->first + "' is written 64-byte aligned but is " +
                  std::to_string(saved_bytes(entry->second)) + " bytes, not a multiple of 64");
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](const auto* a, const auto* b) {
    if (first(a) != first(b)) return first(a);
    return DTypeSize(saved_dtype(a->second)) > DTypeSize(saved_dtype(b->second));
  });
  std::map<std::string, std::pair<uint64_t, uint64_t>> offsets;
  uint64_t cursor = 0;
  for (const auto* entry : order) {
    const uint64_t bytes = saved_bytes(entry->second);
    offsets[entry->first] = {cursor, cursor + bytes};
    cursor += bytes;
  }
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& kv : metadata) {
      if (!first) header += ",";
      first = false;
      header += JsonQuote(kv.first) + ":" + JsonQuote(kv.second);
    }
    header += "}";
  }
  for (const auto& entry : tensors) {
    if (header.size() > 1) header += ",";
    header += JsonQuote(entry.first) + ":{\"dtype\":\"" + DTypeSafetensorsName(saved_dtype(entry.second)) + "\",\"shape\":[";
    for (size_t i = 0; i < entry.second.shape.size(); ++i) {
      if (i) header += ",";
      header += std::to_string(entry.second.shape[i]);
    }
    const auto& span = offsets[entry.first];
    header += "],\"data_offsets\":[" + std::to_string(span.first) + "," + std::to_string(span.second) + "]}";
  }
  header += "}";
  // The data section starts 8-byte aligned (64 with options.first); the
  // format allows trailing spaces in the header.
  const size_t align = options.first ? 64 : 8;
  while ((8 + header.size()) % align != 0) header += ' ';

  WriteAtomically(path, [&](const std::string& temp) {
    FILE* f = std::fopen(temp.c_str(), "wb");
    if (f == nullptr) throw Error(path + ": cannot create: " + std::strerror(errno));
    const uint64_t header_len = header.size();
    bool ok = std::fwrite(&header_len, 8, 1, f) == 1 && std::fwrite(header.data(), 1, header.size(), f) == header.size();
    // Converted tensors go through one bounded buffer: memory stays flat
    // however large the checkpoint.
    constexpr size_t kChunk = size_t{1} << 20;  // elements
    std::vector<uint8_t> buffer;
    for (const auto* entry : order) {
      if (!ok) break;
      const Tensor& t = entry->second;
      const DType to = saved_dtype(t);
      if (to == t.dtype) {
        const size_t bytes = t.NumBytes();
        if (bytes > 0) ok = std::fwrite(t.data, 1, bytes, f) == bytes;
        continue;
      }
      const size_t count = static_cast<size_t>(t.NumElements());
      buffer.resize(std::min(count, kChunk) * DTypeSize(to));
      for (size_t done = 0; ok && done < count; done += kChunk) {
        const size_t n = std::min(kChunk, count - done);
        CastElements(t.data + done * DTypeSize(t.dtype), t.dtype, buffer.data(), to, n);
        ok = std::fwrite(buffer.data(), DTypeSize(to), n, f) == n;
      }
    }
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) throw Error(path + ": write failed: " + std::strerror(errno));
  });
}

}  // namespace persam
