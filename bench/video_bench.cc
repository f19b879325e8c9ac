// video/frame: one 854 x 480 DAVIS frame with 2 objects through video PerSAM
// (reference mode): the frame's encoder pass (MobileSAM or ViT-B-size random
// model) and everything after it (per object: prior, top-k, box, three
// decoder calls with full-size maps; fusion and box update). The decoder is
// the same for every model, so the per-object cost does not depend on it.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <random>

#include "bench/process_cpu.h"
#include "engine/sam_model.h"
#include "video/video_segmenter.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

constexpr int kHeight = 480, kWidth = 854;

RgbImage Frame(int seed) {
  RgbImage im;
  im.height = kHeight, im.width = kWidth;
  std::mt19937 rng(seed);
  for (int i = 0; i < kHeight * kWidth * 3; ++i) im.pixels.push_back(static_cast<uint8_t>(rng() & 255));
  return im;
}

LabelMap TwoObjects() {
  LabelMap m;
  m.height = kHeight, m.width = kWidth;
  m.ids.assign(kHeight * kWidth, 0);
  for (int y = 100; y < 300; ++y) {
    for (int x = 100; x < 300; ++x) m.ids[y * kWidth + x] = 1;
    for (int x = 500; x < 750; ++x) m.ids[y * kWidth + x] = 2;
  }
  return m;
}

// Arg 0: MobileSAM, 1: ViT-B. Counters: encoder_ms and per_object_ms (the
// rest of the frame divided by the objects; per_object_cpu_ms the same in
// process CPU time), fps for the whole frame.
void BM_Video_Frame(benchmark::State& state) {
  const SamConfig config = state.range(0) == 0 ? MobileSamConfig() : SamVitBConfig();
  const std::unique_ptr<SamModel> model = SamModel::FromTensors(MakeRandomSamTensors(config, 3), "random");
  VideoOptions options;
  options.mode = VideoMode::kCorrected;  // random weights: empty masks fall back instead of stopping
  VideoSegmenter segmenter(*model, options);
  const LabelMap first = TwoObjects();
  segmenter.Start(model->EncodeImage(Frame(0)), first);
  const RgbImage frame = Frame(1);
  double encoder = 0, rest = 0, rest_cpu = 0;
  for (auto _ : state) {
    segmenter.SetBoxesFrom(first);
    const auto t0 = std::chrono::steady_clock::now();
    const ImageEmbedding e = model->EncodeImage(frame);
    const auto t1 = std::chrono::steady_clock::now();
    const double c1 = ProcessCpuSeconds();
    VideoFrameResult r = segmenter.Segment(e, 1);
    rest_cpu += ProcessCpuSeconds() - c1;
    const auto t2 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(r.labels.ids.data());
    encoder += std::chrono::duration<double>(t1 - t0).count();
    rest += std::chrono::duration<double>(t2 - t1).count();
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["encoder_ms"] = 1e3 * encoder / n;
  state.counters["per_object_ms"] = 1e3 * rest / n / 2;
  // CPU time of every thread (a shared machine stretches the wall time).
  state.counters["per_object_cpu_ms"] = 1e3 * rest_cpu / n / 2;
  state.counters["fps"] = n / (encoder + rest);
  state.SetLabel(state.range(0) == 0 ? "MobileSAM" : "ViT-B");
}
BENCHMARK(BM_Video_Frame)->Name("video/frame")->Arg(0)->Arg(1)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace persam
