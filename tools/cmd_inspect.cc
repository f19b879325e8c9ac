// `persam inspect`: placeholder until its issue lands.
#include "tools/cli.h"
#include "weights/error.h"

namespace persam::cli {
namespace {

int RunInspect(const Args&) { throw persam::Error("'persam inspect' is not implemented yet"); }

}  // namespace

extern const Command kInspectCommand = {
    "inspect", "(not implemented yet)", "usage: persam inspect\n", {}, {}, RunInspect,
};

}  // namespace persam::cli
