// MobileSAM TinyViT image encoder at its real size (random weights, the
// official vit_t config), f32, with a FLOP/s counter and the peak RSS.
//
//   build/bench/persam_bench --benchmark_filter=encoder/vit_t
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/image_encoder.h"
#include "kernels/gemm.h"
#include "kernels/parallel.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

// Multiply-adds x 2 of the vit_t encoder at 1024 x 1024 (convs + Linear
// layers + attention), counted with forward hooks on the reference model.
constexpr double kVitTFlops = 75.0e9;

void EncoderVitT(benchmark::State& state, Precision precision) {
  const SamConfig config = MobileSamConfig();
  std::unique_ptr<ImageEncoder> encoder;
  {
    const TensorMap tensors = MakeRandomSamTensors(config, /*seed=*/1);
    encoder = MakeTinyVitEncoder(tensors, config, precision);
  }  // the float32 tensors are freed: only the packed weights remain
  std::vector<float> input(3 * 1024 * 1024);
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : input) v = dist(rng);
  std::vector<float> embedding(256 * 64 * 64);
  for (auto _ : state) {
    encoder->Encode(input.data(), embedding.data(), nullptr);
    benchmark::DoNotOptimize(embedding.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(kVitTFlops, benchmark::Counter::kIsIterationInvariantRate);
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_RSS_MB"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
  state.SetLabel(std::string(kernels::GemmTargetName()) + ", blocks " + PrecisionName(precision));
}
void BM_EncoderVitT(benchmark::State& state) { EncoderVitT(state, Precision::kF32); }
void BM_EncoderVitTInt8(benchmark::State& state) { EncoderVitT(state, Precision::kInt8); }
BENCHMARK(BM_EncoderVitTInt8)->Name("encoder/vit_t_int8")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_EncoderVitT)->Name("encoder/vit_t")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace persam
