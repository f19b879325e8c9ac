// decoder/point: prompt encoder + mask decoder + postprocessing for one point,
// multimask, on a 1024 x 1024 image: the interactive latency of SAM once the
// embedding is known. Seeded random weights in the standard decoder shapes.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/sam_model.h"
#include "engine/timing.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

void BM_DecoderPoint(benchmark::State& state) {
  // The small test encoder keeps the setup fast; the decoder is the standard
  // one (256 dims, 64 x 64 grid) whatever the encoder.
  const SamConfig config = SamVitTinyTestConfig();
  const auto model = SamModel::FromTensors(MakeRandomSamTensors(config, 7), "random decoder weights");
  ImageEmbedding embedding;
  embedding.orig_height = embedding.orig_width = 1024;
  embedding.input_height = embedding.input_width = 1024;
  embedding.data.resize(static_cast<size_t>(config.prompt_dim) * config.embed_grid * config.embed_grid);
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : embedding.data) v = dist(rng);
  Prompt prompt;
  prompt.points.push_back({500.5, 380.25, 1});
  prompt.multimask = true;
  // One Prediction kept across queries, as an interactive caller does with
  // PredictInto (a fresh 12 MB high-res plane per query would add its zero
  // fill and page faults, ~1.3 ms, to every iteration).
  Prediction prediction;
  StageTimings timings;
  for (auto _ : state) {
    model->PredictInto(embedding, prompt, &prediction, &timings);
    benchmark::DoNotOptimize(prediction.high_res.data());
  }
  // Per-iteration split: prompt encoder, decoder stages, upsampling.
  for (const auto& [name, seconds] : timings.entries()) {
    state.counters[name + "_ms"] = benchmark::Counter(seconds * 1e3 / state.iterations());
  }
}
BENCHMARK(BM_DecoderPoint)->Name("decoder/point")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace persam
