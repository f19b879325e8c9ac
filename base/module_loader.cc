#include "base/module_loader.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>

#include "base/error.h"

// Set by base/meson.build from the configured prefix, libdir and bindir.
#ifndef PERSAM_MODULE_INSTALL_DIR
#error "PERSAM_MODULE_INSTALL_DIR must name <prefix>/<libdir>/persam"
#endif
#ifndef PERSAM_MODULE_DIR_FROM_BINDIR
#error "PERSAM_MODULE_DIR_FROM_BINDIR must give <libdir>/persam relative to <bindir>"
#endif

namespace persam {
namespace {

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool IsFile(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

}  // namespace

std::vector<std::string> ModuleSearchDirs(const std::string& binary_dir, const char* env_dir) {
  if (env_dir != nullptr && env_dir[0] != '\0') return {env_dir};
  const std::string from_bindir = PERSAM_MODULE_DIR_FROM_BINDIR;
  return {binary_dir + "/persam", from_bindir[0] == '/' ? from_bindir : binary_dir + "/" + from_bindir,
          binary_dir + "/../modules", PERSAM_MODULE_INSTALL_DIR};
}

std::string LoaderBinaryDir() {
  // dladdr names the shared library holding this function (libpersam.so),
  // as it was loaded: an absolute path, or one relative to the working
  // directory (ctypes.CDLL("build/capi/libpersam.so")), resolved below; for
  // the main program it gives argv[0] or nothing, so the executable's own
  // path comes from /proc/self/exe.
  Dl_info info = {};
  std::string path;
  if (dladdr(reinterpret_cast<void*>(&LoaderBinaryDir), &info) != 0 && info.dli_fname != nullptr &&
      std::strchr(info.dli_fname, '/') != nullptr) {
    void* main_program = dlopen(nullptr, RTLD_LAZY | RTLD_NOLOAD);
    void* self = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (self != nullptr && self != main_program) path = info.dli_fname;
    if (self != nullptr) dlclose(self);
    if (main_program != nullptr) dlclose(main_program);
  }
  char resolved[PATH_MAX];
  if (path.empty()) {
    const ssize_t n = readlink("/proc/self/exe", resolved, sizeof(resolved) - 1);
    if (n <= 0) return ".";
    resolved[n] = '\0';
    path = resolved;
  } else if (realpath(path.c_str(), resolved) != nullptr) {
    path = resolved;
  }
  return DirName(path);
}

void CheckModuleVersion(const std::string& file, int found, int expected, const std::string& context) {
  if (found == expected) return;
  throw Error((context.empty() ? "" : context + ": ") + file + " is from another persam build (interface version " +
              std::to_string(found) + ", expected " + std::to_string(expected) + ")");
}

void* LoadModuleEntry(const std::string& file, const std::string& entry, const std::string& what) {
  static std::mutex mutex;
  static std::map<std::string, void*> loaded;  // file -> handle
  std::lock_guard<std::mutex> lock(mutex);
  void*& handle = loaded[file];
  std::string path;
  if (handle == nullptr) {
    const std::vector<std::string> dirs = ModuleSearchDirs(LoaderBinaryDir(), getenv("PERSAM_MODULE_DIR"));
    for (const std::string& dir : dirs) {
      if (IsFile(dir + "/" + file)) {
        path = dir + "/" + file;
        break;
      }
    }
    if (path.empty()) {
      std::string list;
      for (const std::string& dir : dirs) list += (list.empty() ? "" : ", ") + dir;
      throw Error("could not find " + file + " (" + what + ") in " + list +
                  "; install it there or set PERSAM_MODULE_DIR to its directory");
    }
    // RTLD_LOCAL: the module's libraries (FFmpeg, libheif, ...) stay out of
    // the global namespace; RTLD_NOW: a missing symbol fails here, clearly.
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      throw Error("could not load " + path + " (" + what + "): " + (why != nullptr ? why : "unknown error"));
    }
  }
  void* function = dlsym(handle, entry.c_str());
  if (function == nullptr) {
    throw Error("module " + file + " (" + what + ") has no function " + entry +
                " (a module from another persam version?)");
  }
  return function;
}

}  // namespace persam
