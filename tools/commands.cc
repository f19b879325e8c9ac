// The table of `persam` subcommands; each lives in its own cmd_*.cc.
#include "tools/cli.h"

namespace persam::cli {

extern const Command kConvertCommand;
extern const Command kInspectCommand;
extern const Command kDemoCommand;
extern const Command kEmbedCommand;
extern const Command kSegmentCommand;
extern const Command kPersonalizeCommand;
extern const Command kEvalCommand;
extern const Command kEverythingCommand;
extern const Command kServeCommand;
extern const Command kVideoCommand;
extern const Command kLearnCommand;
extern const Command kFindCommand;
extern const Command kDownloadCommand;

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      kDemoCommand,    kConvertCommand,     kInspectCommand, kEmbedCommand,
      kSegmentCommand, kPersonalizeCommand, kEvalCommand, kEverythingCommand, kServeCommand,
      kVideoCommand,
      kLearnCommand,   kFindCommand,
      kDownloadCommand,
  };
  return commands;
}

}  // namespace persam::cli
