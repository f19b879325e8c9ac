// Benchmark entry: prints the dispatched target and thread count, then runs.
#include <benchmark/benchmark.h>

#include <cstdio>

#include "kernels/parallel.h"
#include "kernels/omp_spin.h"

int main(int argc, char** argv) {
  persam::kernels::UseShortOpenMpSpin(argv);  // the CLI's OpenMP wait policy: the same figures
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("threads", std::to_string(persam::kernels::NumThreads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
