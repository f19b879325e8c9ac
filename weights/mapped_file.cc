#include "weights/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "weights/error.h"

namespace persam {
namespace {

struct Mapping {
  void* address = nullptr;
  size_t length = 0;
  ~Mapping() {
    if (address != nullptr) munmap(address, length);
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
    bytes.data = static_cast<const uint8_t*>(address);
  }
  close(fd);  // the mapping stays valid without the descriptor
  bytes.owner = mapping;
  return bytes;
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
