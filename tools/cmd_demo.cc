// `persam demo`: the whole pipeline on built-in generated images with a small
// deterministic random-weight SAM, so a fresh machine can run it with no
// download. Random weights make the masks meaningless; the demo shows that
// every stage runs and what each costs.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/image.h"
#include "engine/sam_model.h"
#include "persam/eval.h"
#include "persam/outputs.h"
#include "persam/personalizer.h"
#include "tools/cli.h"
#include "tools/demo_scene.h"
#include "tools/precision_option.h"
#include "tools/print_timings.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam::cli {
namespace {

constexpr uint64_t kDemoSeed = 20230410;

// Indented under its heading; the name column as wide as the longest name.
void PrintStageTimes(const Args& args, const StageTimings& timings) {
  const int width = StageNameWidth(timings, 28);
  for (const auto& [stage, seconds] : timings.entries()) {
    Say(args, "    %-*s %8.1f ms\n", width, stage.c_str(), seconds * 1e3);
  }
}

int64_t MaskArea(const Prediction& prediction, int index) {
  const size_t plane = static_cast<size_t>(prediction.height) * prediction.width;
  int64_t area = 0;
  for (size_t i = 0; i < plane; ++i) area += prediction.high_res[index * plane + i] > 0.0f;
  return area;
}

std::unique_ptr<SamModel> DemoModel(const Args& args) {
  const LoadOptions options = ModelLoadOptions(args);  // usage errors first
  if (const auto out = args.Value("out")) CheckOutputDirectory(*out, "--out");
  if (auto path = args.Value("model")) {
    Say(args, "model: %s\n", path->c_str());
    return SamModel::Load(*path, options);
  }
  const SamConfig config = SamVitTinyTestConfig();
  Say(args,
      "model: built-in SAM with a small ViT encoder (embed %d, depth %d, %d heads) and\n"
      "       the standard prompt encoder and mask decoder, deterministic RANDOM weights.\n"
      "       Random weights give meaningless masks: this shows the pipeline runs.\n"
      "       For real results download an official checkpoint (375 MB, SHA-256\n"
      "       checked) as safetensors and pass --model:\n"
      "         persam download vit_b --dir models --convert\n"
      "         persam demo --model models/sam_vit_b_01ec64.safetensors\n\n",
      config.vit.embed_dim, config.vit.depth, config.vit.num_heads);
  return SamModel::FromTensors(MakeRandomSamTensors(config, kDemoSeed), "built-in demo model", options);
}

RgbImage MaskImage(const DemoScene& scene) {
  RgbImage mask;
  mask.height = scene.image.height;
  mask.width = scene.image.width;
  mask.pixels.assign(scene.mask.size() * 3, 0);
  for (size_t i = 0; i < scene.mask.size(); ++i) mask.pixels[i * 3] = scene.mask[i] ? 128 : 0;
  return mask;
}

// PerSAM (training-free) or PerSAM-F: personalise on scene 0, segment the
// object in the other scenes, compare with the generated ground truth.
void RunPersonalization(const Args& args, const SamModel& model, bool finetune,
                        const std::vector<DemoScene>& scenes) {
  const char* name = finetune ? "PerSAM-F" : "PerSAM";
  PersonalizeOptions options;
  options.finetune = finetune;
  Personalizer personalizer(model, options);
  personalizer.SetReference(scenes[0].image, MaskImage(scenes[0]), "generated reference mask");
  const ReferenceSummary& reference = personalizer.reference();
  Say(args, "\n%s: reference = scene 0 and its mask (%d embedding cells selected)\n", name,
      reference.selected_cells);
  if (reference.training) {
    const auto& w = reference.training->weights;
    Say(args, "  learned mask weights: %.4f %.4f %.4f\n", w[0], w[1], w[2]);
  }
  for (const std::string& warning : reference.warnings) Say(args, "  note: %s\n", warning.c_str());
  Say(args, "  reference stages:\n");
  PrintStageTimes(args, reference.timings);
  const std::string out_dir = args.Value("out").value_or("");
  for (size_t i = 1; i < scenes.size(); ++i) {
    const ImageOutcome outcome = personalizer.Segment(scenes[i].image);
    std::vector<uint8_t> truth(scenes[i].mask.size());
    for (size_t p = 0; p < truth.size(); ++p) truth[p] = scenes[i].mask[p] != 0;
    const MaskPairCounts counts = CountMaskPair(outcome.mask, truth);
    Say(args, "  scene %zu (%dx%d): prior point (%.0f, %.0f), mask area %lld px, IoU with truth %.3f\n",
        i, outcome.width, outcome.height, outcome.prior_points.front().x,
        outcome.prior_points.front().y, static_cast<long long>(outcome.mask_area),
        counts.union_ > 0 ? double(counts.intersection) / double(counts.union_) : 0.0);
    for (const std::string& warning : outcome.warnings) Say(args, "    note: %s\n", warning.c_str());
    if (!out_dir.empty()) {
      const std::string stem = out_dir + "/" + (finetune ? "persam_f_" : "persam_") + std::to_string(i);
      WriteMaskPng(stem + ".png", outcome.mask, outcome.height, outcome.width);
      const RgbImage vis = RenderVisualization(scenes[i].image, outcome.mask, outcome.prior_points);
      WriteAtomically(stem + "_vis.jpg", [&](const std::string& temp) { SaveJpeg(temp, vis); });
    }
    PrintStageTimes(args, outcome.timings);
  }
}

int RunDemo(const Args& args) {
  std::unique_ptr<SamModel> model = DemoModel(args);
  Say(args, "image encoder precision: %s\n", PrecisionName(model->precision()));

  const DemoScene scene = MakeDemoScene(480, 640, 250.0, 220.0, 90.0, 1);
  Say(args, "image: generated %dx%d scene with one striped object\n", scene.image.width,
      scene.image.height);

  Predictor predictor(*model);
  predictor.SetImage(scene.image);
  Prompt prompt;
  prompt.points.push_back({250.0, 220.0, 1});
  prompt.multimask = true;
  const Prediction prediction = predictor.Predict(prompt);
  Say(args, "segment: one point at (250, 220), multimask -> %d masks\n", prediction.num_masks);
  for (int i = 0; i < prediction.num_masks; ++i) {
    Say(args, "    mask %d: score %+.4f, area %lld px\n", i, prediction.scores[i],
        static_cast<long long>(MaskArea(prediction, i)));
  }
  Say(args, "  stage timings:\n");
  PrintStageTimes(args, predictor.timings());

  // The object again, moved and at other image sizes and aspect ratios.
  const std::vector<DemoScene> scenes = {
      scene,
      MakeDemoScene(600, 800, 520.0, 330.0, 110.0, 2),
      MakeDemoScene(700, 500, 200.0, 450.0, 80.0, 3),
  };
  if (auto out = args.Value("out")) MakeOutputDirectory(*out);
  RunPersonalization(args, *model, /*finetune=*/false, scenes);
  RunPersonalization(args, *model, /*finetune=*/true, scenes);
  if (auto out = args.Value("out")) Say(args, "\nmasks and visualisations written to %s\n", out->c_str());
  Say(args, "\ndone. See 'persam help' for embed, segment, personalize and eval.\n");
  return 0;
}

}  // namespace

extern const Command kDemoCommand = {
    "demo",
    "run the pipeline on built-in generated images (no download needed)",
    "usage: persam demo [--model M] [--precision P] [--out DIR] [--threads N] [--quiet]\n\n"
    "Builds a small SAM with deterministic random weights in memory (or loads\n"
    "--model M, a .pth or .safetensors SAM checkpoint), generates images, and\n"
    "runs segmentation and PerSAM personalization on them, printing what each\n"
    "stage did and how long it took. Random weights give meaningless masks.\n"
    "With --out DIR it writes the PerSAM / PerSAM-F masks and visualisations.\n"
    "\n"
    PERSAM_PRECISION_HELP,
    {"model", "out", kPrecisionOptionName},
    {kUnusualModelFlag},
    RunDemo,
};

}  // namespace persam::cli
