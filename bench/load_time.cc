// Model load time (issue 17, "Load time"): one SamModel::Load of MODEL in a
// fresh process, as `persam segment` does without --embedding (no identity
// hash); prints the wall and CPU (user + system, all threads) milliseconds.
// One load per process on purpose: a second load in the same process reuses
// heap pages the first one faulted in and measured up to 3x faster than any
// CLI run. bench/load_time.sh runs it several times per model (file in the
// page cache) and prints medians.
//
//   build/bench/load_time MODEL [f32|bf16|int8]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "base/error.h"
#include "engine/precision.h"
#include "engine/sam_model.h"
#include "kernels/omp_spin.h"

namespace {
double CpuMs() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}
}  // namespace

int main(int argc, char** argv) {
  persam::kernels::UseShortOpenMpSpin(argv);  // the CLI's OpenMP wait policy
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s MODEL [f32|bf16|int8]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  try {
    persam::LoadOptions options;
    options.identity = false;
    if (argc == 3) options.precision = persam::ParsePrecision(argv[2], "precision");
    const double cpu0 = CpuMs();
    const auto start = std::chrono::steady_clock::now();
    auto model = persam::SamModel::Load(path, options);
    const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("load %.1f ms cpu %.1f ms\n", wall, CpuMs() - cpu0);
  } catch (const persam::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
