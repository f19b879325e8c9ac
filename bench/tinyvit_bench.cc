// MobileSAM TinyViT image encoder at its real size (random weights, the
// official vit_t config), f32 and int8, with a FLOP/s counter and the peak
// RSS; and the whole PerSAM pipeline per target image with it (issue 6).
//
//   build/bench/persam_bench --benchmark_filter='encoder/vit_t|persam/vit_t'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// encoder/vit_t_layers{,_int8}: the same encode with the encoder's stage
// timings, summed per kind of layer over the stages (counters in ms per
// encode: patch_embed, mbconv.conv1, qkv, attention, mlp, ...), the table
// to look at before and after a change to one kind of layer.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/image_encoder.h"
#include "engine/sam_model.h"
#include "engine/timing.h"
#include "kernels/conv_rows.h"
#include "kernels/gemm.h"
#include "kernels/parallel.h"
#include "persam/personalizer.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

// Multiply-adds x 2 of the vit_t encoder at 1024 x 1024 (convs + Linear
// layers + attention), counted with forward hooks on the reference model.
constexpr double kVitTFlops = 75.0e9;

std::unique_ptr<ImageEncoder> MakeVitT(Precision precision) {
  const SamConfig config = MobileSamConfig();
  const TensorMap tensors = MakeRandomSamTensors(config, /*seed=*/1);
  // The float32 tensors are freed on return: only the packed weights remain.
  return MakeTinyVitEncoder(tensors, config, precision);
}

std::vector<float> RandomImage() {
  std::vector<float> input(3 * 1024 * 1024);
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : input) v = dist(rng);
  return input;
}

void EncoderVitT(benchmark::State& state, Precision precision) {
  const std::unique_ptr<ImageEncoder> encoder = MakeVitT(precision);
  const std::vector<float> input = RandomImage();
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

// "encoder.layers.2.mlp" -> "mlp", "encoder.layers.0.mbconv.conv1" ->
// "mbconv.conv1", "encoder.patch_embed" -> "patch_embed".
std::string LayerKind(const std::string& stage) {
  std::string s = stage.rfind("encoder.", 0) == 0 ? stage.substr(8) : stage;
  if (s.rfind("layers.", 0) == 0) {
    const size_t dot = s.find('.', 7);
    s = dot == std::string::npos ? s : s.substr(dot + 1);
  }
  return s;
}

void EncoderVitTLayers(benchmark::State& state, Precision precision) {
  const std::unique_ptr<ImageEncoder> encoder = MakeVitT(precision);
  const std::vector<float> input = RandomImage();
  std::vector<float> embedding(256 * 64 * 64);
  std::map<std::string, double> ms;
  for (auto _ : state) {
    StageTimings timings;
    encoder->Encode(input.data(), embedding.data(), &timings);
    benchmark::DoNotOptimize(embedding.data());
    for (const auto& [name, seconds] : timings.entries()) ms[LayerKind(name)] += 1e3 * seconds;
  }
  for (const auto& [kind, total] : ms) {
    state.counters[kind] = total / static_cast<double>(state.iterations());
  }
  state.SetLabel(std::string("ms per encode, ") + PrecisionName(precision));
}
void BM_EncoderVitTLayers(benchmark::State& state) { EncoderVitTLayers(state, Precision::kF32); }
void BM_EncoderVitTLayersInt8(benchmark::State& state) { EncoderVitTLayers(state, Precision::kInt8); }
BENCHMARK(BM_EncoderVitTLayers)->Name("encoder/vit_t_layers")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_EncoderVitTLayersInt8)->Name("encoder/vit_t_layers_int8")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// The MBConv depthwise 3x3 of vit_t's stage 0 on one band as the encoder
// runs it (18 input rows of 256 x 256 channels, 16 output rows, GELU), and
// PatchMerging's stride-2 one (256 -> 128 columns, 128 channels).
void BM_DepthwiseVitT(benchmark::State& state) {
  const int stride = static_cast<int>(state.range(0)), c = stride == 1 ? 256 : 128;
  const int w = 256, out_rows = stride == 1 ? 16 : 8, in_rows = out_rows * stride + 2;
  const std::vector<float> in = RandomImage();  // 3 M floats: >= in_rows * w * c
  std::vector<float> weight(static_cast<size_t>(c) * 9, 0.1f), bias(c, 0.01f);
  std::vector<float> out(static_cast<size_t>(out_rows) * w * c);
  for (auto _ : state) {
    kernels::DepthwiseConv3x3HwcRows(in.data(), 0, in_rows, w, c, stride, weight.data(),
                                     bias.data(), kernels::Epilogue::kGelu, 1, 1 + out_rows,
                                     out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_DepthwiseVitT)->Name("kernels/depthwise_vit_t")->Arg(1)->Arg(2)->UseRealTime();

// PerSAM on one 1024 x 768 target image with a random MobileSAM (vit_t)
// model, f32: preprocessing + TinyViT encoder + location prior + target-
// guided attention + the three decoder calls with postprocessing (issue 6's
// "whole PerSAM pipeline per target image", target <= 350 ms). The
// reference (image, mask) is set once outside the loop. Counters: the
// per-stage milliseconds of the last iteration ("encoder", "prior", ...).
void BM_PersamVitTTargetImage(benchmark::State& state) {
  const SamConfig config = MobileSamConfig();
  const std::unique_ptr<SamModel> model =
      SamModel::FromTensors(MakeRandomSamTensors(config, /*seed=*/1), "random vit_t");
  const int w = 1024, h = 768;
  auto random_image = [&](uint32_t seed) {
    RgbImage image;
    image.width = w;
    image.height = h;
    image.pixels.resize(static_cast<size_t>(w) * h * 3);
    std::mt19937 rng(seed);
    // Smooth gradients plus noise: closer to a photo than white noise.
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        for (int c = 0; c < 3; ++c) {
          const int v = (x * (c + 1) / 5 + y * (3 - c) / 4 + static_cast<int>(rng() % 32)) % 256;
          image.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(v);
        }
      }
    }
    return image;
  };
  RgbImage mask;
  mask.width = w;
  mask.height = h;
  mask.pixels.assign(static_cast<size_t>(w) * h * 3, 0);
  for (int y = 200; y < 560; ++y) {
    for (int x = 300; x < 700; ++x) mask.pixels[(static_cast<size_t>(y) * w + x) * 3] = 255;
  }
  Personalizer personalizer(*model, PersonalizeOptions());
  personalizer.SetReference(model->EncodeImage(random_image(11)), mask, "bench mask");
  const RgbImage target = random_image(12);
  StageTimings last;
  for (auto _ : state) {
    ImageOutcome out = personalizer.Segment(target);
    last = out.timings;
    benchmark::DoNotOptimize(out.mask_area);
  }
  for (const auto& [name, seconds] : last.entries()) state.counters[name + "_ms"] = 1e3 * seconds;
}
BENCHMARK(BM_PersamVitTTargetImage)->Name("persam/vit_t_target_image")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace persam
