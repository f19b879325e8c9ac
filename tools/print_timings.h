// The per-stage timing table of --verbose.
#ifndef PERSAM_TOOLS_PRINT_TIMINGS_H_
#define PERSAM_TOOLS_PRINT_TIMINGS_H_

#include "engine/timing.h"
#include "tools/cli.h"

namespace persam::cli {

// "  stage  12.3 ms" lines and the total, on stdout (unless --quiet), the
// numbers aligned however long the stage names are.
void PrintTimings(const Args& args, const StageTimings& timings);
// The longest stage name's length, at least `minimum`: the name column's width.
int StageNameWidth(const StageTimings& timings, int minimum);

}  // namespace persam::cli

#endif  // PERSAM_TOOLS_PRINT_TIMINGS_H_
