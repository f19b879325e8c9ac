// `--precision f32|bf16|int8`, shared by every command that runs a model
// (embed, segment, personalize, demo, eval): the image encoder's compute
// precision (engine/precision.h). Absent: the file's own precision (a file
// written by `persam convert --dtype bf16|int8` runs at bf16 / int8, any
// other at f32).
#ifndef PERSAM_TOOLS_PRECISION_OPTION_H_
#define PERSAM_TOOLS_PRECISION_OPTION_H_

#include <optional>

#include "engine/precision.h"
#include "engine/sam_model.h"
#include "tools/cli.h"

namespace persam::cli {

// The option's name, for Command::value_options.
inline constexpr const char kPrecisionOptionName[] = "precision";

// The option's lines for the commands' help texts (a macro so that it
// concatenates with their string literals).
#define PERSAM_PRECISION_HELP                                                        \
  "  --precision P  image encoder precision: f32, bf16 (bfloat16 GEMMs, float32\n"  \
  "                 accumulation) or int8 (int8 weights and per-token activations).\n" \
  "                 Default: the model file's (f32 unless converted with --dtype)\n"

// nullopt when absent; UsageError for an unknown value.
std::optional<Precision> PrecisionOption(const Args& args);

// SamModel::Load options from the command line (--precision).
LoadOptions ModelLoadOptions(const Args& args);

}  // namespace persam::cli

#endif  // PERSAM_TOOLS_PRECISION_OPTION_H_
