#include "tools/batch_progress.h"

#include <cstdio>

namespace persam::cli {

BatchProgress::BatchProgress(const Args& args) : args_(args), start_(std::chrono::steady_clock::now()) {}

void BatchProgress::Show(size_t done, size_t total, const std::string& what) {
  char line[160];
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (done > 0 && elapsed > 0) {
    const double rate = static_cast<double>(done) / elapsed;
    const double eta = static_cast<double>(total > done ? total - done : 0) / rate;
    std::snprintf(line, sizeof(line), "[%zu/%zu] %.2f images/s, ETA %d:%02d ", done + 1, total, rate,
                  static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
  } else {
    std::snprintf(line, sizeof(line), "[%zu/%zu] ", done + 1, total);
  }
  Progress(args_, line + what);
}

void ReportSkipped(const Args& args, const std::string& command, const std::vector<std::string>& failed,
                   const std::string& where) {
  for (const std::string& f : failed) std::fprintf(stderr, "persam %s: skipped (--keep-going): %s\n", command.c_str(), f.c_str());
  if (!failed.empty()) Say(args, "  %zu image(s) failed (--keep-going; see %s)\n", failed.size(), where.c_str());
}

}  // namespace persam::cli
