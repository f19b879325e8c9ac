// Benchmark entry: prints the dispatched target and thread count, then runs.
#include <benchmark/benchmark.h>

#include <cstdio>

#include "kernels/gemm_lowp.h"
#include "kernels/hwy_target.h"
#include "kernels/parallel.h"
#include "kernels/omp_spin.h"

int main(int argc, char** argv) {
  persam::kernels::UseShortOpenMpSpin(argv);  // the CLI's OpenMP wait policy: the same figures
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("threads", std::to_string(persam::kernels::NumThreads()));
  // Which code the figures are for (on ARM: NEON, SVE_256, ... and whether
  // the int8 / bf16 GEMMs use the dot-product instructions).
  benchmark::AddCustomContext("hwy_target", persam::kernels::DispatchedTargetName());
  benchmark::AddCustomContext("gemm_bf16", persam::kernels::GemmBF16PathName());
  benchmark::AddCustomContext("gemm_int8", persam::kernels::GemmI8PathName());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
