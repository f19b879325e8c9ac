// Writing a command's output files safely, the one place every writer (CLI,
// weights, engine, persam) goes through:
// - a file is written under a fresh temporary name in its own folder (created
//   with O_EXCL, so a planted symlink is never followed) and renamed over the
//   target, which replaces a symlink there instead of writing through it, and
//   a failure never leaves a half-written file;
// - an output folder is created and checked for writability before the slow
//   work (model load) starts;
// - files an earlier run left under the names this command writes (mask_3.png
//   beyond this run's count) are removed, unrelated files are kept.
#ifndef PERSAM_BASE_OUTPUT_FILE_H_
#define PERSAM_BASE_OUTPUT_FILE_H_

#include <functional>
#include <string>

namespace persam {

// Calls write(temp_path) on an empty regular file in the folder of `path`
// that keeps `path`'s extension (encoders may look at it), then renames it
// to `path`. Removes the temporary file and rethrows if anything fails.
void WriteAtomically(const std::string& path, const std::function<void(const std::string& temp)>& write);
// `bytes` as the whole content of `path`, atomically as above.
void WriteFileAtomically(const std::string& path, const std::string& bytes);

// Creates `dir` and its parents; an existing directory is fine, an existing
// file of that name is an error naming it.
void MakeOutputDirectory(const std::string& dir);
// MakeOutputDirectory, then proves a file can be created there (and removes
// it): throws persam::Error naming `what` (e.g. "--out") and the folder.
void CheckOutputDirectory(const std::string& dir, const std::string& what);
// The folder that will hold the output file `path` must exist and take a new
// file: throws persam::Error naming `what` and `path`.
void CheckOutputFile(const std::string& path, const std::string& what);

// Removes the files (or symlinks) in `dir` whose name `stale(name)` accepts;
// never follows a symlink, never removes a folder. Returns how many.
int RemoveStaleOutputs(const std::string& dir, const std::function<bool(const std::string& name)>& stale);

}  // namespace persam

#endif  // PERSAM_BASE_OUTPUT_FILE_H_
