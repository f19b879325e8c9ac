// Writing PNGs: the overlay of a 2048 x 1365 photo (issue 16: over a second
// with stb_image_write; target <= 100 ms) and a 0/255 mask of that size, as
// our encoder (engine/image_png_encode.cc) writes them and as stb did (the
// "before"); BM_SegmentOverlayFile is `persam segment`'s whole overlay step
// (three masks drawn, legend, encoded, written to a file). Counter `bytes`
// is the file size. The photo is the fixtures' 2048 x 1400 sneaker
// (PERSAM_FIXTURES or ../shared/fixtures) cropped to 1365 rows, else a
// synthetic gradient with noise (compresses differently: say which).
#include <benchmark/benchmark.h>
#include <stb_image_write.h>  // implemented in engine/stb_impl.cc (the "before")

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/image.h"
#include "tools/segment_overlay.h"

namespace persam {
namespace {

constexpr int kHeight = 1365, kWidth = 2048;

// The photo with an ellipse tinted as tools/cmd_segment.cc's overlay tints a mask.
struct Scene {
  RgbImage overlay;
  std::vector<uint8_t> mask;  // 0/255
  bool real_photo = false;
  Scene() {
    const char* env = std::getenv("PERSAM_FIXTURES");
    const std::string dir = env ? env : std::string(PERSAM_SOURCE_DIR) + "/../shared/fixtures";
    try {
      overlay = LoadImage(dir + "/perseg-mini/Images/colorful_sneaker/01.png");
      real_photo = overlay.width == kWidth && overlay.height >= kHeight;
    } catch (...) {
    }
    if (!real_photo) {
      overlay.width = kWidth;
      overlay.height = kHeight;
      overlay.pixels.resize(size_t(kWidth) * kHeight * 3);
      std::mt19937 rng(1);
      for (size_t i = 0; i < overlay.pixels.size(); ++i) {
        const size_t p = i / 3;
        overlay.pixels[i] = static_cast<uint8_t>(128 + 60 * std::sin(0.004 * (p % kWidth) + i % 3) +
                                                 30 * std::cos(0.003 * (p / kWidth)) + rng() % 9);
      }
    }
    overlay.height = kHeight;
    overlay.pixels.resize(size_t(kWidth) * kHeight * 3);
    mask.resize(size_t(kWidth) * kHeight);
    const uint8_t tint[3] = {30, 144, 255};
    for (int y = 0; y < kHeight; ++y) {
      for (int x = 0; x < kWidth; ++x) {
        const double dx = (x - 1000) / 600.0, dy = (y - 700) / 400.0;
        const bool in = dx * dx + dy * dy < 1.0;
        mask[size_t(y) * kWidth + x] = in ? 255 : 0;
        uint8_t* p = &overlay.pixels[(size_t(y) * kWidth + x) * 3];
        for (int c = 0; c < 3 && in; ++c) p[c] = static_cast<uint8_t>((p[c] + tint[c]) / 2);
      }
    }
  }
};

const Scene& GetScene() {
  static const Scene scene;
  return scene;
}

void Report(benchmark::State& state, size_t bytes) {
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetLabel(GetScene().real_photo ? "fixture photo" : "synthetic image");
}

void StbAppend(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

void BM_OverlayPng(benchmark::State& state) {
  const RgbImage& image = GetScene().overlay;
  size_t bytes = 0;
  for (auto _ : state) bytes = EncodePng(image).size();
  Report(state, bytes);
}
BENCHMARK(BM_OverlayPng)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

void BM_OverlayPngStb(benchmark::State& state) {
  const RgbImage& image = GetScene().overlay;
  size_t bytes = 0;
  for (auto _ : state) {
    std::vector<uint8_t> png;
    stbi_write_png_to_func(&StbAppend, &png, image.width, image.height, 3, image.pixels.data(), image.width * 3);
    bytes = png.size();
  }
  Report(state, bytes);
}
BENCHMARK(BM_OverlayPngStb)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

// The photo (untinted) with three nested elliptic masks as SAM's multimask
// output, drawn and saved as cmd_segment.cc does.
void BM_SegmentOverlayFile(benchmark::State& state) {
  const RgbImage& photo = GetScene().overlay;
  std::vector<Prediction> preds(1);
  Prediction& pred = preds[0];
  pred.num_masks = 3;
  pred.height = kHeight;
  pred.width = kWidth;
  pred.scores = {0.91f, 0.87f, 0.62f};
  const size_t plane = size_t(kHeight) * kWidth;
  pred.high_res.resize(3 * plane);
  for (int m = 0; m < 3; ++m) {
    for (size_t i = 0; i < plane; ++i) {
      const double dx = (double(i % kWidth) - 1000) / (300.0 + 150 * m), dy = (double(i / kWidth) - 700) / (200.0 + 100 * m);
      pred.high_res[m * plane + i] = static_cast<float>(1.0 - dx * dx - dy * dy);
    }
  }
  const std::vector<std::optional<BoxPrompt>> boxes = {std::nullopt};
  const std::vector<cli::LegendRow> legend = {{"0", 0.91f}, {"1", 0.87f}, {"2", 0.62f}};
  const std::string path = (std::filesystem::temp_directory_path() / "persam_bench_overlay.png").string();
  for (auto _ : state) {
    // persam segment moves its photo in; a fresh copy here, untimed.
    state.PauseTiming();
    RgbImage image = photo;
    state.ResumeTiming();
    const RgbImage overlay = cli::RenderSegmentOverlay(std::move(image), preds, boxes, {{1000, 700, 1}}, legend);
    SavePng(path, overlay);
  }
  Report(state, std::filesystem::file_size(path));
  std::filesystem::remove(path);
}
BENCHMARK(BM_SegmentOverlayFile)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

void BM_MaskPngGrey8(benchmark::State& state) {
  size_t bytes = 0;
  for (auto _ : state) bytes = EncodeGrayPng(kHeight, kWidth, GetScene().mask.data()).size();
  Report(state, bytes);
}
BENCHMARK(BM_MaskPngGrey8)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

void BM_MaskPngOneBit(benchmark::State& state) {
  size_t bytes = 0;
  for (auto _ : state) bytes = EncodeBinaryMaskPng(kHeight, kWidth, GetScene().mask.data()).size();
  Report(state, bytes);
}
BENCHMARK(BM_MaskPngOneBit)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

void BM_MaskPngStb(benchmark::State& state) {
  size_t bytes = 0;
  for (auto _ : state) {
    std::vector<uint8_t> png;
    stbi_write_png_to_func(&StbAppend, &png, kWidth, kHeight, 1, GetScene().mask.data(), kWidth);
    bytes = png.size();
  }
  Report(state, bytes);
}
BENCHMARK(BM_MaskPngStb)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

}  // namespace
}  // namespace persam
