// `persam personalize`: PerSAM / PerSAM-F, on one reference + target images or
// on a whole PerSeg-layout dataset (persam/run.h).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "concepts/multi_object.h"
#include "concepts/target_list.h"
#include "engine/sam_model.h"
#include "persam/outputs.h"
#include "persam/run.h"
#include "tools/batch_progress.h"
#include "tools/cli.h"
#include "tools/precision_option.h"
#include "tools/print_timings.h"
#include "base/error.h"

namespace persam::cli {
namespace {

void WriteReport(const std::string& path, const RunReport& report) {
  const std::string json = ReportToJson(report);
  WriteFileAtomically(path, json);
}

void PrintSummary(const Args& args, const RunReport& report, double load_seconds, double wall_seconds) {
  Say(args, "%s: %d image(s) in %zu object(s), %.2f s (model load %.2f s)\n",
      report.finetune ? "PerSAM-F" : "PerSAM", report.images, report.objects.size(), wall_seconds, load_seconds);
  if (report.skipped > 0) Say(args, "  %d image(s) already done (--resume)\n", report.skipped);
  std::vector<std::string> failed;
  for (const ObjectResult& object : report.objects) {
    for (const TargetResult& t : object.targets) {
      if (!t.error.empty()) failed.push_back(t.error);
    }
  }
  ReportSkipped(args, "personalize", failed, args.Value("report") ? "the report" : "above");
  const double per_image = report.images > 0 ? 1.0 / report.images : 0.0;
  const int width = StageNameWidth(report.totals, 12);
  Say(args, "  %-*s %10s %12s\n", width, "stage", "total s", "per image ms");
  for (const auto& [stage, seconds] : report.totals.entries()) {
    Say(args, "  %-*s %10.3f %12.1f\n", width, stage.c_str(), seconds, 1e3 * seconds * per_image);
  }
  for (const ObjectResult& object : report.objects) {
    const std::string label = object.name.empty() ? object.ref_image : object.name;
    for (const std::string& w : object.reference.warnings) Say(args, "warning: %s: %s\n", label.c_str(), w.c_str());
    if (object.reference.training && args.verbose()) {
      const auto& w = object.reference.training->weights;
      Say(args, "  %s: mask weights %.6f %.6f %.6f\n", label.c_str(), w[0], w[1], w[2]);
    }
    for (const TargetResult& t : object.targets) {
      for (const std::string& w : t.outcome.warnings) {
        Say(args, "warning: %s/%s: %s\n", label.c_str(), t.name.c_str(), w.c_str());
      }
      if (args.verbose()) {
        Say(args, "  %s/%s: mask area %lld, decoder calls %zu\n", label.c_str(), t.name.c_str(),
            static_cast<long long>(t.outcome.mask_area), t.outcome.steps.size());
      }
    }
  }
}

// --multi-object: persam_f_multi_obj.py over a PerSeg-layout folder.
int RunMultiObjectMode(const Args& args, const std::string& mode) {
  const std::string model_path = args.Required("model");
  MultiObjectOptions options;
  if (mode == "reference") {
    options.mode = MultiObjectMode::kReference;
  } else if (mode == "corrected") {
    options.mode = MultiObjectMode::kCorrected;
  } else {
    throw UsageError{"--multi-object '" + mode + "': expected reference or corrected"};
  }
  const auto dataset = args.Value("dataset");
  if (!dataset) throw UsageError{"--multi-object needs --dataset DATA (a PerSeg-layout folder)"};
  const auto out_dir = args.Value("out");
  if (!out_dir) throw UsageError{"--multi-object needs --out DIR"};
  for (const char* other : {"ref-image", "ref-mask", "ref-idx", "shard"}) {
    if (args.Value(other)) throw UsageError{std::string("--") + other + " does not apply with --multi-object"};
  }
  for (const char* other : {"keep-going", "resume"}) {
    if (args.Flag(other)) throw UsageError{std::string("--") + other + " does not apply with --multi-object"};
  }
  if (!args.positionals().empty()) throw UsageError{"--multi-object takes no target image arguments"};
  options.out_dir = *out_dir;
  options.write_visualization = !args.Flag("no-vis");
  options.training_percentage = args.Double("training-percentage", options.training_percentage);
  options.max_objects = args.Int("max-objects", options.max_objects);
  options.iou_threshold = args.Double("iou-threshold", options.iou_threshold);
  options.training.steps = args.Int("train-steps", options.training.steps);
  options.training.log_every = options.training.steps;
  const LoadOptions load_options = ModelLoadOptions(args);
  CheckOutputDirectory(*out_dir, "--out");
  if (const auto report_path = args.Value("report")) CheckOutputFile(*report_path, "--report");
  const auto start = std::chrono::steady_clock::now();
  Progress(args, "loading " + model_path);
  const std::unique_ptr<SamModel> model = SamModel::Load(model_path, load_options);
  MultiObjectReport report;
  try {
    report = RunMultiObject(*model, *dataset, options,
                            [&](const std::string& object, int done, int total, const std::string& what) {
                              Progress(args, object + " [" + std::to_string(done) + "/" + std::to_string(total) +
                                                 "] " + what);
                            });
  } catch (...) {
    EndProgress(args);
    throw;
  }
  EndProgress(args);
  if (const auto report_path = args.Value("report")) WriteFileAtomically(*report_path, MultiObjectReportJson(report));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int images = 0;
  for (const MultiObjectObject& object : report.objects) {
    for (const MultiObjectImage& image : object.images) {
      ++images;
      Say(args, "  %s/%s: %d object(s)%s\n", object.name.c_str(), image.name.c_str(), image.objects_found,
          image.stopped_by_iou ? "" : " (no IoU stop)");
    }
  }
  Say(args, "PerSAM-F multi-object (%s mode): %d image(s) in %zu object(s), %.2f s\n", mode.c_str(), images,
      report.objects.size(), seconds);
  for (const std::string& d : report.deviations) Say(args, "deviation from the reference: %s\n", d.c_str());
  return 0;
}

int RunPersonalize(const Args& args) {
  if (const auto mode = args.Value("multi-object")) return RunMultiObjectMode(args, *mode);
  for (const char* only : {"max-objects", "iou-threshold", "training-percentage", "train-steps"}) {
    if (args.Value(only)) throw UsageError{std::string("--") + only + " only applies with --multi-object"};
  }
  const std::string model_path = args.Required("model");
  const auto dataset = args.Value("dataset");
  const auto out_dir = args.Value("out");
  RunOptions options;
  options.personalize.finetune = args.Flag("finetune");
  options.write_visualization = !args.Flag("no-vis");
  options.keep_going = args.Flag("keep-going");
  options.resume = args.Flag("resume");
  if (options.resume && !out_dir) throw UsageError{"--resume needs --out DIR (it skips the targets whose mask exists)"};
  if (out_dir) options.out_dir = *out_dir;
  if (const auto shard = args.Value("shard")) {
    try {
      ParseShard(*shard, "--shard", &options);
    } catch (const Error& e) {
      throw UsageError{e.what()};
    }
  }
  if (!out_dir && !args.Value("report")) {
    // Otherwise every mask would be computed and thrown away.
    throw UsageError{"give --out DIR (the masks) and/or --report FILE (the JSON report)"};
  }
  if (dataset) {
    if (args.Value("ref-image") || args.Value("ref-mask")) {
      throw UsageError{"--dataset and --ref-image/--ref-mask are exclusive"};
    }
    if (!args.positionals().empty()) throw UsageError{"--dataset takes no target image arguments"};
    if (!out_dir) throw UsageError{"--dataset needs --out DIR"};
  } else {
    if (!args.Value("ref-image") || !args.Value("ref-mask")) {
      throw UsageError{"give --ref-image IMG --ref-mask MASK TARGET... or --dataset DATA"};
    }
    if (args.positionals().empty()) throw UsageError{"no target image given"};
    if (args.Value("ref-idx")) throw UsageError{"--ref-idx only applies with --dataset"};
  }

  // Files as given (output name: the stem); folders searched recursively
  // (name: the path inside the folder), as `find` takes them.
  std::vector<NamedTarget> targets;
  if (!dataset) {
    for (const TargetImage& t : CollectTargets(args.positionals())) targets.push_back({t.name, t.path});
  }
  const LoadOptions load_options = ModelLoadOptions(args);
  if (out_dir) CheckOutputDirectory(*out_dir, "--out");
  if (const auto report_path = args.Value("report")) CheckOutputFile(*report_path, "--report");
  const auto start = std::chrono::steady_clock::now();
  const auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  Progress(args, "loading " + model_path);
  const std::unique_ptr<SamModel> model = SamModel::Load(model_path, load_options);
  const double load_seconds = seconds_since(start);
  BatchProgress bar(args);
  const ProgressCallback progress = [&](const std::string& object, int done, int total, const std::string& what) {
    bar.Show(static_cast<size_t>(done), static_cast<size_t>(total), object.empty() ? what : object + ": " + what);
  };
  RunReport report;
  try {
    report = dataset ? PersonalizeDataset(*model, *dataset, args.Value("ref-idx").value_or("00"), options, progress)
                     : PersonalizeImages(*model, *args.Value("ref-image"), *args.Value("ref-mask"), targets, options,
                                         progress);
  } catch (...) {
    bar.End();
    throw;
  }
  bar.End();
  if (const auto report_path = args.Value("report")) WriteReport(*report_path, report);
  PrintSummary(args, report, load_seconds, seconds_since(start));
  return 0;
}

}  // namespace

extern const Command kPersonalizeCommand = {
    "personalize",
    "PerSAM / PerSAM-F: segment a personal concept from one reference",
    "usage: persam personalize --model M --ref-image IMG --ref-mask MASK [--finetune] [--out DIR] TARGET...\n"
    "       persam personalize --model M --dataset DATA [--ref-idx 00] [--finetune] --out DIR\n"
    "       persam personalize --model M --dataset DATA --multi-object reference|corrected --out DIR\n\n"
    "One reference image and its mask (any non-zero pixel is foreground) define\n"
    "the concept; every target image gets a mask. With --dataset, every object\n"
    "of a PerSeg-layout folder (DATA/Images/<object>/NN.jpg|png,\n"
    "DATA/Annotations/<object>/NN.png) is personalised from its image --ref-idx\n"
    "and all its images are segmented, the reference included.\n\n"
    "Outputs (as the reference code writes them): DIR/<object>/NN.png (dataset)\n"
    "or DIR/<target stem>.png, foreground RGB (128, 0, 0) (a 1-bit palette\n"
    "PNG that cv2.imread reads as the reference's file), and vis_mask_NN.jpg\n"
    "(image, mask, prior points) next to it. --out or --report is required.\n"
    "docs/outputs.md describes every file and the report's fields.\n\n"
    "  --model M         SAM checkpoint (.pth / .safetensors)\n"
    "  --ref-image IMG   reference image\n"
    "  --ref-mask MASK   reference mask, same size as IMG\n"
    "  --dataset DATA    PerSeg-layout folder\n"
    "  --ref-idx NN      reference image index in --dataset mode (default 00)\n"
    "  --finetune        PerSAM-F: learn the 3 mask-scale weights (1000 AdamW steps)\n"
    "  --out DIR         output directory\n"
    "  --no-vis          do not write vis_mask_*.jpg\n"
    "  --report FILE     JSON: prior points, every decoder call (box, scores,\n"
    "                    chosen mask), final mask areas, PerSAM-F weights and loss log\n"
    "  --shard I/N       only the images at positions i with i % N == I (0 <= I < N)\n"
    "                    of the targets as given (or of the dataset's images in\n"
    "                    scan order): N runs with I = 0 .. N-1 split the work\n"
    "  --keep-going      an unreadable target is reported (summary, --report \"error\")\n"
    "                    and the rest is processed (default: stop naming it, before\n"
    "                    anything is written)\n"
    "  --resume          skip the targets whose mask DIR/NAME.png exists (written\n"
    "                    last for each target, so it marks a finished one)\n"
    "TARGETs may be folders: searched recursively for .jpg .jpeg .png .bmp .tga in\n"
    "sorted order; a file's output name is then its path inside the folder.\n"
    "On a terminal a progress line shows the count, images/s and ETA (not with --quiet).\n\n"
    "Several instances per image as the official persam_f_multi_obj.py (with --dataset):\n"
    "PerSAM-F trained on the first --training-percentage of each object's images,\n"
    "then per image up to --max-objects rounds of: encode, PerSAM-F, black the\n"
    "mask out of the image; a round whose mask overlaps an earlier one with IoU\n"
    ">= --iou-threshold ends it and is not counted. DIR/<object>/NN.png and\n"
    "vis_mask_NN_objects:<k>.jpg (k = instances found).\n"
    "  --multi-object reference  the script's results, bugs included: NN.png holds\n"
    "                    only the last round's mask (the rejected duplicate when the\n"
    "                    IoU rule stopped), only the last training image counts, and\n"
    "                    where the script crashes (an empty mask, no training image)\n"
    "                    the run stops with an error naming the object, image and step\n"
    "  --multi-object corrected  NN.png = union of the instances found; the training\n"
    "                    images fused (as 'persam learn' fuses references); empty\n"
    "                    masks fall back or end the rounds; each deviation is printed\n"
    "                    and listed in --report\n"
    "  --training-percentage P  share of each object's images trained on (default 0.5)\n"
    "  --max-objects N   rounds per image (default 10)\n"
    "  --iou-threshold T stop at a round overlapping an earlier instance by IoU >= T (default 0.8)\n"
    "  --train-steps N   PerSAM-F steps per training (default 200, the script's)\n"
    PERSAM_PRECISION_HELP,
    {"model", "ref-image", "ref-mask", "dataset", "ref-idx", "out", "report", "shard", "multi-object", "max-objects",
     "iou-threshold", "training-percentage", "train-steps", kPrecisionOptionName},
    {"finetune", "no-vis", "keep-going", "resume", kUnusualModelFlag},
    RunPersonalize,
};

}  // namespace persam::cli
