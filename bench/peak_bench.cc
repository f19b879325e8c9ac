// peak/*: the machine's arithmetic peak, the yardstick for every "% of peak"
// figure the encoder benchmarks are judged by. Each thread runs independent
// chains of one instruction (12 accumulators hide the latency), so the rate
// is the core's issue throughput of that instruction times the thread count:
//   peak/f32_fma   vfmadd (512-bit if AVX-512F, else 256-bit): 2 FLOP a lane
//   peak/bf16_dot  vdpbf16ps (AVX512_BF16): 32 bf16 pairs -> 64 FLOP
//   peak/int8_dot  vpdpbusd (AVX512_VNNI): 64 u8 x s8 pairs -> 128 OP
// Raw intrinsics behind runtime checks (Highway 1.0.3 has no bf16 / int8
// dot ops); a CPU without the instruction reports the benchmark as skipped.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <cstdint>

#include "kernels/parallel.h"

namespace persam {
namespace {

constexpr int kChains = 12;
constexpr int64_t kStepsPerThread = 20'000'000;  // ~0.2 s a thread

// The sum of every lane of the chains: keeps the compiler from dropping them.
__attribute__((target("avx512f"))) float SumChains(const __m512* acc) {
  alignas(64) float lanes[16];
  float sum = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm512_store_ps(lanes, acc[i]);
    for (float x : lanes) sum += x;
  }
  return sum;
}

__attribute__((target("avx512f"))) float ChainsF32x16(int64_t steps) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1e-3f * i);
  const __m512 mul = _mm512_set1_ps(0.999f), add = _mm512_set1_ps(1e-6f);
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
  }
  return SumChains(acc);
}

__attribute__((target("avx2,fma"))) float ChainsF32x8(int64_t steps) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(1e-3f * i);
  const __m256 mul = _mm256_set1_ps(0.999f), add = _mm256_set1_ps(1e-6f);
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
  }
  alignas(32) float lanes[8];
  float sum = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    for (float x : lanes) sum += x;
  }
  return sum;
}

__attribute__((target("avx512f,avx512bf16"))) float ChainsBF16(int64_t steps) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1e-3f * i);
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80);  // 1.0
  const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3000);  // 2^-31
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  return SumChains(acc);
}

__attribute__((target("avx512f,avx512vnni"))) float ChainsInt8(int64_t steps) {
  __m512i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5);
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  }
  alignas(64) int32_t lanes[16];
  int64_t sum = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm512_store_si512(lanes, acc[i]);
    for (int32_t x : lanes) sum += x;
  }
  return static_cast<float>(sum);
}

// Runs `chains` on every thread; ops_per_step: the operations of one step of
// all chains.
template <class Chains>
void RunPeak(benchmark::State& state, Chains chains, double ops_per_step) {
  const int threads = kernels::NumThreads();
  for (auto _ : state) {
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += chains(kStepsPerThread);
    benchmark::DoNotOptimize(sink);
  }
  state.counters["threads"] = threads;
  state.counters["OP/s"] = benchmark::Counter(ops_per_step * kStepsPerThread * threads * state.iterations(),
                                              benchmark::Counter::kIsRate);
}

void BM_PeakF32(benchmark::State& state) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    RunPeak(state, ChainsF32x16, kChains * 16 * 2.0);
    state.SetLabel("512-bit vfmadd");
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    RunPeak(state, ChainsF32x8, kChains * 8 * 2.0);
    state.SetLabel("256-bit vfmadd");
  } else {
    state.SkipWithError("no FMA on this CPU");
  }
}

void BM_PeakBF16(benchmark::State& state) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512bf16")) {
    state.SkipWithError("no AVX512_BF16 on this CPU");
    return;
  }
  RunPeak(state, ChainsBF16, kChains * 32 * 2.0);
}

void BM_PeakInt8(benchmark::State& state) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512vnni")) {
    state.SkipWithError("no AVX512_VNNI on this CPU");
    return;
  }
  RunPeak(state, ChainsInt8, kChains * 64 * 2.0);
}

BENCHMARK(BM_PeakF32)->Name("peak/f32_fma")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PeakBF16)->Name("peak/bf16_dot")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PeakInt8)->Name("peak/int8_dot")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace persam
