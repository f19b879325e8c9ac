// Running the `persam` binary from the CLI tests as a user would: one
// command line in, exit code and the merged stdout/stderr out.
#ifndef PERSAM_TESTS_CLI_TEST_UTIL_H_
#define PERSAM_TESTS_CLI_TEST_UTIL_H_

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

struct MeasuredRun {
  int code = -1;        // exit status; -1 when killed by a signal
  std::string output;   // stdout and stderr
  long max_rss_kb = 0;  // the child's peak resident set (wait4's ru_maxrss)
  double seconds = 0;   // wall time
};

// Runs `exe` with exactly `args` (no shell, so the peak RSS is the
// program's own) and measures it: hostile-input tests bound memory and time.
inline MeasuredRun RunMeasured(const std::string& exe, const std::vector<std::string>& args) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv = {const_cast<char*>(exe.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  MeasuredRun r;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) r.output.append(buffer, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.max_rss_kb = usage.ru_maxrss;
  return r;
}

// The peak RSS a hostile-input run may reach: `exe --version`'s own (the
// binary, its libraries, a sanitizer's shadow memory: ~45 MB in release,
// ~330 MB under ASan) plus `extra_kb`.
inline long RssBoundKb(const std::string& exe, long extra_kb) {
  return RunMeasured(exe, {"--version"}).max_rss_kb + extra_kb;
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
