// Benchmark entry: prints the dispatched target and thread count, then runs.
#include <benchmark/benchmark.h>

#include <cstdio>

#include "kernels/parallel.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("threads", std::to_string(persam::kernels::NumThreads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
