#include "tools/cli.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace persam::cli {

Args::Args(const std::string& command, const std::vector<std::string>& argv,
           const std::set<std::string>& value_options, const std::set<std::string>& flags)
    : command_(command) {
  // Options every subcommand accepts.
  std::set<std::string> all_values = value_options;
  all_values.insert({"threads", "max-image-pixels"});
  std::set<std::string> all_flags = flags;
  all_flags.insert({"quiet", "verbose", "help"});
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "-h") {  // as --help, like most programs
      flags_.insert("help");
      continue;
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      positionals_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (all_flags.count(name)) {
      if (inline_value) throw UsageError{"option --" + name + " takes no value"};
      flags_.insert(name);
    } else if (all_values.count(name)) {
      if (inline_value) {
        values_.emplace(name, *inline_value);
      } else {
        if (i + 1 >= argv.size()) throw UsageError{"option --" + name + " needs a value"};
        values_.emplace(name, argv[++i]);
      }
    } else {
      throw UsageError{"unknown option --" + name + " for 'persam " + command + "'"};
    }
  }
}

std::optional<std::string> Args::Value(const std::string& name) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  std::optional<std::string> last;
  for (auto it = range.first; it != range.second; ++it) last = it->second;
  return last;
}

std::vector<std::string> Args::Values(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

std::string Args::Required(const std::string& name) const {
  auto value = Value(name);
  if (!value) throw UsageError{"missing required option --" + name};
  return *value;
}

int Args::Int(const std::string& name, int fallback) const {
  auto value = Value(name);
  if (!value) return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value->c_str(), &end, 10);
  if (value->empty() || *end != '\0' || parsed < -1000000000L || parsed > 1000000000L) {
    throw UsageError{"option --" + name + " expects an integer, got '" + *value + "'"};
  }
  return static_cast<int>(parsed);
}

double Args::Double(const std::string& name, double fallback) const {
  auto value = Value(name);
  if (!value) return fallback;
  char* end = nullptr;
  errno = 0;
  const double parsed = std::strtod(value->c_str(), &end);
  if (value->empty() || *end != '\0' || errno == ERANGE || !std::isfinite(parsed)) {
    throw UsageError{"option --" + name + " expects a finite number, got '" + *value + "'"};
  }
  return parsed;
}

void Say(const Args& args, const char* format, ...) {
  if (args.quiet()) return;
  va_list list;
  va_start(list, format);
  std::vfprintf(stdout, format, list);
  va_end(list);
  std::fflush(stdout);
}

void Progress(const Args& args, const std::string& line) {
  if (args.quiet() || !isatty(STDERR_FILENO)) return;
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

void EndProgress(const Args& args) {
  if (args.quiet() || !isatty(STDERR_FILENO)) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace persam::cli
