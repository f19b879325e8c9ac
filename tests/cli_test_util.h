// Running the `persam` binary from the CLI tests as a user would: one
// command line in, exit code and the merged stdout/stderr out.
#ifndef PERSAM_TESTS_CLI_TEST_UTIL_H_
#define PERSAM_TESTS_CLI_TEST_UTIL_H_

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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

// Runs the `persam` binary named by $PERSAM_EXE with `args` (plus
// `extra`, e.g. " --threads 2").
inline CliRun RunPersam(const std::string& args, const std::string& extra = " --threads 2") {
  const char* exe = std::getenv("PERSAM_EXE");
  REQUIRE_MESSAGE(exe != nullptr, "PERSAM_EXE must point at the persam binary");
  return RunCli(exe, args + extra);
}

// A fresh directory under /tmp whose name starts with `prefix`.
inline std::string MakeTempDir(const std::string& prefix) {
  std::string templ = "/tmp/" + prefix + "_XXXXXX";
  const char* dir = mkdtemp(templ.data());
  REQUIRE(dir != nullptr);
  return dir;
}

inline bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace persam::testing

#endif  // PERSAM_TESTS_CLI_TEST_UTIL_H_
