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
// The flag that lets a checkpoint of an architecture SAM does not define load
// (LoadOptions::allow_unusual_architecture).
inline constexpr const char kUnusualModelFlag[] = "allow-unusual-model";

// The option's lines for the commands' help texts (a macro so that it
// concatenates with their string literals).
#define PERSAM_PRECISION_HELP                                                        \
  "  --precision P  image encoder precision: f32, bf16 (bfloat16 GEMMs, float32\n"  \
  "                 accumulation) or int8 (int8 weights and per-token activations).\n" \
  "                 Default: the model file's (f32 unless converted with --dtype)\n" \
  "  --allow-unusual-model  load a checkpoint SAM does not define (SAM: patch 16,\n" \
  "                 1024-pixel input, 64 x 64 embedding grid, 256-wide decoder,\n" \
  "                 encoder no larger than ViT-H); refused by default, as such a\n" \
  "                 file can ask for any amount of memory and time\n"

// nullopt when absent; UsageError for an unknown value.
std::optional<Precision> PrecisionOption(const Args& args);

// SamModel::Load options from the command line (--precision, --allow-unusual-model).
LoadOptions ModelLoadOptions(const Args& args);

}  // namespace persam::cli

#endif  // PERSAM_TOOLS_PRECISION_OPTION_H_
