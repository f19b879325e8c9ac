#include "kernels/parallel.h"
#include "kernels/omp_spin.h"

#include <dirent.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace persam::kernels {
namespace {

// Whether the thread count is the default (all cores, adapted per long
// stage) rather than one the user chose.
std::atomic<bool> g_default_threads{std::getenv("OMP_NUM_THREADS") == nullptr};

// The first 512 bytes of a small /proc file, or "" if it cannot be read.
std::string ReadProcFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return std::string();
  char buffer[512];
  const size_t n = std::fread(buffer, 1, sizeof(buffer), f);
  std::fclose(f);
  return std::string(buffer, n);
}

// Threads of this process that are running or runnable now (state R in
// /proc/self/task/*/stat), at least 1 (the caller); e.g. the video and find
// pipelines' thread decoding the next image while this one encodes.
int OwnRunnableThreads() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return 1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const std::string stat = ReadProcFile(std::string("/proc/self/task/") + entry->d_name + "/stat");
    // "tid (comm) S ...": the state follows the last ')' (comm may hold one).
    const size_t close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'R') ++count;
  }
  closedir(dir);
  return std::max(count, 1);
}

}  // namespace

void SetNumThreads(int threads) {
  g_default_threads.store(threads <= 0);
  omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
}

int RunnableInLoadavg(const std::string& text) {
  // Fields: three load averages, "runnable/total", the last pid.
  double a1, a5, a15;
  int runnable = 0, total = 0;
  if (std::sscanf(text.c_str(), "%lf %lf %lf %d/%d", &a1, &a5, &a15, &runnable, &total) != 5) return -1;
  return runnable >= 0 && total >= runnable ? runnable : -1;
}

int ThreadsForLongStage() {
  const int threads = NumThreads();
  if (threads <= 1 || !g_default_threads.load()) return threads;
  int others = -1;
  for (int read = 0; read < 3; ++read) {
    if (read > 0) usleep(200);
    const int runnable = RunnableInLoadavg(ReadProcFile("/proc/loadavg"));
    if (runnable < 0) return threads;
    const int other = std::max(0, runnable - OwnRunnableThreads());
    others = others < 0 ? other : std::min(others, other);
  }
  return std::clamp(omp_get_num_procs() - others, 1, threads);
}

ScopedThreadCount::ScopedThreadCount(int threads) : previous_(omp_get_max_threads()) {
  omp_set_num_threads(std::max(1, threads));
}

ScopedThreadCount::~ScopedThreadCount() { omp_set_num_threads(previous_); }

// Inside a parallel region a kernel's own region runs with one thread
// (nesting is off), so say so: the kernels then tile for one thread instead
// of splitting work into tasks and packing shared buffers for a team that
// never comes (e.g. the decoder's per-band upscaling GEMMs).
int MaxThreads() { return 4 * omp_get_num_procs(); }

int NumThreads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

bool InParallel() { return omp_in_parallel() != 0; }

void UseShortOpenMpSpin(char** argv) {
  if (argv == nullptr || argv[0] == nullptr) return;
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  // The variable is set before the exec, so the new image returns above.
  if (setenv("GOMP_SPINCOUNT", kShortSpinCount, 1) != 0) return;
  execv("/proc/self/exe", argv);
}

}  // namespace persam::kernels
