// `persam segment`: placeholder until its issue lands.
#include "tools/cli.h"
#include "weights/error.h"

namespace persam::cli {
namespace {

int RunSegment(const Args&) { throw persam::Error("'persam segment' is not implemented yet"); }

}  // namespace

extern const Command kSegmentCommand = {
    "segment", "(not implemented yet)", "usage: persam segment\n", {}, {}, RunSegment,
};

}  // namespace persam::cli
