#include "base/output_file.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

namespace persam {
namespace fs = std::filesystem;

namespace {

// The umask, read once (umask() can only be read by setting it).
mode_t ProcessUmask() {
  static const mode_t mask = [] {
    const mode_t m = ::umask(022);
    ::umask(m);
    return m;
  }();
  return mask;
}

// A new, empty regular file next to `path` ("<dir>/.<stem>.XXXXXX<ext>"),
// made by mkstemps (O_CREAT | O_EXCL: an existing name or symlink fails
// instead of being opened).
std::string MakeTempFile(const std::string& path, const std::string& what) {
  const fs::path target(path);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const std::string ext = target.extension().string();
  std::string name = (dir / ("." + target.stem().string() + ".XXXXXX" + ext)).string();
  std::vector<char> buffer(name.begin(), name.end());
  buffer.push_back('\0');
  const int fd = ::mkstemps(buffer.data(), static_cast<int>(ext.size()));
  if (fd < 0) throw Error(what + "'" + path + "': cannot create a file in '" + dir.string() + "': " + std::strerror(errno));
  // mkstemps makes the file 0600; outputs get the permissions a plain
  // create would give them (0666 less the umask).
  ::fchmod(fd, 0666 & ~ProcessUmask());
  ::close(fd);
  return std::string(buffer.data());
}

}  // namespace

void WriteAtomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string temp = MakeTempFile(path, "");
  try {
    write(temp);
    std::error_code ec;
    fs::rename(temp, path, ec);
    if (ec) throw Error("cannot rename '" + temp + "' to '" + path + "': " + ec.message());
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
}

void WriteFileAtomically(const std::string& path, const std::string& bytes) {
  WriteAtomically(path, [&](const std::string& temp) {
    FILE* f = std::fopen(temp.c_str(), "wb");
    if (f == nullptr) throw Error("'" + path + "': cannot write: " + std::strerror(errno));
    bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    ok = std::fclose(f) == 0 && ok;
    if (!ok) throw Error("'" + path + "': write failed: " + std::strerror(errno));
  });
}

void MakeOutputDirectory(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw Error("output directory '" + dir + "' exists and is not a directory");
  }
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create output directory '" + dir + "': " + ec.message());
}

void CheckOutputDirectory(const std::string& dir, const std::string& what) {
  try {
    MakeOutputDirectory(dir);
    const std::string probe = MakeTempFile((fs::path(dir) / "probe").string(), "");
    std::error_code ignored;
    fs::remove(probe, ignored);
  } catch (const Error& e) {
    throw Error(what + ": " + e.what());
  }
}

void CheckOutputFile(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(what + " '" + path + "' is a directory, expected a file name");
  const fs::path parent = fs::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  if (!fs::is_directory(dir, ec)) throw Error(what + " '" + path + "': folder '" + dir + "' does not exist");
  try {
    const std::string probe = MakeTempFile(path, "");
    fs::remove(probe, ec);
  } catch (const Error& e) {
    throw Error(what + ": " + e.what());
  }
}

int RemoveStaleOutputs(const std::string& dir, const std::function<bool(const std::string&)>& stale) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error("cannot list output directory '" + dir + "': " + ec.message());
  std::vector<fs::path> doomed;
  for (const fs::directory_entry& entry : it) {
    // symlink_status: a link is removed itself, never what it points to.
    const fs::file_status status = entry.symlink_status(ec);
    if (!ec && !fs::is_directory(status) && stale(entry.path().filename().string())) doomed.push_back(entry.path());
  }
  for (const fs::path& path : doomed) {
    if (!fs::remove(path, ec) && ec) throw Error("cannot remove the stale output '" + path.string() + "': " + ec.message());
  }
  return static_cast<int>(doomed.size());
}

}  // namespace persam
