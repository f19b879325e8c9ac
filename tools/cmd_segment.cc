// `persam segment`: SAM with point / box / mask prompts on one image.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/image.h"
#include "engine/sam_model.h"
#include "engine/timing.h"
#include "persam/outputs.h"
#include "tools/cli.h"
#include "engine/embedding_file.h"
#include "tools/print_timings.h"
#include "tools/precision_option.h"
#include "tools/segment_overlay.h"
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

// "mask_*.png" that this run does not write: a mask file of an earlier run
// (another prompt count, or a box batch of another size).
bool IsMaskFileOfEarlierRun(const std::string& name, const std::set<std::string>& written) {
  const std::string prefix = "mask_", suffix = ".png";
  return name.size() > prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 && written.count(name) == 0;
}

int RunSegment(const Args& args) {
  const std::string model_path = args.Required("model");
  const std::string image_path = args.Required("image");
  const std::string out_dir = args.Required("out");
  LoadOptions load_options = ModelLoadOptions(args);
  // Only an --embedding is compared with the model's identity (its hash is
  // ~5 % of a load).
  load_options.identity = args.Value("embedding").has_value();
  StageTimings timings;
  RgbImage image;
  // Kept to decode the photo again for the overlay: its pixels (8 MiB for
  // 2048 x 1365) are freed during the encoder, whose peak is the command's.
  std::vector<uint8_t> image_file;
  {
    ScopedStage stage(&timings, "load_image");
    image_file = ReadImageFile(image_path);
    image = DecodeImage(image_file.data(), image_file.size(), image_path);
  }
  // Validate the prompt before the (slow) model load.
  Prompt prompt;
  for (const std::string& p : args.Values("point")) prompt.points.push_back(ParsePoint(p, image.height, image.width));
  // Several --box are a batch, as SamPredictor.predict_torch with B boxes:
  // one prediction per box, each with the same points and mask input.
  std::vector<BoxPrompt> boxes;
  for (const std::string& b : args.Values("box")) boxes.push_back(ParseBox(b, image.height, image.width));
  const bool batch = boxes.size() > 1;
  if (boxes.size() == 1) prompt.box = boxes[0];
  prompt.multimask = args.Flag("multimask");
  std::vector<float> mask_input;
  const auto mask_spec = args.Value("mask-input");
  if (prompt.points.empty() && boxes.empty() && !mask_spec) {
    throw UsageError{"give at least one --point, a --box or a --mask-input"};
  }

  CheckOutputDirectory(out_dir, "--out");
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
  // Peak RSS (issue 21, MobileSAM on small boards): each stage's buffers go
  // as soon as the next stage starts, e.g. the encoder's scratch before the
  // decoder runs, the whole model before the outputs are drawn and encoded.
  std::optional<Predictor> owned_predictor(std::in_place, *model);
  Predictor& predictor = *owned_predictor;
  if (auto emb = args.Value("embedding")) {
    ScopedStage stage(&timings, "load_embedding");
    std::string unchecked;
    predictor.SetEmbedding(
        ReadEmbeddingFile(*emb, model->config(), image.height, image.width, model->identity(), &unchecked));
    if (!unchecked.empty()) std::fprintf(stderr, "warning: %s\n", unchecked.c_str());
  } else {
    predictor.SetImageConsuming(std::move(image));
    model->ReleaseEncoderScratch();
  }
  std::vector<Prediction> preds;
  std::vector<std::optional<BoxPrompt>> pred_boxes;
  if (batch) {
    for (const BoxPrompt& box : boxes) {
      Prompt one = prompt;
      one.box = box;
      preds.push_back(predictor.Predict(one));
      pred_boxes.push_back(box);
    }
  } else {
    preds.push_back(predictor.Predict(prompt));
    pred_boxes.push_back(prompt.box);
  }
  for (const auto& [stage, seconds] : predictor.timings().entries()) timings.Add(stage, seconds);
  const Precision precision = model->precision();
  owned_predictor.reset();
  model.reset();
  const int num_masks = preds[0].num_masks;
  const size_t plane = static_cast<size_t>(preds[0].height) * preds[0].width;
  // File names and legend labels: mask_K (one prompt) or mask_B_K (box B of a batch).
  auto mask_label = [&](size_t b, int m) {
    return batch ? std::to_string(b) + "_" + std::to_string(m) : std::to_string(m);
  };

  const bool save_logits = args.Flag("save-logits");
  {
    // The overlay timed on its own: issue 16's budget for a 2048 x 1365 photo
    // is 100 ms (drawing + PNG encoding + writing).
    std::optional<ScopedStage> stage;
    stage.emplace(&timings, "write");
    MakeOutputDirectory(out_dir);
    std::set<std::string> mask_names;
    for (size_t b = 0; b < preds.size(); ++b) {
      for (int m = 0; m < preds[b].num_masks; ++m) mask_names.insert("mask_" + mask_label(b, m) + ".png");
    }
    // The folder holds this run's outputs only: masks of an earlier run, or
    // logits this run did not save, would read as this run's.
    RemoveStaleOutputs(out_dir, [&](const std::string& name) {
      return (name == "high_res.npy" && !save_logits) || IsMaskFileOfEarlierRun(name, mask_names);
    });
    std::vector<uint8_t> mask(plane);
    std::vector<LegendRow> legend;
    std::vector<float> low_all, high_all;
    std::vector<JsonValue> scores;
    for (size_t b = 0; b < preds.size(); ++b) {
      const Prediction& pred = preds[b];
      std::vector<JsonValue> box_scores;
      for (int m = 0; m < pred.num_masks; ++m) {
        const float* h = pred.high_res.data() + m * plane;
        for (size_t i = 0; i < plane; ++i) mask[i] = h[i] > 0.0f ? 255 : 0;
        WriteAtomically(out_dir + "/mask_" + mask_label(b, m) + ".png", [&](const std::string& temp) {
          SaveGrayPng(temp, pred.height, pred.width, mask.data());
        });
        legend.push_back({batch ? std::to_string(b) + "/" + std::to_string(m) : std::to_string(m), pred.scores[m]});
        box_scores.push_back(JsonValue::Number(pred.scores[m]));
      }
      if (batch) {
        scores.push_back(JsonValue::Array(std::move(box_scores)));
      } else {
        scores = std::move(box_scores);
      }
      low_all.insert(low_all.end(), pred.low_res.begin(), pred.low_res.end());
      if (save_logits) high_all.insert(high_all.end(), pred.high_res.begin(), pred.high_res.end());
    }
    // (C, ...) for one prompt as SamPredictor.predict, (B, C, ...) for a box
    // batch as predict_torch.
    std::vector<int64_t> lead = {num_masks};
    if (batch) lead.insert(lead.begin(), static_cast<int64_t>(preds.size()));
    auto shape = [&](int64_t h, int64_t w) {
      std::vector<int64_t> s = lead;
      s.push_back(h);
      s.push_back(w);
      return s;
    };
    WriteNpyFloat32(out_dir + "/low_res.npy", shape(low, low), low_all.data());
    if (save_logits) WriteNpyFloat32(out_dir + "/high_res.npy", shape(preds[0].height, preds[0].width), high_all.data());
    std::vector<std::pair<std::string, JsonValue>> doc = {{"scores", JsonValue::Array(scores)}};
    if (batch) {
      std::vector<JsonValue> box_list;
      for (const BoxPrompt& box : boxes) {
        box_list.push_back(JsonValue::Array({JsonValue::Number(box.x0), JsonValue::Number(box.y0),
                                             JsonValue::Number(box.x1), JsonValue::Number(box.y1)}));
      }
      doc.emplace_back("boxes", JsonValue::Array(std::move(box_list)));
    }
    WriteFileAtomically(out_dir + "/scores.json", WriteJson(JsonValue::Object(std::move(doc))) + "\n");
    if (image.pixels.empty()) {
      stage.emplace(&timings, "load_image");
      image = DecodeImage(image_file.data(), image_file.size(), image_path);
    }
    std::vector<uint8_t>().swap(image_file);
    stage.emplace(&timings, "write_overlay");
    // The photo is not needed after this: drawn on in place.
    const RgbImage overlay = RenderSegmentOverlay(std::move(image), preds, pred_boxes, prompt.points, legend);
    WriteAtomically(out_dir + "/overlay.png", [&](const std::string& temp) { SavePng(temp, overlay); });
  }
  for (size_t b = 0; b < preds.size(); ++b) {
    for (int m = 0; m < preds[b].num_masks; ++m) {
      const float* h = preds[b].high_res.data() + m * plane;
      const size_t area = static_cast<size_t>(std::count_if(h, h + plane, [](float v) { return v > 0.0f; }));
      Say(args, "mask %s: score %.4f, area %zu px (%.1f%%)\n", mask_label(b, m).c_str(), preds[b].scores[m], area,
          100.0 * area / plane);
    }
  }
  Say(args, "wrote %s/{%s,low_res.npy,%sscores.json,overlay.png}\n", out_dir.c_str(),
      batch ? "mask_*_*.png" : "mask_*.png", save_logits ? "high_res.npy," : "");
  if (args.verbose()) {
    Say(args, "image encoder precision: %s\n", PrecisionName(precision));
    PrintTimings(args, timings);
  }
  return 0;
}

}  // namespace

extern const Command kSegmentCommand = {
    "segment",
    "segment an image from point / box / mask prompts",
    "usage: persam segment --model MODEL --image IMAGE [--point X,Y[,LABEL]]...\n"
    "                      [--box X0,Y0,X1,Y1]... [--mask-input LOWRES.npy[:INDEX]]\n"
    "                      [--multimask] [--embedding EMB.npy] [--save-logits] --out DIR\n"
    "\n"
    "Coordinates are in original image pixels (fractional allowed). LABEL is 1\n"
    "(foreground, default) or 0 (background). --mask-input takes low-res logits\n"
    "(C x 256 x 256, e.g. a previous low_res.npy) and map INDEX (default 0).\n"
    "--multimask returns SAM's three candidate masks instead of one.\n"
    "--embedding reuses the output of 'persam embed' for this image.\n"
    "\n"
    "Several --box are a batch (as SamPredictor.predict_torch with B boxes): one\n"
    "result per box, each with the same points and mask input.\n"
    "\n"
    "Writes DIR/mask_K.png (0/255), DIR/low_res.npy (C x 256 x 256 logits),\n"
    "DIR/scores.json ({\"scores\": [...]}), DIR/overlay.png (masks tinted, a\n"
    "legend of colour, mask and score at the top left) and, with --save-logits,\n"
    "DIR/high_res.npy (C x H x W logits). For a batch of B boxes: mask_B_K.png,\n"
    "low_res.npy / high_res.npy with a leading B axis, and scores.json\n"
    "{\"scores\": [[...] per box], \"boxes\": [[x0, y0, x1, y1], ...]}.\n"
    "docs/outputs.md describes every file.\n"
    PERSAM_PRECISION_HELP
    "  --verbose      per-stage timings\n",
    {"model", "image", "point", "box", "mask-input", "embedding", "out", kPrecisionOptionName},
    {"multimask", "save-logits", kUnusualModelFlag},
    RunSegment,
};

}  // namespace persam::cli
