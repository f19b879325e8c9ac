// `persam find`: a learned concept in every given photo (concepts/).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "concepts/concept_file.h"
#include "concepts/embedding_cache.h"
#include "concepts/find_outputs.h"
#include "concepts/find_run.h"
#include "concepts/finder.h"
#include "concepts/model_identity.h"
#include "concepts/target_list.h"
#include "engine/sam_model.h"
#include "persam/outputs.h"
#include "tools/batch_progress.h"
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
  const ConceptModelIdentity identity = IdentifyModel(model_path, *model);
  CheckConceptModel(learned, concept_path, identity);
  const Finder finder(*model, learned);

  MakeOutputDirectory(out_dir);
  std::optional<EmbeddingCache> cache;
  if (const auto dir = args.Value("cache")) cache.emplace(*dir, identity, model->config(), model->identity());
  const std::string results_path = out_dir + "/results.jsonl";
  FindRunOptions run;
  run.find = options;
  run.outputs = outputs;
  run.keep_going = args.Flag("keep-going");
  run.resume = args.Flag("resume");
  BatchProgress progress(args);
  FindRunSummary summary;
  try {
    summary = RunFindOverTargets(*model, finder, cache ? &*cache : nullptr, targets, out_dir, run,
                                 [&](size_t done, size_t total, const std::string& path) {
                                   progress.Show(done, total, path);
                                 });
  } catch (...) {
    progress.End();
    throw;
  }
  progress.End();
  for (const std::string& w : summary.warnings) Say(args, "warning: %s\n", w.c_str());
  const int processed = summary.processed;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Say(args, "%s: %d image(s) processed, concept present in %d, %d instance(s), %.2f s; results in %s\n",
      concept_path.c_str(), processed, summary.present, summary.instances, seconds, results_path.c_str());
  if (summary.already_done > 0) Say(args, "  %d image(s) already done (--resume)\n", summary.already_done);
  if (cache) Say(args, "  %d embedding(s) from the cache\n", summary.cached);
  ReportSkipped(args, "find", summary.failed, "results.jsonl");
  if (args.verbose() && processed > 0) {
    for (const auto& [stage, s] : summary.totals.entries()) {
      Say(args, "  %-24s %8.1f ms per image\n", stage.c_str(), 1e3 * s / processed);
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
    "  --keep-going           an unreadable image gets an \"error\" line in results.jsonl\n"
    "                         and the rest is processed (default: stop, naming it)\n"
    "  --resume               skip the images results.jsonl already holds (an\n"
    "                         interrupted run's); the others are appended\n"
    "  --cache DIR            keep image embeddings in DIR (keyed by the file's bytes,\n"
    "                         the model's weights hash and precision): a second\n"
    "                         concept over the same photos skips the encoder\n"
    PERSAM_PRECISION_HELP,
    {"model", "concept", "out", "instances", "min-similarity", "max-overlap", "cache", kPrecisionOptionName},
    {"cutout", "no-overlay", "keep-going", "resume"},
    RunFind,
};

}  // namespace persam::cli
