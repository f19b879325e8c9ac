// `persam demo`: placeholder until its issue lands.
#include "tools/cli.h"
#include "weights/error.h"

namespace persam::cli {
namespace {

int RunDemo(const Args&) { throw persam::Error("'persam demo' is not implemented yet"); }

}  // namespace

extern const Command kDemoCommand = {
    "demo", "(not implemented yet)", "usage: persam demo\n", {}, {}, RunDemo,
};

}  // namespace persam::cli
