// Running the `persam` binary from the CLI tests as a user would: one
// command line in, exit code and the merged stdout/stderr out.
#ifndef PERSAM_TESTS_CLI_TEST_UTIL_H_
#define PERSAM_TESTS_CLI_TEST_UTIL_H_

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace persam::testing {

struct CliRun {
  int code = -1;       // exit status; -1 when killed by a signal
  std::string output;  // stdout and stderr
};

// Runs `exe args` through the shell (exe is single-quoted, args are not).
inline CliRun RunCli(const std::string& exe, const std::string& args) {
  const std::string command = "'" + exe + "' " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE_MESSAGE(pipe != nullptr, "cannot run " << command);
  CliRun r;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace persam::testing

#endif  // PERSAM_TESTS_CLI_TEST_UTIL_H_
