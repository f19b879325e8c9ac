// `persam eval`: placeholder until its issue lands.
#include "tools/cli.h"
#include "weights/error.h"

namespace persam::cli {
namespace {

int RunEval(const Args&) { throw persam::Error("'persam eval' is not implemented yet"); }

}  // namespace

extern const Command kEvalCommand = {
    "eval", "(not implemented yet)", "usage: persam eval\n", {}, {}, RunEval,
};

}  // namespace persam::cli
