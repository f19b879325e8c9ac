// The read side of the zip container PyTorch (>= 1.6) writes for torch.save:
// stored (uncompressed) entries, optionally zip64. Only the central directory
// and local headers are parsed; entry data stays in the mapped file.
#ifndef PERSAM_WEIGHTS_ZIP_ARCHIVE_H_
#define PERSAM_WEIGHTS_ZIP_ARCHIVE_H_

#include <cstdint>
#include <map>
#include <string>

#include "weights/mapped_file.h"

namespace persam {

struct ZipEntry {
  uint64_t data_offset = 0;  // into the file, after the local header
  uint64_t size = 0;
  uint32_t crc32 = 0;
};

class ZipArchive {
 public:
  // Throws persam::Error naming the file for anything not a well-formed zip of
  // stored entries whose data lies inside the file.
  explicit ZipArchive(const FileBytes& file);

  const std::map<std::string, ZipEntry>& entries() const { return entries_; }
  const ZipEntry* Find(const std::string& name) const;

 private:
  std::map<std::string, ZipEntry> entries_;
};

uint32_t Crc32(const uint8_t* data, size_t size);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_ZIP_ARCHIVE_H_
