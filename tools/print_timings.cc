#include "tools/print_timings.h"

namespace persam::cli {

void PrintTimings(const Args& args, const StageTimings& timings) {
  Say(args, "timings:\n");
  for (const auto& [stage, seconds] : timings.entries()) Say(args, "  %-16s %9.2f ms\n", stage.c_str(), seconds * 1e3);
  Say(args, "  %-16s %9.2f ms\n", "total", timings.Total() * 1e3);
}

}  // namespace persam::cli
