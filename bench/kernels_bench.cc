// Benchmarks of the non-GEMM kernels: attention (ViT windowed and global,
// head dims of ViT-B/L (64) and ViT-H (80)), LayerNorm, GELU, resizes.
// FLOP/s counters count 4 nq nk d for attention (QK^T and PV products).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/parallel.h"
#include "kernels/resize.h"

namespace persam::kernels {
namespace {

std::vector<float> Random(size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// One head, single thread: args side (tokens = side^2), head dim, with SAM's
// rel-pos bias (1) or without (0).
void BM_AttentionHead(benchmark::State& state) {
  const int side = static_cast<int>(state.range(0));
  const int dim = static_cast<int>(state.range(1));
  const int n = side * side;
  auto q = Random(size_t(n) * dim), k = Random(size_t(n) * dim), v = Random(size_t(n) * dim);
  auto rh = Random(size_t(n) * side), rw = Random(size_t(n) * side);
  std::vector<float> out(size_t(n) * dim);
  AttentionArgs a;
  a.num_queries = a.num_keys = n;
  a.head_dim = dim;
  a.q = q.data();
  a.k = k.data();
  a.v = v.data();
  a.out = out.data();
  a.q_stride = a.k_stride = a.v_stride = a.out_stride = dim;
  a.scale = 0.125f;
  if (state.range(2)) {
    a.rel_h = rh.data();
    a.rel_w = rw.data();
    a.key_rows = a.key_cols = side;
  }
  for (auto _ : state) {
    Attention(a);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["FLOPS"] = benchmark::Counter(4.0 * n * n * dim, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AttentionHead)->Args({64, 64, 1})->Args({64, 80, 1})->Args({14, 64, 1})
    ->Args({14, 80, 1})->Args({64, 64, 0})->Args({14, 64, 0})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// A whole ViT-B attention layer through AttentionBatch (all threads):
// global = 12 heads x 4096 tokens, windowed = 25 windows x 12 heads x 196;
// second argument 1: AttentionBatchBF16 (the bf16 / int8 encoders').
void BM_AttentionBatchVitB(benchmark::State& state) {
  const bool global = state.range(0) != 0;
  const bool bf16 = state.range(1) != 0;
  const int side = global ? 64 : 14;
  const int n = side * side, dim = 64;
  const int items = global ? 12 : 25 * 12;
  auto q = Random(size_t(items) * n * dim), k = Random(size_t(items) * n * dim),
       v = Random(size_t(items) * n * dim);
  auto rh = Random(size_t(items) * n * side), rw = Random(size_t(items) * n * side);
  std::vector<float> out(size_t(items) * n * dim);
  std::vector<AttentionArgs> args(items);
  for (int i = 0; i < items; ++i) {
    AttentionArgs& a = args[i];
    const size_t off = size_t(i) * n * dim;
    a.num_queries = a.num_keys = n;
    a.head_dim = dim;
    a.q = q.data() + off;
    a.k = k.data() + off;
    a.v = v.data() + off;
    a.out = out.data() + off;
    a.q_stride = a.k_stride = a.v_stride = a.out_stride = dim;
    a.scale = 0.125f;
    a.rel_h = rh.data() + size_t(i) * n * side;
    a.rel_w = rw.data() + size_t(i) * n * side;
    a.key_rows = a.key_cols = side;
  }
  for (auto _ : state) {
    if (bf16) {
      AttentionBatchBF16(args.data(), items);
    } else {
      AttentionBatch(args.data(), items);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["FLOPS"] =
      benchmark::Counter(4.0 * n * n * dim * items, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = NumThreads();
}
BENCHMARK(BM_AttentionBatchVitB)->ArgNames({"global", "bf16"})->Args({1, 0})->Args({0, 0})
    ->Args({1, 1})->Args({0, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LayerNormRows(benchmark::State& state) {
  const int rows = 4096, cols = static_cast<int>(state.range(0));
  auto x = Random(size_t(rows) * cols), g = Random(cols), b = Random(cols);
  std::vector<float> out(x.size());
  for (auto _ : state) {
    LayerNormRows(rows, cols, x.data(), cols, g.data(), b.data(), 1e-6f, out.data(), cols);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * rows * cols * 8);
}
BENCHMARK(BM_LayerNormRows)->Arg(768)->Arg(1280)->UseRealTime();

void BM_Gelu(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  auto x0 = Random(n, -6.0f, 6.0f);
  std::vector<float> x = x0;
  for (auto _ : state) {
    Gelu(x.data(), n);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * n);
}
BENCHMARK(BM_Gelu)->Arg(4096)->Arg(4096 * 3072)->UseRealTime();

void BM_ResizePillow(benchmark::State& state) {
  const int h = 1282, w = 1282;
  std::vector<uint8_t> src(size_t(h) * w * 3), dst(1024 * 1024 * 3);
  std::mt19937 rng(1);
  for (auto& p : src) p = static_cast<uint8_t>(rng());
  for (auto _ : state) {
    ResizePillowBilinearU8(src.data(), h, w, 3, dst.data(), 1024, 1024);
    benchmark::DoNotOptimize(dst.data());
  }
}
BENCHMARK(BM_ResizePillow)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ResizeBilinearMasks(benchmark::State& state) {
  auto src = Random(size_t(3) * 256 * 256);
  std::vector<float> dst(size_t(3) * 1024 * 1024);
  for (auto _ : state) {
    ResizeBilinear(src.data(), 3, 256, 256, dst.data(), 1024, 1024);
    benchmark::DoNotOptimize(dst.data());
  }
}
BENCHMARK(BM_ResizeBilinearMasks)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace persam::kernels
