// `persam demo`: the whole pipeline on built-in generated images with a small
// deterministic random-weight SAM, so a fresh machine can run it with no
// download. Random weights make the masks meaningless; the demo shows that
// every stage runs and what each costs.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/sam_model.h"
#include "tools/cli.h"
#include "tools/demo_scene.h"
#include "tools/precision_option.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam::cli {
namespace {

constexpr uint64_t kDemoSeed = 20230410;

void PrintTimings(const Args& args, const StageTimings& timings) {
  for (const auto& [stage, seconds] : timings.entries()) {
    Say(args, "    %-28s %8.1f ms\n", stage.c_str(), seconds * 1e3);
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
  if (auto path = args.Value("model")) {
    Say(args, "model: %s\n", path->c_str());
    return SamModel::Load(*path, options);
  }
  const SamConfig config = SamVitTinyTestConfig();
  Say(args,
      "model: built-in SAM with a small ViT encoder (embed %d, depth %d, %d heads) and\n"
      "       the standard prompt encoder and mask decoder, deterministic RANDOM weights.\n"
      "       Random weights give meaningless masks: this shows the pipeline runs.\n"
      "       For real results convert an official checkpoint and pass --model:\n"
      "         persam convert sam_vit_b_01ec64.pth sam_vit_b.safetensors\n"
      "         persam demo --model sam_vit_b.safetensors\n\n",
      config.vit.embed_dim, config.vit.depth, config.vit.num_heads);
  return SamModel::FromTensors(MakeRandomSamTensors(config, kDemoSeed), "built-in demo model", options);
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
  PrintTimings(args, predictor.timings());
  Say(args, "\ndone. See 'persam help' for embed, segment, personalize and eval.\n");
  return 0;
}

}  // namespace

extern const Command kDemoCommand = {
    "demo",
    "run the pipeline on built-in generated images (no download needed)",
    "usage: persam demo [--model M] [--precision P] [--threads N] [--quiet]\n\n"
    "Builds a small SAM with deterministic random weights in memory (or loads\n"
    "--model M, a .pth or .safetensors SAM checkpoint), generates images, and\n"
    "runs segmentation and PerSAM personalization on them, printing what each\n"
    "stage did and how long it took. Random weights give meaningless masks.\n"
    "\n"
    PERSAM_PRECISION_HELP,
    {"model", kPrecisionOptionName},
    {},
    RunDemo,
};

}  // namespace persam::cli
