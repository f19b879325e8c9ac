// The SAM ViT image encoder at the official sizes, with seeded random weights
// (the architecture and shapes are what matter for speed), on one
// preprocessed 1024 x 1024 input. Reports seconds per image, GFLOP/s against
// the encoders' nominal work (972 / 2986 / 5961 GFLOP for ViT-B / L / H) and
// the per-stage breakdown (seconds per image) from StageTimings.
//
//   persam_bench --benchmark_filter=encoder/ --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/image_encoder.h"
#include "engine/vit_encoder.h"
#include "kernels/gemm.h"
#include "kernels/gemm_lowp.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

void EncoderBenchmark(benchmark::State& state, const SamConfig& config, double nominal_gflop,
                      Precision precision = Precision::kF32) {
  std::unique_ptr<ImageEncoder> encoder;
  {
    // bf16 random weights halve the transient memory of construction; the
    // encoder converts to float32 when packing, as for any checkpoint dtype.
    const TensorMap tensors = MakeRandomSamTensors(config, /*seed=*/1, DType::kBF16);
    encoder = MakeVitEncoder(tensors, config, precision);
  }  // the source tensors are freed here: only packed weights remain
  std::vector<float> input(size_t(3) * config.image_size * config.image_size);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : input) v = normal(rng);
  std::vector<float> embedding(size_t(config.prompt_dim) * config.embed_grid * config.embed_grid);

  // First call allocates the activation workspace: reported apart.
  StageTimings cold;
  encoder->Encode(input.data(), embedding.data(), &cold);

  StageTimings timings;
  for (auto _ : state) {
    encoder->Encode(input.data(), embedding.data(), &timings);
    benchmark::DoNotOptimize(embedding.data());
    benchmark::ClobberMemory();
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] =
      benchmark::Counter(nominal_gflop * 1e9 * iters, benchmark::Counter::kIsRate);
  state.counters["cold_s"] = cold.Total();
  // The encoder path's memory (its peak RSS is about this plus the program's
  // own; this process's RSS also holds the freed source tensors' pages).
  if (const auto* vit = dynamic_cast<const VitEncoder*>(encoder.get())) {
    state.counters["weights_MB"] = vit->WeightBytes() / 1e6;
    state.counters["workspace_MB"] = vit->WorkspaceBytes() / 1e6;
  }
  for (const auto& [stage, seconds] : timings.entries()) state.counters[stage] = seconds / iters;
  switch (precision) {
    case Precision::kF32: state.SetLabel(std::string("gemm ") + kernels::GemmTargetName()); break;
    case Precision::kBF16: state.SetLabel(std::string("gemm ") + kernels::GemmBF16PathName()); break;
    case Precision::kInt8:
      state.SetLabel(std::string("gemm ") + kernels::GemmI8PathName() + ", neck " +
                     kernels::GemmBF16PathName());
      break;
  }
}

void BM_VitB(benchmark::State& state) { EncoderBenchmark(state, SamVitBConfig(), 972.0); }
void BM_VitL(benchmark::State& state) { EncoderBenchmark(state, SamVitLConfig(), 2986.0); }
void BM_VitH(benchmark::State& state) { EncoderBenchmark(state, SamVitHConfig(), 5961.0); }

// Issue 7: the reduced-precision encoders (engine/precision.h).
void BM_VitBBF16(benchmark::State& state) { EncoderBenchmark(state, SamVitBConfig(), 972.0, Precision::kBF16); }
void BM_VitBInt8(benchmark::State& state) { EncoderBenchmark(state, SamVitBConfig(), 972.0, Precision::kInt8); }

// A few seconds (B) to a minute (H) per image on two cores: few iterations.
BENCHMARK(BM_VitB)->Name("encoder/vit_b")->Iterations(3)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_VitBBF16)->Name("encoder/vit_b_bf16")->Iterations(3)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_VitBInt8)->Name("encoder/vit_b_int8")->Iterations(3)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_VitL)->Name("encoder/vit_l")->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_VitH)->Name("encoder/vit_h")->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

}  // namespace
}  // namespace persam
