#include "kernels/parallel.h"
#include "kernels/omp_spin.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace persam::kernels {
namespace {

// Whether the thread count is the default (all cores, adapted per long
// stage) rather than one the user chose.
std::atomic<bool> g_default_threads{std::getenv("OMP_NUM_THREADS") == nullptr};

// Runnable threads on the machine now, or -1 (no /proc/loadavg).
int ReadRunnable() {
  FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return -1;
  char buffer[128];
  const size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, f);
  std::fclose(f);
  return RunnableInLoadavg(std::string(buffer, n));
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
  int runnable = -1;
  for (int read = 0; read < 3; ++read) {
    if (read > 0) usleep(200);
    const int r = ReadRunnable();
    if (r < 0) return threads;
    runnable = runnable < 0 ? r : std::min(runnable, r);
  }
  const int others = std::max(0, runnable - 1);  // this thread is running
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
