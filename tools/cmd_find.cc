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
  const bool keep_going = args.Flag("keep-going");
  const std::set<std::string> done =
      args.Flag("resume") ? KeepFinishedResults(results_path, targets) : std::set<std::string>();
  std::ofstream results(results_path, std::ios::binary | (done.empty() ? std::ios::trunc : std::ios::app));
  if (!results) throw Error("cannot write '" + results_path + "'");
  int present = 0, instances = 0, processed = 0, cached = 0;
  std::vector<std::string> failed;
  StageTimings totals;
  BatchProgress progress(args);
  const size_t todo = targets.size() - done.size();
  try {
    for (size_t i = 0; i < targets.size(); ++i) {
      const TargetImage& target = targets[i];
      if (done.count(target.name)) continue;
      progress.Show(static_cast<size_t>(processed), todo, target.path);
      std::string json;
      try {
        const RgbImage image = LoadImage(target.path);
        ImageEmbedding embedding;
        {
          ScopedStage stage(&totals, "encoder");
          const std::string key = cache ? cache->Key(target.path) : "";
          std::optional<ImageEmbedding> hit;
          if (cache) hit = cache->Find(key, image.height, image.width);
          if (hit) {
            embedding = std::move(*hit);
            ++cached;
          } else {
            embedding = model->EncodeImage(image, nullptr);
            if (cache) cache->Store(key, embedding);
          }
        }
        const FindResult result = finder.Find(embedding, options);
        for (const auto& [name, seconds] : result.timings.entries()) totals.Add(name, seconds);
        ScopedStage stage(&totals, "output");
        json = WriteFindOutputs(out_dir, target, image, result, outputs);
        present += result.present;
        instances += static_cast<int>(result.instances.size());
        for (const std::string& w : result.warnings) Say(args, "warning: %s: %s\n", target.path.c_str(), w.c_str());
      } catch (const Error& e) {
        if (!keep_going) throw;
        json = FindErrorJson(target, e.what());
        failed.push_back(e.what());
      }
      results << json << '\n';
      results.flush();
      if (!results) throw Error("cannot write '" + results_path + "'");
      ++processed;
    }
  } catch (...) {
    progress.End();
    throw;
  }
  progress.End();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Say(args, "%s: %d image(s) processed, concept present in %d, %d instance(s), %.2f s; results in %s\n",
      concept_path.c_str(), processed, present, instances, seconds, results_path.c_str());
  if (!done.empty()) Say(args, "  %zu image(s) already done (--resume)\n", done.size());
  if (cache) Say(args, "  %d embedding(s) from the cache\n", cached);
  ReportSkipped(args, "find", failed, "results.jsonl");
  if (args.verbose() && processed > 0) {
    for (const auto& [stage, s] : totals.entries()) {
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
