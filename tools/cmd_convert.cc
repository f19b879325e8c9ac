// `persam convert`: placeholder until its issue lands.
#include "tools/cli.h"
#include "weights/error.h"

namespace persam::cli {
namespace {

int RunConvert(const Args&) { throw persam::Error("'persam convert' is not implemented yet"); }

}  // namespace

extern const Command kConvertCommand = {
    "convert", "(not implemented yet)", "usage: persam convert\n", {}, {}, RunConvert,
};

}  // namespace persam::cli
