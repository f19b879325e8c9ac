#include "tools/print_timings.h"

#include <algorithm>

namespace persam::cli {

int StageNameWidth(const StageTimings& timings, int minimum) {
  size_t width = static_cast<size_t>(minimum);
  for (const auto& entry : timings.entries()) width = std::max(width, entry.first.size());
  return static_cast<int>(width);
}

void PrintTimings(const Args& args, const StageTimings& timings) {
  // Sized to the longest stage name (TinyViT's run past 30 characters), so
  // the numbers stay in one column.
  const int width = StageNameWidth(timings, 5);
  Say(args, "timings:\n");
  for (const auto& [stage, seconds] : timings.entries()) {
    Say(args, "  %-*s %10.2f ms\n", width, stage.c_str(), seconds * 1e3);
  }
  Say(args, "  %-*s %10.2f ms\n", width, "total", timings.Total() * 1e3);
}

}  // namespace persam::cli
