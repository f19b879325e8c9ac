// decoder/point: prompt encoder + mask decoder + postprocessing for one point,
// multimask, on a 1024 x 1024 image: the interactive latency of SAM once the
// embedding is known. Seeded random weights in the standard decoder shapes.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/mask_decoder.h"
#include "engine/preprocess.h"
#include "engine/prompt_encoder.h"
#include "engine/timing.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

void BM_DecoderPoint(benchmark::State& state) {
  // The small test encoder keeps the setup fast; the decoder is the standard
  // one (256 dims, 64 x 64 grid) whatever the encoder.
  const SamConfig config = SamVitTinyTestConfig();
  const TensorMap tensors = MakeRandomSamTensors(config, 7);
  const PromptEncoder prompt_encoder(tensors, config);
  const MaskDecoder decoder(tensors, config, prompt_encoder.dense_pe_hwc());
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
  const int masks = config.num_mask_tokens - 1, size = decoder.mask_size();
  std::vector<float> low_res(static_cast<size_t>(masks) * size * size), scores(masks);
  // Output buffers kept across queries as an interactive caller does (the
  // decoder writes into low_res; a fresh 12 MB high-res buffer per query
  // would add its zero fill and page faults, ~1.3 ms, to every iteration).
  std::vector<float> high;
  StageTimings timings;
  for (auto _ : state) {
    const std::vector<float> sparse = prompt_encoder.EncodeSparse(prompt, embedding);
    MaskDecoderInputs in;
    in.embedding = embedding.data.data();
    in.dense_channel = prompt_encoder.no_mask_embed().data();
    in.sparse = sparse.data();
    in.num_sparse = static_cast<int>(sparse.size()) / config.prompt_dim;
    in.first_mask = 1;
    in.num_masks = masks;
    decoder.Run(in, low_res.data(), scores.data(), &timings);
    ScopedStage stage(&timings, "postprocess");
    PostprocessMapsInto(low_res.data(), masks, size, size, embedding.orig_height, embedding.orig_width, &high);
    benchmark::DoNotOptimize(high.data());
  }
  // Per-iteration split: the decoder itself vs the upsampling to the image.
  for (const auto& [name, seconds] : timings.entries()) {
    state.counters[name + "_ms"] = benchmark::Counter(seconds * 1e3 / state.iterations());
  }
}
BENCHMARK(BM_DecoderPoint)->Name("decoder/point")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace persam
