// Command-line plumbing shared by every `persam` subcommand: option parsing,
// the command table, and terminal output (progress only on a TTY).
#ifndef PERSAM_TOOLS_CLI_H_
#define PERSAM_TOOLS_CLI_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace persam::cli {

// Parsed arguments of one subcommand. Options are `--name VALUE` or
// `--name=VALUE`; flags are `--name`. Unknown options are usage errors.
class Args {
 public:
  Args(const std::string& command, const std::vector<std::string>& argv,
       const std::set<std::string>& value_options, const std::set<std::string>& flags);

  bool Flag(const std::string& name) const { return flags_.count(name) != 0; }
  std::optional<std::string> Value(const std::string& name) const;
  std::vector<std::string> Values(const std::string& name) const;  // repeated option
  std::string Required(const std::string& name) const;             // usage error if absent
  int Int(const std::string& name, int fallback) const;
  double Double(const std::string& name, double fallback) const;  // finite; usage error otherwise
  const std::vector<std::string>& positionals() const { return positionals_; }
  const std::string& command() const { return command_; }

  bool quiet() const { return Flag("quiet"); }
  bool verbose() const { return Flag("verbose"); }

 private:
  std::string command_;
  std::multimap<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positionals_;
};

// Thrown for a malformed command line; main prints it with a hint to --help.
struct UsageError {
  std::string message;
};

struct Command {
  const char* name;
  const char* summary;  // one line for `persam help`
  const char* help;     // full text for `persam help CMD` / `CMD --help`
  std::set<std::string> value_options;
  std::set<std::string> flags;
  int (*run)(const Args& args);
};

const std::vector<Command>& Commands();

// Writes to stdout unless --quiet.
void Say(const Args& args, const char* format, ...) __attribute__((format(printf, 2, 3)));
// A progress line redrawn in place; only when stderr is a terminal and not quiet.
void Progress(const Args& args, const std::string& line);
void EndProgress(const Args& args);

}  // namespace persam::cli

#endif  // PERSAM_TOOLS_CLI_H_
