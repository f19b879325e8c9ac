// `persam segment`: SAM with point / box / mask prompts on one image.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "engine/image.h"
#include "engine/sam_model.h"
#include "engine/timing.h"
#include "persam/outputs.h"
#include "tools/cli.h"
#include "engine/embedding_file.h"
#include "tools/print_timings.h"
#include "tools/precision_option.h"
#include "base/error.h"
#include "weights/json.h"
#include "weights/npy.h"

namespace persam::cli {
namespace {

// Comma-separated finite numbers; anything else is a usage error naming the
// option.
std::vector<double> ParseNumbers(const std::string& option, const std::string& text) {
  std::vector<double> values;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
      throw UsageError{"--" + option + " '" + text + "': '" + item + "' is not a finite number"};
    }
    values.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return values;
}

PointPrompt ParsePoint(const std::string& text, int height, int width) {
  const std::vector<double> v = ParseNumbers("point", text);
  if (v.size() != 2 && v.size() != 3) throw UsageError{"--point '" + text + "': expected X,Y or X,Y,LABEL"};
  PointPrompt p;
  p.x = v[0];
  p.y = v[1];
  if (v.size() == 3) {
    if (v[2] != 0.0 && v[2] != 1.0) {
      throw UsageError{"--point '" + text + "': LABEL must be 1 (foreground) or 0 (background)"};
    }
    p.label = static_cast<int>(v[2]);
  }
  if (p.x < 0 || p.x >= width || p.y < 0 || p.y >= height) {
    throw UsageError{"--point '" + text + "' is outside the " + std::to_string(width) + " x " +
                     std::to_string(height) + " image"};
  }
  return p;
}

BoxPrompt ParseBox(const std::string& text, int height, int width) {
  const std::vector<double> v = ParseNumbers("box", text);
  if (v.size() != 4) throw UsageError{"--box '" + text + "': expected X0,Y0,X1,Y1"};
  const BoxPrompt b{v[0], v[1], v[2], v[3]};
  if (b.x1 < b.x0 || b.y1 < b.y0) throw UsageError{"--box '" + text + "': needs X0 <= X1 and Y0 <= Y1"};
  if (b.x0 < 0 || b.y0 < 0 || b.x1 > width || b.y1 > height) {
    throw UsageError{"--box '" + text + "' is outside the " + std::to_string(width) + " x " +
                     std::to_string(height) + " image"};
  }
  return b;
}

// LOWRES.npy[:INDEX]: one 256 x 256 map of a (256, 256), (C, 256, 256) or
// (1, C, 256, 256) array.
std::vector<float> ReadMaskInput(const std::string& spec, int size) {
  std::string path = spec;
  int64_t index = 0;
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon + 1 < spec.size() &&
      spec.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
    path = spec.substr(0, colon);
    index = std::strtoll(spec.c_str() + colon + 1, nullptr, 10);
  }
  const Tensor t = ReadNpy(path);
  std::vector<int64_t> s = t.shape;
  if (s.size() == 4 && s[0] == 1) s.erase(s.begin());
  if (s.size() == 2) s.insert(s.begin(), 1);
  if (s.size() != 3 || s[1] != size || s[2] != size) {
    throw Error("--mask-input '" + path + "' has shape " + ShapeToString(t.shape) + ", expected (C, " +
                std::to_string(size) + ", " + std::to_string(size) + ") low-res logits");
  }
  if (index < 0 || index >= s[0]) {
    throw Error("--mask-input '" + spec + "': index " + std::to_string(index) + " out of range (the file has " +
                std::to_string(s[0]) + " maps)");
  }
  const std::vector<float> all = t.ToFloat32();
  const size_t plane = static_cast<size_t>(size) * size;
  return std::vector<float>(all.begin() + index * plane, all.begin() + (index + 1) * plane);
}

// The image with each mask tinted, the prompt points (green foreground, red
// background, white rim) and the box (blue).
RgbImage Overlay(const RgbImage& image, const Prediction& pred, const Prompt& prompt) {
  static const uint8_t kTint[][3] = {{30, 144, 255}, {255, 165, 0}, {186, 85, 211}, {0, 206, 209}};
  RgbImage out = image;
  const size_t plane = static_cast<size_t>(image.height) * image.width;
  for (int m = 0; m < pred.num_masks; ++m) {
    const uint8_t* tint = kTint[m % 4];
    const float* logits = pred.high_res.data() + m * plane;
    for (size_t i = 0; i < plane; ++i) {
      if (logits[i] <= 0.0f) continue;
      for (int c = 0; c < 3; ++c) out.pixels[i * 3 + c] = static_cast<uint8_t>((out.pixels[i * 3 + c] + tint[c]) / 2);
    }
  }
  auto put = [&](int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    if (x < 0 || y < 0 || x >= out.width || y >= out.height) return;
    uint8_t* p = out.pixels.data() + (static_cast<size_t>(y) * out.width + x) * 3;
    p[0] = r;
    p[1] = g;
    p[2] = b;
  };
  const int thick = std::max(1, std::min(image.height, image.width) / 300);
  if (prompt.box) {
    const auto& b = *prompt.box;
    const int x0 = static_cast<int>(b.x0), y0 = static_cast<int>(b.y0);
    const int x1 = static_cast<int>(b.x1), y1 = static_cast<int>(b.y1);
    for (int k = 0; k < thick; ++k) {
      for (int x = x0; x <= x1; ++x) {
        put(x, y0 + k, 0, 0, 255);
        put(x, y1 - k, 0, 0, 255);
      }
      for (int y = y0; y <= y1; ++y) {
        put(x0 + k, y, 0, 0, 255);
        put(x1 - k, y, 0, 0, 255);
      }
    }
  }
  const int radius = std::max(3, std::min(image.height, image.width) / 80);
  for (const PointPrompt& p : prompt.points) {
    const int cx = static_cast<int>(p.x), cy = static_cast<int>(p.y);
    for (int dy = -radius - thick; dy <= radius + thick; ++dy) {
      for (int dx = -radius - thick; dx <= radius + thick; ++dx) {
        const int r2 = dx * dx + dy * dy;
        if (r2 <= radius * radius) {
          put(cx + dx, cy + dy, p.label ? 0 : 255, p.label ? 255 : 0, 0);
        } else if (r2 <= (radius + thick) * (radius + thick)) {
          put(cx + dx, cy + dy, 255, 255, 255);
        }
      }
    }
  }
  return out;
}

int RunSegment(const Args& args) {
  const std::string model_path = args.Required("model");
  const std::string image_path = args.Required("image");
  const std::string out_dir = args.Required("out");
  const LoadOptions load_options = ModelLoadOptions(args);
  StageTimings timings;
  RgbImage image;
  {
    ScopedStage stage(&timings, "load_image");
    image = LoadImage(image_path);
  }
  // Validate the prompt before the (slow) model load.
  Prompt prompt;
  for (const std::string& p : args.Values("point")) prompt.points.push_back(ParsePoint(p, image.height, image.width));
  if (auto box = args.Value("box")) prompt.box = ParseBox(*box, image.height, image.width);
  prompt.multimask = args.Flag("multimask");
  std::vector<float> mask_input;
  const auto mask_spec = args.Value("mask-input");
  if (prompt.points.empty() && !prompt.box && !mask_spec) {
    throw UsageError{"give at least one --point, a --box or a --mask-input"};
  }

  std::unique_ptr<SamModel> model;
  {
    ScopedStage stage(&timings, "load_model");
    model = SamModel::Load(model_path, load_options);
  }
  const int low = 4 * model->config().embed_grid;
  if (mask_spec) {
    mask_input = ReadMaskInput(*mask_spec, low);
    prompt.mask_input = mask_input.data();
  }
  Predictor predictor(*model);
  if (auto emb = args.Value("embedding")) {
    ScopedStage stage(&timings, "load_embedding");
    std::string unchecked;
    predictor.SetEmbedding(
        ReadEmbeddingFile(*emb, model->config(), image.height, image.width, model->identity(), &unchecked));
    if (!unchecked.empty()) std::fprintf(stderr, "warning: %s\n", unchecked.c_str());
  } else {
    predictor.SetImage(image);
  }
  const Prediction pred = predictor.Predict(prompt);
  for (const auto& [stage, seconds] : predictor.timings().entries()) timings.Add(stage, seconds);

  const bool save_logits = args.Flag("save-logits");
  {
    ScopedStage stage(&timings, "write");
    MakeOutputDirectory(out_dir);
    const size_t plane = static_cast<size_t>(pred.height) * pred.width;
    std::vector<uint8_t> mask(plane);
    for (int m = 0; m < pred.num_masks; ++m) {
      const float* h = pred.high_res.data() + m * plane;
      for (size_t i = 0; i < plane; ++i) mask[i] = h[i] > 0.0f ? 255 : 0;
      SaveGrayPng(out_dir + "/mask_" + std::to_string(m) + ".png", pred.height, pred.width, mask.data());
    }
    WriteNpyFloat32(out_dir + "/low_res.npy", {pred.num_masks, low, low}, pred.low_res.data());
    if (save_logits) {
      WriteNpyFloat32(out_dir + "/high_res.npy", {pred.num_masks, pred.height, pred.width}, pred.high_res.data());
    }
    std::vector<JsonValue> scores;
    for (float s : pred.scores) scores.push_back(JsonValue::Number(s));
    std::ofstream json(out_dir + "/scores.json");
    json << WriteJson(JsonValue::Object({{"scores", JsonValue::Array(scores)}})) << "\n";
    if (!json) throw Error("cannot write '" + out_dir + "/scores.json'");
    SavePng(out_dir + "/overlay.png", Overlay(image, pred, prompt));
  }
  for (int m = 0; m < pred.num_masks; ++m) {
    const size_t plane = static_cast<size_t>(pred.height) * pred.width;
    const float* h = pred.high_res.data() + m * plane;
    const size_t area = static_cast<size_t>(std::count_if(h, h + plane, [](float v) { return v > 0.0f; }));
    Say(args, "mask %d: score %.4f, area %zu px (%.1f%%)\n", m, pred.scores[m], area, 100.0 * area / plane);
  }
  Say(args, "wrote %s/{mask_*.png,low_res.npy,%sscores.json,overlay.png}\n", out_dir.c_str(),
      save_logits ? "high_res.npy," : "");
  if (args.verbose()) {
    Say(args, "image encoder precision: %s\n", PrecisionName(model->precision()));
    PrintTimings(args, timings);
  }
  return 0;
}

}  // namespace

extern const Command kSegmentCommand = {
    "segment",
    "segment an image from point / box / mask prompts",
    "usage: persam segment --model MODEL --image IMAGE [--point X,Y[,LABEL]]...\n"
    "                      [--box X0,Y0,X1,Y1] [--mask-input LOWRES.npy[:INDEX]]\n"
    "                      [--multimask] [--embedding EMB.npy] [--save-logits] --out DIR\n"
    "\n"
    "Coordinates are in original image pixels (fractional allowed). LABEL is 1\n"
    "(foreground, default) or 0 (background). --mask-input takes low-res logits\n"
    "(C x 256 x 256, e.g. a previous low_res.npy) and map INDEX (default 0).\n"
    "--multimask returns SAM's three candidate masks instead of one.\n"
    "--embedding reuses the output of 'persam embed' for this image.\n"
    "\n"
    "Writes DIR/mask_K.png (0/255), DIR/low_res.npy (C x 256 x 256 logits),\n"
    "DIR/scores.json ({\"scores\": [...]}), DIR/overlay.png and, with\n"
    "--save-logits, DIR/high_res.npy (C x H x W logits).\n"
    PERSAM_PRECISION_HELP
    "  --verbose      per-stage timings\n",
    {"model", "image", "point", "box", "mask-input", "embedding", "out", kPrecisionOptionName},
    {"multimask", "save-logits"},
    RunSegment,
};

}  // namespace persam::cli
