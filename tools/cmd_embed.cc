// `persam embed`: placeholder until its issue lands.
#include "tools/cli.h"
#include "weights/error.h"

namespace persam::cli {
namespace {

int RunEmbed(const Args&) { throw persam::Error("'persam embed' is not implemented yet"); }

}  // namespace

extern const Command kEmbedCommand = {
    "embed", "(not implemented yet)", "usage: persam embed\n", {}, {}, RunEmbed,
};

}  // namespace persam::cli
