// `persam`: one program, many subcommands (git style).
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "engine/image.h"
#include "kernels/omp_spin.h"
#include "kernels/parallel.h"
#include "tools/cli.h"
#include "base/error.h"

#ifndef PERSAM_VERSION
#define PERSAM_VERSION "unknown"
#endif

namespace persam::cli {
namespace {

const Command* FindCommand(const std::string& name) {
  for (const Command& command : Commands()) {
    if (name == command.name) return &command;
  }
  return nullptr;
}

void PrintOverview() {
  std::printf(
      "persam %s: Segment Anything and PerSAM on the CPU\n\n"
      "usage: persam <command> [options]\n\ncommands:\n",
      PERSAM_VERSION);
  for (const Command& command : Commands()) {
    std::printf("  %-12s %s\n", command.name, command.summary);
  }
  std::printf(
      "  %-12s %s\n\n"
      "options every command takes:\n"
      "  --threads N   worker threads (default: all cores, fewer for the image\n"
      "                encoder while other processes are running; at most 4 per core)\n"
      "  --max-image-pixels N\n"
      "                refuse images whose header claims more than N pixels\n"
      "                (default 178956970, Pillow's bomb limit; 0: no limit)\n"
      "  --quiet       print nothing but errors\n"
      "  --verbose     per-stage timings and details\n"
      "  -h, --help    this command's help\n\n"
      "'persam help <command>' describes one command.\n",
      "help", "show help for a command");
}

int Help(const std::vector<std::string>& rest) {
  if (rest.empty()) {
    PrintOverview();
    return 0;
  }
  const Command* command = FindCommand(rest[0]);
  if (command == nullptr) {
    std::fprintf(stderr, "persam: error: unknown command '%s' (see 'persam help')\n", rest[0].c_str());
    return 2;
  }
  std::printf("%s", command->help);
  return 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    PrintOverview();
    return 2;
  }
  const std::string name = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (name == "--version" || name == "version") {
    std::printf("persam %s\n", PERSAM_VERSION);
    return 0;
  }
  if (name == "help" || name == "--help" || name == "-h") return Help(rest);
  const Command* command = FindCommand(name);
  if (command == nullptr) {
    std::fprintf(stderr, "persam: error: unknown command '%s' (see 'persam help')\n", name.c_str());
    return 2;
  }
  // -h / --help anywhere wins over the other arguments, even malformed ones.
  for (const std::string& arg : rest) {
    if (arg == "-h" || arg == "--help") {
      std::printf("%s", command->help);
      return 0;
    }
  }
  try {
    Args parsed(name, rest, command->value_options, command->flags);
    if (parsed.Flag("help")) {
      std::printf("%s", command->help);
      return 0;
    }
    const int threads = parsed.Int("threads", 0);
    if (threads < 0) throw UsageError{"option --threads expects a positive integer"};
    if (threads > kernels::MaxThreads()) {
      throw UsageError{"option --threads " + std::to_string(threads) + ": at most " +
                       std::to_string(kernels::MaxThreads()) + " (4 per core)"};
    }
    kernels::SetNumThreads(threads);
    const int max_pixels = parsed.Int("max-image-pixels", static_cast<int>(kDefaultMaxImagePixels));
    if (max_pixels < 0) throw UsageError{"option --max-image-pixels expects a pixel count >= 0"};
    SetMaxImagePixels(static_cast<uint64_t>(max_pixels));
    return command->run(parsed);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "persam %s: error: %s (see 'persam %s --help')\n", name.c_str(),
                 error.message.c_str(), name.c_str());
    return 2;
  } catch (const persam::Error& error) {
    std::fprintf(stderr, "persam %s: error: %s\n", name.c_str(), error.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "persam %s: error: out of memory\n", name.c_str());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "persam %s: error: %s\n", name.c_str(), error.what());
    return 1;
  }
}

}  // namespace
}  // namespace persam::cli

int main(int argc, char** argv) {
  persam::kernels::UseShortOpenMpSpin(argv);
  return persam::cli::Main(argc, argv);
}
