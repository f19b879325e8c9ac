// Plugin modules: the optional libraries with large dependency stacks
// (FFmpeg, libheif, libcurl + libcrypto) are linked into shared modules
// that are dlopen'ed on first use, so that a command which never reads a
// video, a HEIF image or a URL does not pay for mapping and relocating
// their ~130 shared libraries at every start (issues 17 and 21: start-up
// time and peak RSS). Each module exports one C function returning its
// interface (a struct declared next to the code that uses it, e.g.
// video/video_file_module.h); this file only finds and loads modules.
#ifndef PERSAM_BASE_MODULE_LOADER_H_
#define PERSAM_BASE_MODULE_LOADER_H_

#include <string>
#include <vector>

#include "base/error.h"

namespace persam {

// Where modules are looked for, in order (the first directory holding the
// file wins), given the directory of the binary that holds the loader (the
// persam executable, libpersam.so or a test), and the value of the
// environment variable PERSAM_MODULE_DIR (nullptr: unset):
//  - PERSAM_MODULE_DIR, alone, when set and not empty (tests; relocated
//    installs);
//  - <binary dir>/persam: libpersam.so installed in libdir;
//  - <binary dir>/<bindir to libdir>/persam: the executable installed in
//    bindir (meson install puts the modules in <libdir>/persam);
//  - <binary dir>/../modules: the build tree (every binary is one level
//    below the build root, the modules are in build/modules);
//  - <prefix>/<libdir>/persam, the configured install directory.
std::vector<std::string> ModuleSearchDirs(const std::string& binary_dir, const char* env_dir);

// The directory of the binary that holds this code (absolute).
std::string LoaderBinaryDir();

// Loads module `file` (e.g. "libpersam_heif.so") once per process and
// returns its exported function `entry`. `what` says what the module is
// for, in errors. Throws persam::Error:
//   "could not load <path>: <dlerror>" when the file is there but does not
//   load (a missing library of its own), or
//   "could not find <file> (<what>) in <dirs>; ..." when no directory has it.
// Modules stay loaded until the process ends.
void* LoadModuleEntry(const std::string& file, const std::string& entry, const std::string& what);

// Throws "<file> is from another persam build (interface version `found`,
// expected `expected`)" unless they are equal, prefixed as in LoadModule.
void CheckModuleVersion(const std::string& file, int found, int expected, const std::string& context);

// The interface of module `file`: calls its `entry`, a function returning
// `const Module*` (a struct whose first member is `int version`), and
// checks the version against `version`, so that a module of another build
// is refused instead of called through the wrong layout. Errors are those
// of LoadModuleEntry and CheckModuleVersion, prefixed with `context` + ": "
// when `context` is not empty (e.g. "video 'clip.mp4'").
template <typename Module>
const Module& LoadModule(const std::string& file, const std::string& entry, const std::string& what, int version,
                         const std::string& context) {
  const Module* module = nullptr;
  try {
    module = reinterpret_cast<const Module* (*)()>(LoadModuleEntry(file, entry, what))();
  } catch (const Error& e) {
    throw Error(context.empty() ? std::string(e.what()) : context + ": " + e.what());
  }
  CheckModuleVersion(file, module != nullptr ? module->version : 0, version, context);
  return *module;
}

}  // namespace persam

#endif  // PERSAM_BASE_MODULE_LOADER_H_
