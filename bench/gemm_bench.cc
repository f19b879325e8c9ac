// GEMM benchmarks at ViT shapes (M x K x N = tokens x in x out), f32 / bf16 /
// int8, 1 and 2 threads, FLOP/s counters, with OpenBLAS cblas_sgemm as the
// baseline in the same run when it is available.
//
//   build/bench/persam_bench --benchmark_filter=Gemm
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <time.h>

#include <cstdint>
#include <random>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "kernels/gemm.h"
#include "kernels/gemm_lowp.h"
#include "kernels/parallel.h"

#ifdef PERSAM_HAVE_CBLAS
#include <cblas.h>
#endif

namespace persam::kernels {
namespace {

// ViT-B qkv, ViT-B mlp lin1, ViT-B mlp lin2, ViT-H qkv, ViT-H mlp lin2.
const int64_t kShapes[][3] = {{4096, 768, 2304},
                              {4096, 768, 3072},
                              {4096, 3072, 768},
                              {4096, 1280, 3840},
                              {4096, 5120, 1280}};

struct Operands {
  hwy::AlignedFreeUniquePtr<float[]> a, w, bias, c;
  Operands(int64_t m, int64_t k, int64_t n)
      : a(hwy::AllocateAligned<float>(m * k)),
        w(hwy::AllocateAligned<float>(n * k)),
        bias(hwy::AllocateAligned<float>(n)),
        c(hwy::AllocateAligned<float>(m * n)) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (int64_t i = 0; i < m * k; ++i) a[i] = dist(rng);
    for (int64_t i = 0; i < n * k; ++i) w[i] = dist(rng) * 0.05f;
    for (int64_t i = 0; i < n; ++i) bias[i] = dist(rng);
  }
};

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// FLOP/s: by wall time (the headline number). FLOP/s/core_cpu: FLOPs per
// second of process CPU time summed over threads, i.e. per busy core; on a
// shared, overloaded machine it is the less noisy number (OpenMP spin-waits
// count as busy, so it is a lower bound).
void SetCounters(benchmark::State& state, int64_t m, int64_t k, int64_t n,
                 double cpu_seconds, const char* label) {
  const double flops = 2.0 * m * k * n;
  state.counters["FLOP/s"] = benchmark::Counter(
      flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOP/s/core_cpu"] =
      flops * static_cast<double>(state.iterations()) / cpu_seconds;
  state.SetLabel(label);
}

void BM_GemmF32(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  SetNumThreads(threads);
  Operands ops(m, k, n);
  const PackedWeights packed = PackedWeights::Pack(ops.w.get(), n, k, k);
  GemmEpilogue ep;
  ep.bias = ops.bias.get();
  double cpu = 0.0;
  for (auto _ : state) {
    const double t0 = ProcessCpuSeconds();
    Gemm(m, ops.a.get(), k, packed, ep, ops.c.get(), n);
    benchmark::DoNotOptimize(ops.c.get());
    benchmark::ClobberMemory();
    cpu += ProcessCpuSeconds() - t0;
  }
  SetCounters(state, m, k, n, cpu, GemmTargetName());
  SetNumThreads(0);
}

// Weights as bf16 (vdpbf16ps where available), A converted per call.
void BM_GemmBF16(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  SetNumThreads(static_cast<int>(state.range(3)));
  Operands ops(m, k, n);
  const PackedWeightsBF16 packed = PackedWeightsBF16::Pack(ops.w.get(), n, k, k);
  GemmEpilogue ep;
  ep.bias = ops.bias.get();
  double cpu = 0.0;
  for (auto _ : state) {
    const double t0 = ProcessCpuSeconds();
    GemmBF16(m, ops.a.get(), k, packed, ep, ops.c.get(), n);
    benchmark::DoNotOptimize(ops.c.get());
    benchmark::ClobberMemory();
    cpu += ProcessCpuSeconds() - t0;
  }
  SetCounters(state, m, k, n, cpu, GemmBF16PathName());
  SetNumThreads(0);
}

// int8 weights, per-row dynamic activation quantisation (included).
void BM_GemmI8(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  SetNumThreads(static_cast<int>(state.range(3)));
  Operands ops(m, k, n);
  const PackedWeightsI8 packed = PackedWeightsI8::Pack(ops.w.get(), n, k, k);
  GemmEpilogue ep;
  ep.bias = ops.bias.get();
  double cpu = 0.0;
  for (auto _ : state) {
    const double t0 = ProcessCpuSeconds();
    GemmI8(m, ops.a.get(), k, packed, ep, ops.c.get(), n);
    benchmark::DoNotOptimize(ops.c.get());
    benchmark::ClobberMemory();
    cpu += ProcessCpuSeconds() - t0;
  }
  SetCounters(state, m, k, n, cpu, GemmI8PathName());
  SetNumThreads(0);
}

#ifdef PERSAM_HAVE_CBLAS
void BM_GemmOpenBLAS(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  openblas_set_num_threads(threads);
  Operands ops(m, k, n);
  double cpu = 0.0;
  for (auto _ : state) {
    const double t0 = ProcessCpuSeconds();
    // C = A W^T, W in [n, k] layout, as our Gemm (bias not included).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f,
                ops.a.get(), k, ops.w.get(), k, 0.0f, ops.c.get(), n);
    benchmark::DoNotOptimize(ops.c.get());
    benchmark::ClobberMemory();
    cpu += ProcessCpuSeconds() - t0;
  }
  SetCounters(state, m, k, n, cpu, "OpenBLAS");
}
#endif

void ViTShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "K", "N", "threads"});
  for (int threads : {1, 2}) {
    for (const auto& s : kShapes) b->Args({s[0], s[1], s[2], threads});
  }
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_GemmF32)->Apply(ViTShapes);
BENCHMARK(BM_GemmBF16)->Apply(ViTShapes);
BENCHMARK(BM_GemmI8)->Apply(ViTShapes);
#ifdef PERSAM_HAVE_CBLAS
BENCHMARK(BM_GemmOpenBLAS)->Apply(ViTShapes);
#endif

}  // namespace
}  // namespace persam::kernels
