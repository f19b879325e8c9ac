// The progress line of a run over many images (`find`, `personalize`):
// "[k/N] 3.20 images/s, ETA 1:05 <what>" redrawn on a terminal, nothing
// when stderr is not one or with --quiet (cli.h's Progress), and the
// --keep-going summary of the images that failed.
#ifndef PERSAM_TOOLS_BATCH_PROGRESS_H_
#define PERSAM_TOOLS_BATCH_PROGRESS_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "tools/cli.h"

namespace persam::cli {

class BatchProgress {
 public:
  explicit BatchProgress(const Args& args);
  // Before image done + 1 of total (the images this run processes, those
  // --resume skips not counted): the rate is over the images finished so far.
  void Show(size_t done, size_t total, const std::string& what);
  void End() { EndProgress(args_); }

 private:
  const Args& args_;
  std::chrono::steady_clock::time_point start_;
};

// "persam <command>: skipped (--keep-going): <error>" per failure on stderr,
// then "  N image(s) failed (--keep-going; see <where>)".
void ReportSkipped(const Args& args, const std::string& command, const std::vector<std::string>& failed,
                   const std::string& where);

}  // namespace persam::cli

#endif  // PERSAM_TOOLS_BATCH_PROGRESS_H_
