// PerSAM benchmarks: PerSAM-F mask-weight training (1000 AdamW steps, exact
// full-resolution dice + focal every step) on a 1.6-megapixel image.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "persam/mask_loss.h"
#include "persam/mask_weights.h"

namespace persam {
namespace {

// Smooth logit maps (a few blobs) like the decoder's upsampled outputs, and a
// blob target: 1280 x 1280 = 1.64 MP.
struct TrainingData {
  int h = 1280, w = 1280;
  std::vector<float> logits;
  std::vector<uint8_t> target;
  TrainingData() : logits(3 * static_cast<size_t>(h) * w), target(static_cast<size_t>(h) * w) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> uni(0.0f, 1.0f);
    for (int k = 0; k < 3; ++k) {
      const float cx = uni(rng) * w, cy = uni(rng) * h, r = (0.2f + 0.3f * uni(rng)) * w;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          const float dist = std::hypot(x - cx, y - cy);
          logits[(static_cast<size_t>(k) * h + y) * w + x] = 12.0f * (1.0f - dist / r) + std::sin(0.01f * x * (k + 1));
        }
      }
    }
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) target[static_cast<size_t>(y) * w + x] = std::hypot(x - 600.0f, y - 500.0f) < 350.0f;
    }
  }
};

const TrainingData& Data() {
  static const TrainingData data;
  return data;
}

void BM_PersamF_TrainMaskWeights(benchmark::State& state) {
  const TrainingData& data = Data();
  const int64_t n = static_cast<int64_t>(data.h) * data.w;
  for (auto _ : state) {
    // Includes the one-off data preparation, as a real run does.
    MaskWeightsResult result = TrainMaskWeights(data.logits.data(), data.target.data(), n);
    benchmark::DoNotOptimize(result.weights);
    state.counters["w1"] = result.weights[1];
    state.counters["w2"] = result.weights[2];
  }
  state.counters["pixels"] = static_cast<double>(n);
  state.counters["pixel_steps/s"] =
      benchmark::Counter(static_cast<double>(n) * 1000, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PersamF_TrainMaskWeights)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// At mixture weights (w0, w1): "early" where training starts, "late" where it
// ends (more unsaturated pixels).
void BM_PersamF_LossPassAt(benchmark::State& state, float w0, float w1) {
  const TrainingData& data = Data();
  const int64_t n = static_cast<int64_t>(data.h) * data.w;
  const MaskMixtureProblem problem(data.logits.data(), data.target.data(), n);
  for (auto _ : state) {
    MaskLossValue value = EvaluateMaskLoss(problem, w0, w1);
    benchmark::DoNotOptimize(value);
  }
  state.counters["pixels/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_PersamF_LossPassAt, early, 0.3f, 0.4f)
    ->Name("BM_PersamF_LossPass")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_PersamF_LossPassAt, late, 0.18f, -0.16f)
    ->Name("BM_PersamF_LossPassLate")->Unit(benchmark::kMicrosecond)->UseRealTime();

// The one-off preparation TrainMaskWeights does before its steps.
void BM_PersamF_Prepare(benchmark::State& state) {
  const TrainingData& data = Data();
  const int64_t n = static_cast<int64_t>(data.h) * data.w;
  for (auto _ : state) {
    const MaskMixtureProblem problem(data.logits.data(), data.target.data(), n);
    benchmark::DoNotOptimize(problem.group(0).c.get());
  }
}
BENCHMARK(BM_PersamF_Prepare)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace persam

namespace persam {
namespace {
// The same pass on a problem that fits in L2: separates compute from memory.
void BM_PersamF_LossPassSmall(benchmark::State& state) {
  const int64_t n = state.range(0);
  const TrainingData& data = Data();
  std::vector<float> logits(3 * n);
  for (int k = 0; k < 3; ++k) std::copy_n(data.logits.data() + k * data.target.size(), n, logits.data() + k * n);
  const MaskMixtureProblem problem(logits.data(), data.target.data(), n);
  for (auto _ : state) {
    MaskLossValue value = EvaluateMaskLoss(problem, 0.3f, 0.4f);
    benchmark::DoNotOptimize(value);
  }
  state.counters["pixels/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PersamF_LossPassSmall)->Arg(65536)->Unit(benchmark::kMicrosecond)->UseRealTime();
}  // namespace
}  // namespace persam

// Everything but the image encoder for one 1280 x 1280 (1.6 MP) target image,
// on a ViT-B-sized random model: location prior, target-guided attention,
// three decoder calls with postprocessing to the original size, boxes.
#include <memory>

#include "engine/sam_model.h"
#include "persam/personalizer.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

struct PipelineFixture {
  std::unique_ptr<SamModel> model;
  ImageEmbedding embedding;
  RgbImage mask;
  PipelineFixture() {
    const SamConfig config = SamVitBConfig();
    model = SamModel::FromTensors(MakeRandomSamTensors(config, 3), "random vit_b");
    embedding.orig_height = embedding.orig_width = 1280;
    embedding.input_height = embedding.input_width = 1024;
    embedding.data.resize(256 * 64 * 64);
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : embedding.data) v = normal(rng);
    mask.height = mask.width = 1280;
    mask.pixels.assign(1280 * 1280 * 3, 0);
    for (int y = 300; y < 900; ++y) {
      for (int x = 400; x < 1000; ++x) mask.pixels[(y * 1280 + x) * 3] = 128;
    }
  }
};

PipelineFixture& Pipeline() {
  static PipelineFixture fixture;
  return fixture;
}

void BM_Persam_TargetImageNoEncoder(benchmark::State& state) {
  PipelineFixture& f = Pipeline();
  PersonalizeOptions options;
  options.finetune = state.range(0) != 0;
  Personalizer personalizer(*f.model, options);
  personalizer.SetReference(f.embedding, f.mask, "bench mask");
  StageTimings totals;
  for (auto _ : state) {
    ImageOutcome out = personalizer.Segment(f.embedding);
    for (const auto& [name, seconds] : out.timings.entries()) totals.Add(name, seconds);
    benchmark::DoNotOptimize(out.mask_area);
  }
  for (const auto& [name, seconds] : totals.entries()) {
    state.counters[name + "_ms"] = 1e3 * seconds / static_cast<double>(state.iterations());
  }
}
BENCHMARK(BM_Persam_TargetImageNoEncoder)->ArgName("finetune")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Persam_LocationPrior(benchmark::State& state) {
  PipelineFixture& f = Pipeline();
  std::vector<float> feat(f.embedding.data.begin(), f.embedding.data.begin() + 256);
  for (auto _ : state) {
    std::vector<float> sim = SimilarityMap(f.embedding, feat);
    std::vector<float> attn = TargetGuidedAttention(sim, 1280, 1280);
    benchmark::DoNotOptimize(attn.data());
  }
}
BENCHMARK(BM_Persam_LocationPrior)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace persam

namespace persam {
namespace {
// Memory vs compute: the same pixel distribution (a chunk of the middle rows,
// tiled) L2-resident and at 1.6 MP (20 MB: L3, or DRAM when others evict it).
void BM_PersamF_LossPassTiled(benchmark::State& state) {
  const int64_t n = state.range(0), chunk = 65536;
  const TrainingData& data = Data();
  const int64_t plane = static_cast<int64_t>(data.target.size());
  const int64_t start = plane / 2 - chunk / 2;
  std::vector<float> logits(3 * n);
  std::vector<uint8_t> target(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t src = start + i % chunk;
    for (int k = 0; k < 3; ++k) logits[k * n + i] = data.logits[k * plane + src];
    target[i] = data.target[src];
  }
  const MaskMixtureProblem problem(logits.data(), target.data(), n);
  for (auto _ : state) {
    MaskLossValue value = EvaluateMaskLoss(problem, 0.3f, 0.4f);
    benchmark::DoNotOptimize(value);
  }
  state.counters["pixels/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PersamF_LossPassTiled)->Arg(65536)->Arg(1638400)->Unit(benchmark::kMicrosecond)->UseRealTime();
}  // namespace
}  // namespace persam
