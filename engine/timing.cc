#include "engine/timing.h"

namespace persam {

void StageTimings::Add(const std::string& stage, double seconds) {
  for (auto& entry : entries_) {
    if (entry.first == stage) {
      entry.second += seconds;
      return;
    }
  }
  entries_.emplace_back(stage, seconds);
}

double StageTimings::Total() const {
  double total = 0.0;
  for (const auto& entry : entries_) total += entry.second;
  return total;
}

}  // namespace persam
