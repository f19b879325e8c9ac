// Outputs of the parallel kernels must not depend on how their loops are
// split over threads: every output element is computed the same way whatever
// thread runs it. Bit-identical for 1, 2 and 3 threads (3 oversubscribe the
// 2-core CI machine) and across repeats; a guard for any change of the
// partitioning (static splits, dynamic chunks, work stealing; issue 17).
#include <doctest/doctest.h>
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/gemm_lowp.h"
#include "kernels/ops.h"
#include "kernels/parallel.h"

namespace persam::kernels {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// run() fills its output; the result with one thread is the reference.
void ExpectSameForAnyThreads(const char* what, const std::function<std::vector<float>()>& run) {
  const int saved = NumThreads();
  SetNumThreads(1);
  const std::vector<float> one = run();
  for (int threads : {2, 3, 2, 3}) {
    SetNumThreads(threads);
    const std::vector<float> got = run();
    CAPTURE(what);
    CAPTURE(threads);
    REQUIRE(got.size() == one.size());
    CHECK(std::memcmp(got.data(), one.data(), sizeof(float) * one.size()) == 0);
  }
  SetNumThreads(saved);
}

TEST_CASE("Gemm, GemmBF16, GemmI8, GemmABt are bit-identical for any thread count") {
  std::mt19937 rng(17);
  // m = 40: few row blocks, so the columns are split and A is packed up front
  // by the team; m = 600: several 144-row blocks. K = 300 < one KC block,
  // K = 800: three KC passes.
  for (const auto [m, n, k] : {std::array<int, 3>{40, 200, 300}, std::array<int, 3>{600, 96, 800}}) {
    CAPTURE(m);
    const std::vector<float> a = Random(size_t(m) * k, rng);
    const std::vector<float> w = Random(size_t(n) * k, rng);
    const std::vector<float> bias = Random(n, rng);
    const PackedWeights pf = PackedWeights::Pack(w.data(), n, k, k);
    const PackedWeightsBF16 pb = PackedWeightsBF16::Pack(w.data(), n, k, k);
    const PackedWeightsI8 pi = PackedWeightsI8::Pack(w.data(), n, k, k);
    GemmEpilogue ep;
    ep.bias = bias.data();
    ep.activation = Epilogue::kGelu;
    auto out = [&](auto gemm) {
      std::vector<float> c(size_t(m) * n);
      gemm(c.data());
      return c;
    };
    ExpectSameForAnyThreads("Gemm", [&] {
      return out([&](float* c) { Gemm(m, a.data(), k, pf, ep, c, n); });
    });
    ExpectSameForAnyThreads("GemmBF16", [&] {
      return out([&](float* c) { GemmBF16(m, a.data(), k, pb, ep, c, n); });
    });
    ExpectSameForAnyThreads("GemmI8", [&] {
      return out([&](float* c) { GemmI8(m, a.data(), k, pi, ep, c, n); });
    });
    ExpectSameForAnyThreads("GemmABt", [&] {
      return out([&](float* c) { GemmABt(m, n, k, 0.125f, a.data(), k, w.data(), k, c, n); });
    });
  }
}

TEST_CASE("AttentionBatch(BF16) and LayerNormRows are bit-identical for any thread count") {
  std::mt19937 rng(18);
  // 6 windows of 49 tokens (TinyViT / ViT-B windows) and one 300-query head.
  const int dim = 32;
  struct Item { int nq, nk; };
  const std::vector<Item> shapes = {{49, 49}, {49, 49}, {49, 49}, {49, 49}, {49, 49}, {49, 49},
                                    {300, 256}};
  std::vector<std::vector<float>> q, k, v;
  for (const Item& s : shapes) {
    q.push_back(Random(size_t(s.nq) * dim, rng));
    k.push_back(Random(size_t(s.nk) * dim, rng));
    v.push_back(Random(size_t(s.nk) * dim, rng));
  }
  for (bool bf16 : {false, true}) {
    CAPTURE(bf16);
    ExpectSameForAnyThreads("AttentionBatch", [&] {
      std::vector<std::vector<float>> outs;
      std::vector<AttentionArgs> items;
      for (size_t i = 0; i < shapes.size(); ++i) {
        outs.emplace_back(size_t(shapes[i].nq) * dim);
      }
      for (size_t i = 0; i < shapes.size(); ++i) {
        AttentionArgs a;
        a.num_queries = shapes[i].nq;
        a.num_keys = shapes[i].nk;
        a.head_dim = dim;
        a.q = q[i].data(); a.q_stride = dim;
        a.k = k[i].data(); a.k_stride = dim;
        a.v = v[i].data(); a.v_stride = dim;
        a.out = outs[i].data(); a.out_stride = dim;
        a.scale = 1.0f / std::sqrt(float(dim));
        items.push_back(a);
      }
      if (bf16) {
        AttentionBatchBF16(items.data(), static_cast<int>(items.size()));
      } else {
        AttentionBatch(items.data(), static_cast<int>(items.size()));
      }
      std::vector<float> all;
      for (const auto& o : outs) all.insert(all.end(), o.begin(), o.end());
      return all;
    });
  }

  const int rows = 1000, cols = 96;  // > 2^16 elements: the threaded path
  const std::vector<float> x = Random(size_t(rows) * cols, rng);
  const std::vector<float> g = Random(cols, rng), b = Random(cols, rng);
  ExpectSameForAnyThreads("LayerNormRows", [&] {
    std::vector<float> y(size_t(rows) * cols);
    LayerNormRows(rows, cols, x.data(), cols, g.data(), b.data(), 1e-6f, y.data(), cols);
    return y;
  });
}

}  // namespace
}  // namespace persam::kernels

namespace persam::kernels {
namespace {

TEST_CASE("RunnableInLoadavg reads the runnable count of /proc/loadavg") {
  CHECK(RunnableInLoadavg("0.52 0.58 0.59 3/91 12345\n") == 3);
  CHECK(RunnableInLoadavg("12.00 8.50 4.25 17/1204 99") == 17);
  CHECK(RunnableInLoadavg("") == -1);
  CHECK(RunnableInLoadavg("0.52 0.58 0.59") == -1);
  CHECK(RunnableInLoadavg("0.52 0.58 0.59 x/91 1") == -1);
  CHECK(RunnableInLoadavg("0.52 0.58 0.59 92/91 1") == -1);  // more runnable than threads
}

TEST_CASE("ThreadsForLongStage keeps an explicit count and leaves cores to running threads") {
  const int saved = NumThreads();
  const int procs = omp_get_num_procs();
  SetNumThreads(3);
  CHECK(ThreadsForLongStage() == 3);  // the user's count, whatever the load
  SetNumThreads(0);                   // the default: all cores, adapted
  const int quiet = ThreadsForLongStage();
  CHECK(quiet >= 1);
  CHECK(quiet <= procs);
  std::FILE* loadavg = std::fopen("/proc/loadavg", "r");
  if (loadavg != nullptr) std::fclose(loadavg);
  if (procs >= 2 && loadavg != nullptr) {
    // A spinning child process takes at least one core: at most procs - 1
    // threads. (A process, not a thread: the process's own runnable threads
    // do not count, and a spinning thread made qemu-user hang at its
    // creation in the arm64 lanes.)
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      volatile unsigned spin = 0;  // a side effect: an empty endless loop is undefined
      for (;;) spin = spin + 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const int busy = ThreadsForLongStage();
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    CHECK(busy >= 1);
    CHECK(busy <= procs - 1);
  }
  {
    const ScopedThreadCount one(1);
    CHECK(NumThreads() == 1);
  }
  CHECK(NumThreads() == procs);
  SetNumThreads(saved);
}

}  // namespace
}  // namespace persam::kernels
