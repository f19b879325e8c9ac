// `persam personalize`: placeholder until its issue lands.
#include "tools/cli.h"
#include "weights/error.h"

namespace persam::cli {
namespace {

int RunPersonalize(const Args&) { throw persam::Error("'persam personalize' is not implemented yet"); }

}  // namespace

extern const Command kPersonalizeCommand = {
    "personalize", "(not implemented yet)", "usage: persam personalize\n", {}, {}, RunPersonalize,
};

}  // namespace persam::cli
