// `persam find`: a learned concept in every given photo (concepts/).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "concepts/concept_file.h"
#include "concepts/find_outputs.h"
#include "concepts/finder.h"
#include "concepts/model_identity.h"
#include "concepts/target_list.h"
#include "engine/sam_model.h"
#include "persam/outputs.h"
#include "tools/cli.h"
#include "tools/precision_option.h"

namespace persam::cli {
namespace {

FindOptions ParseFindOptions(const Args& args) {
  FindOptions options;
  options.min_similarity = args.Double("min-similarity", kDefaultMinSimilarity);
  options.max_overlap = args.Double("max-overlap", kDefaultMaxOverlap);
  if (options.max_overlap < 0 || options.max_overlap > 1) throw UsageError{"--max-overlap must be in [0, 1]"};
  const auto instances = args.Value("instances");
  if (instances && *instances == "all") {
    options.max_instances = kMaxInstances;
  } else {
    options.max_instances = args.Int("instances", 1);
    if (options.max_instances < 1 || options.max_instances > kMaxInstances) {
      throw UsageError{"--instances must be 1 .. " + std::to_string(kMaxInstances) + " or 'all'"};
    }
  }
  return options;
}

int RunFind(const Args& args) {
  const std::string model_path = args.Required("model");
  const std::string concept_path = args.Required("concept");
  const std::string out_dir = args.Required("out");
  if (args.positionals().empty()) throw UsageError{"no target image or folder given"};
  const FindOptions options = ParseFindOptions(args);
  FindOutputOptions outputs;
  outputs.overlay = !args.Flag("no-overlay");
  outputs.cutout = args.Flag("cutout");

  // Everything that can be refused is checked before the model loads and
  // before anything is written.
  const Concept learned = ReadConcept(concept_path);
  const std::vector<TargetImage> targets = CollectTargets(args.positionals());
  const auto start = std::chrono::steady_clock::now();
  Progress(args, "loading " + model_path);
  const std::unique_ptr<SamModel> model = SamModel::Load(model_path, ModelLoadOptions(args));
  CheckConceptModel(learned, concept_path, IdentifyModel(model_path, *model));
  const Finder finder(*model, learned);

  MakeOutputDirectory(out_dir);
  const std::string results_path = out_dir + "/results.jsonl";
  std::ofstream results(results_path, std::ios::binary | std::ios::trunc);
  if (!results) throw Error("cannot write '" + results_path + "'");
  int present = 0, instances = 0;
  StageTimings totals;
  try {
    for (size_t i = 0; i < targets.size(); ++i) {
      const TargetImage& target = targets[i];
      Progress(args, "[" + std::to_string(i + 1) + "/" + std::to_string(targets.size()) + "] " + target.path);
      const RgbImage image = LoadImage(target.path);
      FindResult result;
      ImageEmbedding embedding;
      {
        ScopedStage stage(&totals, "encoder");
        embedding = model->EncodeImage(image, nullptr);
      }
      result = finder.Find(embedding, options);
      for (const auto& [name, seconds] : result.timings.entries()) totals.Add(name, seconds);
      {
        ScopedStage stage(&totals, "output");
        results << WriteFindOutputs(out_dir, target, image, result, outputs) << '\n';
        results.flush();
      }
      if (!results) throw Error("cannot write '" + results_path + "'");
      present += result.present;
      instances += static_cast<int>(result.instances.size());
      for (const std::string& w : result.warnings) Say(args, "warning: %s: %s\n", target.path.c_str(), w.c_str());
    }
  } catch (...) {
    EndProgress(args);
    throw;
  }
  EndProgress(args);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Say(args, "%s: %zu image(s), concept present in %d, %d instance(s), %.2f s; results in %s\n",
      concept_path.c_str(), targets.size(), present, instances, seconds, results_path.c_str());
  if (args.verbose()) {
    for (const auto& [stage, s] : totals.entries()) {
      Say(args, "  %-24s %8.1f ms per image\n", stage.c_str(), 1e3 * s / static_cast<double>(targets.size()));
    }
  }
  return 0;
}

}  // namespace

extern const Command kFindCommand = {
    "find",
    "find a learned concept in photos: masks, instances, present or not",
    "usage: persam find --model M --concept NAME.concept [options] --out DIR TARGET...\n\n"
    "TARGETs are image files or folders (searched recursively for .jpg .jpeg\n"
    ".png .bmp .tga, in sorted order). M must be the model the concept was\n"
    "learned with (same weights and precision). With one reference and the\n"
    "default options the first instance's mask is exactly what 'persam\n"
    "personalize' gives with that reference.\n\n"
    "Every image gets a 'similarity': its highest cosine similarity to the\n"
    "concept divided by the reference's highest inside its own mask (about 1\n"
    "for a photo of the concept). Below --min-similarity the concept counts as\n"
    "absent: empty label map, present false. Further instances (--instances):\n"
    "the found mask is suppressed in the similarity map and its next peak is\n"
    "the next prior point; it stops at N, when that peak falls below\n"
    "--min-similarity, at an empty mask, or when a mask overlaps an earlier\n"
    "one with IoU above --max-overlap.\n\n"
    "Outputs in DIR: results.jsonl (one line per image: path, present,\n"
    "similarity, instances with bbox [x0, y0, x1, y1] inclusive, area, score),\n"
    "labels/NAME.png (0 background, k instance k), masks/NAME.K.png (0/255),\n"
    "overlays/NAME.jpg, cutouts/NAME.K.png (--cutout: RGBA, alpha = mask).\n"
    "NAME is a file's stem, or its path inside a folder without extension.\n\n"
    "  --model M              SAM checkpoint (.pth / .safetensors)\n"
    "  --concept FILE         from 'persam learn'\n"
    "  --out DIR              output folder\n"
    "  --instances N|all      instances per image (default 1; all = up to 255)\n"
    "  --min-similarity S     absent below S (default 0.5; 0 keeps every image)\n"
    "  --max-overlap IOU      stop when a new mask overlaps an earlier one more (default 0.5)\n"
    "  --cutout               also write RGBA cut-outs of every instance\n"
    "  --no-overlay           do not write overlays/\n"
    PERSAM_PRECISION_HELP,
    {"model", "concept", "out", "instances", "min-similarity", "max-overlap", kPrecisionOptionName},
    {"cutout", "no-overlay"},
    RunFind,
};

}  // namespace persam::cli
