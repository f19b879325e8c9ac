// `persam find` past the encoder, with a MobileSAM-shaped random model (the
// issue's budget: <= 60 ms per image for one instance, <= 25 ms per further
// instance, >= 20 images/s over a 100-image folder with the cache warm):
//   find/one/<kind>/<size>        Finder::Find, one instance (similarity,
//                                 gate, the PerSAM / PerSAM-F cascade)
//   find/three/<kind>/<size>      three instances (overlap and gate off):
//                                 per further instance = (three - one) / 2
//   find/outputs/<size>           WriteFindOutputs of a one-instance result
//                                 (label, mask PNG, overlay JPEG)
//   find/folder_warm/<size>       RunFindOverTargets (what the CLI runs) over
//                                 100 PNG photos whose embeddings are cached:
//                                 decode, hash, cache read, find, outputs
// Photos are synthetic (a gradient, noise and textured disks: PNG sizes like
// a photo's), the concept learned from one of them.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/process_cpu.h"
#include "concepts/embedding_cache.h"
#include "concepts/find_run.h"
#include "concepts/finder.h"
#include "concepts/learn.h"
#include "engine/image.h"
#include "engine/sam_model.h"
#include "engine/timing.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {
namespace fs = std::filesystem;

RgbImage Photo(int width, int height, const std::vector<std::pair<int, int>>& centres, int seed,
               RgbImage* mask = nullptr) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<size_t>(width) * height * 3);
  if (mask) {
    *mask = image;
    std::fill(mask->pixels.begin(), mask->pixels.end(), 0);
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 12);
  const int r = height / 6;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &image.pixels[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(40 + 120 * x / width + noise(rng));
      p[1] = static_cast<uint8_t>(90 + 80 * y / height + noise(rng));
      p[2] = static_cast<uint8_t>(150 + noise(rng));
      for (auto [cx, cy] : centres) {
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) {
          p[0] = static_cast<uint8_t>(230 - ((x + y) % 7) * 10);
          p[1] = static_cast<uint8_t>(40 + ((x * y) % 5) * 12);
          p[2] = 30;
          if (mask) mask->pixels[(static_cast<size_t>(y) * width + x) * 3] = 128;
        }
      }
    }
  }
  return image;
}

const SamModel& Model() {
  static const std::unique_ptr<SamModel> model =
      SamModel::FromTensors(MakeRandomSamTensors(MobileSamConfig(), 3), "random MobileSAM weights");
  return *model;
}

struct Setup {
  std::string dir;
  Concept concepts[2];  // PerSAM, PerSAM-F
  ImageEmbedding embedding;
  RgbImage target;
};

// Per image size, made once: the concept learned from a photo with one
// disk, the embedding of a photo with three.
const Setup& SetupFor(int width, int height) {
  static std::map<std::pair<int, int>, std::unique_ptr<Setup>> setups;
  auto& slot = setups[{width, height}];
  if (slot) return *slot;
  slot = std::make_unique<Setup>();
  Setup& s = *slot;
  s.dir = (fs::temp_directory_path() / ("persam_find_bench_" + std::to_string(width) + "x" + std::to_string(height)))
              .string();
  fs::remove_all(s.dir);
  fs::create_directories(s.dir);
  RgbImage mask;
  SavePng(s.dir + "/ref.png", Photo(width, height, {{width / 3, height / 2}}, 1, &mask));
  SavePng(s.dir + "/ref_mask.png", mask);
  for (int k = 0; k < 2; ++k) {
    PersonalizeOptions options;
    options.finetune = k == 1;
    s.concepts[k] = LearnConcept(Model(), ConceptModelIdentity{}, {{s.dir + "/ref.png", s.dir + "/ref_mask.png"}},
                                 options)
                        .learned;
  }
  s.target = Photo(width, height, {{width / 4, height / 3}, {width / 2, 2 * height / 3}, {3 * width / 4, height / 3}}, 2);
  s.embedding = Model().EncodeImage(s.target, nullptr);
  return s;
}

void BM_Find(benchmark::State& state, int instances, int kind) {
  const Setup& s = SetupFor(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  const Finder finder(Model(), s.concepts[kind]);
  FindOptions options;
  options.max_instances = instances;
  options.min_similarity = -1e9;  // the gate never stops it
  options.max_overlap = 1.0;      // nor the overlap rule
  size_t found = 0;
  StageTimings stages;
  double cpu = 0;
  for (auto _ : state) {
    const double c0 = ProcessCpuSeconds();
    const FindResult result = finder.Find(s.embedding, options);
    cpu += ProcessCpuSeconds() - c0;
    found = result.instances.size();
    for (const auto& [name, seconds] : result.timings.entries()) stages.Add(name, seconds);
    benchmark::DoNotOptimize(result.labels.data());
  }
  state.counters["instances"] = static_cast<double>(found);
  // Process CPU time per image (every thread): comparable on a shared machine.
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3 / state.iterations());
  // Where the time goes (wall ms per image): similarity, prior, decoder/...
  for (const auto& [name, seconds] : stages.entries()) {
    state.counters[name + "_ms"] = benchmark::Counter(seconds * 1e3 / state.iterations());
  }
}
BENCHMARK_CAPTURE(BM_Find, one_persam, 1, 0)->Name("find/one/persam")->Args({640, 480})->Args({1280, 960})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Find, one_persam_f, 1, 1)->Name("find/one/persam_f")->Args({640, 480})->Args({1280, 960})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Find, three_persam, 3, 0)->Name("find/three/persam")->Args({640, 480})->Args({1280, 960})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Find, three_persam_f, 3, 1)->Name("find/three/persam_f")->Args({640, 480})->Args({1280, 960})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FindOutputs(benchmark::State& state) {
  const Setup& s = SetupFor(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  const Finder finder(Model(), s.concepts[0]);
  FindOptions options;
  options.min_similarity = -1e9;
  const FindResult result = finder.Find(s.embedding, options);
  const std::string out = s.dir + "/outputs";
  fs::create_directories(out);
  const TargetImage target{s.dir + "/target.png", "target"};
  for (auto _ : state) {
    benchmark::DoNotOptimize(WriteFindOutputs(out, target, s.target, result, FindOutputOptions{}));
  }
}
BENCHMARK(BM_FindOutputs)->Name("find/outputs")->Args({640, 480})->Args({1280, 960})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FindFolderWarm(benchmark::State& state) {
  const int width = static_cast<int>(state.range(0)), height = static_cast<int>(state.range(1));
  const Setup& s = SetupFor(width, height);
  const std::string folder = s.dir + "/folder", cache_dir = s.dir + "/cache";
  EmbeddingCache cache(cache_dir, ConceptModelIdentity{"bench", "0", "f32", ""}, Model().config(), Model().identity());
  std::vector<TargetImage> targets;
  if (!fs::exists(folder)) {
    fs::create_directories(folder);
    for (int i = 0; i < 100; ++i) {
      const std::string path = folder + "/" + std::to_string(1000 + i) + ".png";
      SavePng(path, Photo(width, height, {{width / 4 + i, height / 3}, {width / 2, 2 * height / 3 - i}}, 10 + i));
    }
  }
  for (int i = 0; i < 100; ++i) {
    const std::string path = folder + "/" + std::to_string(1000 + i) + ".png";
    targets.push_back({path, std::to_string(1000 + i)});
    // Warm: every photo's entry present (the embedding's values do not
    // change the work past the encoder).
    cache.Store(cache.Key(path), s.embedding);
  }
  const Finder finder(Model(), s.concepts[0]);
  FindRunOptions options;
  const std::string out = s.dir + "/found";
  fs::create_directories(out);
  int cached = 0;
  double cpu = 0;
  for (auto _ : state) {
    const double c0 = ProcessCpuSeconds();
    const FindRunSummary summary = RunFindOverTargets(Model(), finder, &cache, targets, out, options);
    cpu += ProcessCpuSeconds() - c0;
    cached = summary.cached;
  }
  state.counters["cached"] = cached;
  // Images per second of process CPU time (every thread).
  state.counters["images_per_cpu_s"] = 100.0 * state.iterations() / cpu;
  state.counters["images/s"] = benchmark::Counter(100.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FindFolderWarm)->Name("find/folder_warm")->Args({640, 480})->Args({1280, 960})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
}  // namespace persam
