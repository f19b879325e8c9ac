// Read-only bytes of a whole file, memory-mapped so that large checkpoints are
// paged in only where tensors are touched. Shared ownership: tensors that point
// into the map hold `owner`, so the map outlives the Checkpoint that made it.
#ifndef PERSAM_WEIGHTS_MAPPED_FILE_H_
#define PERSAM_WEIGHTS_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace persam {

struct FileBytes {
  std::string path;  // for messages
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;  // the mapping (or heap copy)
};

// Maps `path` read-only. Throws persam::Error naming the file when it cannot be
// opened, is a directory or is not a regular file. An empty file gives size 0.
FileBytes MapFile(const std::string& path);

// Drops this process's resident copy of the whole pages inside [data, data +
// size) when they lie in a live mapping made by MapFile, and returns the bytes
// released; any other memory (heap, BytesFromMemory copies) is left alone and
// 0 returned. The bytes stay valid: a later read pages them in again from the
// file (the maps are read-only and private, never written). Model loaders call
// it once a tensor is packed, so the file's pages and the packed copy are not
// resident together (peak RSS of loading = packed weights, not twice them).
size_t ReleaseFilePages(const void* data, size_t size);

// Wraps a copy of `bytes` (tests and fuzzers parse memory, not files).
FileBytes BytesFromMemory(const std::string& name, const uint8_t* bytes, size_t size);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_MAPPED_FILE_H_
