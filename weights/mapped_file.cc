#include "weights/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "base/error.h"

namespace persam {
namespace {

// Live MapFile mappings by start address, so that ReleaseFilePages only ever
// advises file-backed read-only pages (MADV_DONTNEED on heap memory would
// zero it).
std::mutex& RegistryMutex() {
  static std::mutex mutex;
  return mutex;
}
std::map<uintptr_t, size_t>& Registry() {
  static std::map<uintptr_t, size_t> mappings;
  return mappings;
}

struct Mapping {
  void* address = nullptr;
  size_t length = 0;
  ~Mapping() {
    if (address == nullptr) return;
    {
      std::lock_guard<std::mutex> lock(RegistryMutex());
      Registry().erase(reinterpret_cast<uintptr_t>(address));
    }
    munmap(address, length);
  }
};

}  // namespace

FileBytes MapFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    throw Error(path + ": is a directory, expected a weights file");
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    throw Error(path + ": is not a regular file");
  }
  FileBytes bytes;
  bytes.path = path;
  bytes.size = static_cast<size_t>(st.st_size);
  auto mapping = std::make_shared<Mapping>();
  if (bytes.size > 0) {
    void* address = mmap(nullptr, bytes.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (address == MAP_FAILED) {
      const int err = errno;
      close(fd);
      throw Error(path + ": cannot map " + std::to_string(bytes.size) + " bytes: " + std::strerror(err));
    }
    mapping->address = address;
    mapping->length = bytes.size;
    std::lock_guard<std::mutex> lock(RegistryMutex());
    Registry()[reinterpret_cast<uintptr_t>(address)] = bytes.size;
    bytes.data = static_cast<const uint8_t*>(address);
  }
  close(fd);  // the mapping stays valid without the descriptor
  bytes.owner = mapping;
  return bytes;
}

size_t ReleaseFilePages(const void* data, size_t size) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  if (data == nullptr || size == 0 || begin + size < begin) return 0;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  // Whole pages only: a page shared with a neighbouring tensor stays.
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + size) / page * page;
  if (first >= last) return 0;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  const auto& mappings = Registry();
  auto it = mappings.upper_bound(begin);
  if (it == mappings.begin()) return 0;
  --it;  // the mapping starting at or before `begin`
  if (begin + size > it->first + it->second) return 0;
  if (madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED) != 0) return 0;
  return last - first;
}

FileBytes BytesFromMemory(const std::string& name, const uint8_t* data, size_t size) {
  auto copy = std::make_shared<std::vector<uint8_t>>(data, data + size);
  FileBytes bytes;
  bytes.path = name;
  bytes.data = copy->data();
  bytes.size = size;
  bytes.owner = copy;
  return bytes;
}

}  // namespace persam
