// Per-stage wall-clock timings, collected by the engine and printed by the CLI.
#ifndef PERSAM_ENGINE_TIMING_H_
#define PERSAM_ENGINE_TIMING_H_

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace persam {

class StageTimings {
 public:
  void Add(const std::string& stage, double seconds);  // accumulates by name
  const std::vector<std::pair<std::string, double>>& entries() const { return entries_; }
  double Total() const;
  void Clear() { entries_.clear(); }

 private:
  std::vector<std::pair<std::string, double>> entries_;
};

// Adds the elapsed time to `timings` (if not null) under `stage` on scope exit.
class ScopedStage {
 public:
  ScopedStage(StageTimings* timings, std::string stage)
      : timings_(timings), stage_(std::move(stage)), start_(std::chrono::steady_clock::now()) {}
  ~ScopedStage() {
    if (timings_ != nullptr) {
      timings_->Add(stage_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
  }

 private:
  StageTimings* timings_;
  std::string stage_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace persam

#endif  // PERSAM_ENGINE_TIMING_H_
