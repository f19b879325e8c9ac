#include "weights/zip_archive.h"

#include <array>
#include <cstring>

#include "base/error.h"

namespace persam {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22;
constexpr size_t kMaxComment = 0xFFFF;

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
uint64_t Le64(const uint8_t* p) { return Le32(p) | static_cast<uint64_t>(Le32(p + 4)) << 32; }

}  // namespace

uint32_t Crc32(const uint8_t* data, size_t size) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

ZipArchive::ZipArchive(const FileBytes& file) {
  const std::string& path = file.path;
  const uint8_t* data = file.data;
  const size_t size = file.size;
  auto fail = [&](const std::string& what) -> void {
    throw Error(path + ": not a valid PyTorch zip checkpoint: " + what);
  };
  if (size < kEndSize) fail("file too short (" + std::to_string(size) + " bytes)");

  // The end-of-central-directory record sits in the last 22 + comment bytes.
  size_t end = size;  // sentinel: not found
  const size_t lowest = size >= kEndSize + kMaxComment ? size - kEndSize - kMaxComment : 0;
  for (size_t pos = size - kEndSize + 1; pos-- > lowest;) {
    if (Le32(data + pos) == kEndSig) {
      end = pos;
      break;
    }
  }
  if (end == size) fail("no end-of-central-directory record (truncated file?)");

  uint64_t count = Le16(data + end + 10);
  uint64_t dir_size = Le32(data + end + 12);
  uint64_t dir_offset = Le32(data + end + 16);
  if (count == 0xFFFF || dir_size == 0xFFFFFFFFu || dir_offset == 0xFFFFFFFFu) {
    // zip64: a locator right before the end record points at the zip64 end record.
    if (end < 20 || Le32(data + end - 20) != kZip64LocatorSig) fail("zip64 locator missing");
    const uint64_t end64 = Le64(data + end - 20 + 8);
    if (end64 > size || size - end64 < 56 || Le32(data + end64) != kZip64EndSig) {
      fail("zip64 end record out of range");
    }
    count = Le64(data + end64 + 32);
    dir_size = Le64(data + end64 + 40);
    dir_offset = Le64(data + end64 + 48);
  }
  if (dir_offset > size || dir_size > size - dir_offset) fail("central directory out of range");
  // Each central header is at least 46 bytes: bounds the count before looping.
  if (count > dir_size / 46) fail("central directory entry count inconsistent with its size");

  const uint8_t* p = data + dir_offset;
  const uint8_t* dir_end = p + dir_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (dir_end - p < 46 || Le32(p) != kCentralHeaderSig) fail("corrupt central directory entry " + std::to_string(i));
    const uint16_t method = Le16(p + 10);
    const uint32_t crc = Le32(p + 16);
    uint64_t compressed = Le32(p + 20);
    uint64_t uncompressed = Le32(p + 24);
    const uint16_t name_len = Le16(p + 28);
    const uint16_t extra_len = Le16(p + 30);
    const uint16_t comment_len = Le16(p + 32);
    uint64_t local_offset = Le32(p + 42);
    if (static_cast<size_t>(dir_end - p) < 46u + name_len + extra_len + comment_len) {
      fail("central directory entry " + std::to_string(i) + " runs past the directory");
    }
    std::string name(reinterpret_cast<const char*>(p + 46), name_len);
    // zip64 extended information: the 64-bit values replace the saturated ones, in order.
    const uint8_t* extra = p + 46 + name_len;
    const uint8_t* extra_end = extra + extra_len;
    while (extra_end - extra >= 4) {
      const uint16_t id = Le16(extra);
      const uint16_t len = Le16(extra + 2);
      if (extra_end - extra - 4 < len) break;
      if (id == 0x0001) {
        const uint8_t* q = extra + 4;
        const uint8_t* q_end = q + len;
        auto take = [&](uint64_t* field) {
          if (q_end - q < 8) fail("entry '" + name + "': short zip64 field");
          *field = Le64(q);
          q += 8;
        };
        if (uncompressed == 0xFFFFFFFFu) take(&uncompressed);
        if (compressed == 0xFFFFFFFFu) take(&compressed);
        if (local_offset == 0xFFFFFFFFu) take(&local_offset);
      }
      extra += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;

    if (method != 0) {
      fail("entry '" + name + "' is compressed (method " + std::to_string(method) +
           "); torch.save writes stored entries");
    }
    if (compressed != uncompressed) fail("entry '" + name + "': stored sizes disagree");
    if (local_offset > size || size - local_offset < 30 || Le32(data + local_offset) != kLocalHeaderSig) {
      fail("entry '" + name + "': local header missing or corrupt");
    }
    const uint64_t local_name_len = Le16(data + local_offset + 26);
    const uint64_t local_extra_len = Le16(data + local_offset + 28);
    const uint64_t data_offset = local_offset + 30 + local_name_len + local_extra_len;
    if (data_offset > size || uncompressed > size - data_offset) {
      fail("entry '" + name + "': data (" + std::to_string(uncompressed) + " bytes at offset " +
           std::to_string(data_offset) + ") runs past the end of the file");
    }
    if (local_name_len != name_len ||
        std::memcmp(data + local_offset + 30, name.data(), name_len) != 0) {
      fail("entry '" + name + "': local header names a different entry");
    }
    ZipEntry entry;
    entry.data_offset = data_offset;
    entry.size = uncompressed;
    entry.crc32 = crc;
    if (!entries_.emplace(name, entry).second) fail("duplicate entry '" + name + "'");
  }
}

const ZipEntry* ZipArchive::Find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace persam
