#include "persam/run.h"

#include <filesystem>
#include <set>
#include <utility>

#include "persam/dataset.h"
#include "weights/json.h"
#include "persam/outputs.h"
#include "persam/report_json.h"
#include "base/error.h"

namespace persam {
namespace fs = std::filesystem;

namespace {

void AddTimings(StageTimings* to, const StageTimings& from) {
  for (const auto& [name, seconds] : from.entries()) to->Add(name, seconds);
}

using Target = NamedTarget;

std::string MaskPath(const std::string& out_dir, const Target& target) {
  return (fs::path(out_dir) / (target.name + ".png")).string();
}

// --resume: the mask is the last file written for a target.
bool AlreadyDone(const RunOptions& options, const std::string& out_dir, const Target& target) {
  std::error_code ec;
  return options.resume && !out_dir.empty() && fs::is_regular_file(MaskPath(out_dir, target), ec);
}

// Shared over the objects of one run: the progress count.
struct RunCount {
  int done = 0, total = 0;
};

// Every image a run reads, decoded once before anything is written: a bad
// target must not leave the outputs of the images before it behind. (The
// pixels are dropped; decoding twice is cheap next to the encoder.)
void CheckImagesReadable(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) (void)LoadImage(path);
}

// One object: reference, then every target; outputs per target.
ObjectResult RunObject(const SamModel& model, const std::string& object, const std::string& ref_image_path,
                       const std::string& ref_mask_path, const std::vector<Target>& targets,
                       const RunOptions& options, const std::string& out_dir, const ProgressCallback& progress,
                       RunCount* count, RunReport* report) {
  ObjectResult result;
  result.name = object;
  result.ref_image = ref_image_path;
  result.ref_mask = ref_mask_path;
  std::vector<bool> done(targets.size());
  size_t todo = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    done[i] = AlreadyDone(options, out_dir, targets[i]);
    todo += !done[i];
  }
  if (todo == 0) {  // --resume: nothing left, not even the reference
    for (const Target& target : targets) {
      TargetResult t;
      t.name = target.name;
      t.image_path = target.path;
      t.mask_path = MaskPath(out_dir, target);
      t.skipped = true;
      ++report->skipped;
      result.targets.push_back(std::move(t));
    }
    return result;
  }
  if (progress) {
    progress(object, count->done, count->total, options.personalize.finetune ? "reference + fine-tuning" : "reference");
  }
  const RgbImage ref_image = LoadImage(ref_image_path);
  const RgbImage ref_mask = LoadImage(ref_mask_path);
  Personalizer personalizer(model, options.personalize);
  personalizer.SetReference(ref_image, ref_mask, ref_mask_path);
  result.reference = personalizer.reference();
  AddTimings(&report->totals, result.reference.timings);
  if (!out_dir.empty()) MakeOutputDirectory(out_dir);

  const std::string ref_canonical = fs::weakly_canonical(ref_image_path).string();
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& target = targets[i];
    TargetResult t;
    t.name = target.name;
    t.image_path = target.path;
    if (done[i]) {
      t.mask_path = MaskPath(out_dir, target);
      t.skipped = true;
      ++report->skipped;
      result.targets.push_back(std::move(t));
      continue;
    }
    if (progress) progress(object, count->done, count->total, target.path);
    try {
      const RgbImage image = LoadImage(target.path);
      // The reference image is usually a target too (PerSeg's 00): its
      // embedding is already there, and the reference would compute the same.
      if (fs::weakly_canonical(target.path).string() == ref_canonical) {
        t.outcome = personalizer.Segment(personalizer.reference_embedding());
      } else {
        t.outcome = personalizer.Segment(image);
      }
      if (!out_dir.empty()) {
        ScopedStage stage(&t.outcome.timings, "output");
        const std::string mask_path = MaskPath(out_dir, target);
        if (target.name.find('/') != std::string::npos) MakeOutputDirectory(fs::path(mask_path).parent_path().string());
        if (options.write_visualization) {
          const fs::path name(target.name);
          WriteVisualizationJpeg((fs::path(out_dir) / name.parent_path() / ("vis_mask_" + name.filename().string() + ".jpg")).string(),
                                 image, t.outcome.mask, t.outcome.prior_points);
        }
        // Last: its presence marks the target finished (--resume).
        WriteMaskPng(mask_path, t.outcome.mask, t.outcome.height, t.outcome.width);
        t.mask_path = mask_path;
      }
    } catch (const Error& e) {
      if (!options.keep_going) throw;
      t.outcome = ImageOutcome();
      t.error = e.what();
      ++report->failed;
    }
    ++count->done;
    AddTimings(&report->totals, t.outcome.timings);
    if (t.error.empty()) ++report->images;
    if (!options.personalize.keep_step_maps) {
      for (DecoderStep& s : t.outcome.steps) s.low_res.clear();
    }
    result.targets.push_back(std::move(t));
  }
  return result;
}

// The images a run must be able to read before it writes anything: the
// references, and the targets unless --keep-going (which reports them) or
// --resume has them done.
void CheckInputs(const RunOptions& options, const std::string& out_dir, const std::string& ref_image,
                 const std::string& ref_mask, const std::vector<Target>& targets, std::vector<std::string>* inputs,
                 RunCount* count) {
  bool any = false;
  for (const Target& t : targets) {
    if (AlreadyDone(options, out_dir, t)) continue;
    any = true;
    ++count->total;
    if (!options.keep_going) inputs->push_back(t.path);
  }
  if (any) {
    inputs->push_back(ref_image);
    inputs->push_back(ref_mask);
  }
}

}  // namespace

void ParseShard(const std::string& text, const std::string& what, RunOptions* options) {
  const size_t slash = text.find('/');
  auto number = [&](const std::string& part, int* out) {
    if (part.empty() || part.size() > 9 || part.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::stoi(part);
    return true;
  };
  int index = 0, count = 0;
  if (slash == std::string::npos || !number(text.substr(0, slash), &index) || !number(text.substr(slash + 1), &count) ||
      count < 1 || index >= count) {
    throw Error(what + " '" + text + "': expected I/N with 0 <= I < N (e.g. 0/4 ... 3/4)");
  }
  options->shard_index = index;
  options->shard_count = count;
}

namespace {
bool InShard(const RunOptions& options, size_t position) {
  return static_cast<int>(position % static_cast<size_t>(options.shard_count)) == options.shard_index;
}
}  // namespace

RunReport PersonalizeDataset(const SamModel& model, const std::string& data_root, const std::string& ref_idx,
                             const RunOptions& options, const ProgressCallback& progress) {
  const std::vector<DatasetObject> objects = ScanPerSegDataset(data_root, ref_idx);
  RunReport report;
  report.finetune = options.personalize.finetune;
  size_t position = 0;
  std::vector<std::vector<Target>> shares;
  std::vector<std::string> inputs;
  RunCount count;
  const auto object_dir = [&](const DatasetObject& object) {
    return options.out_dir.empty() ? "" : (fs::path(options.out_dir) / object.name).string();
  };
  for (const DatasetObject& object : objects) {
    std::vector<Target>& targets = shares.emplace_back();
    for (const DatasetImage& image : object.images) {
      if (InShard(options, position++)) targets.push_back({image.name, image.path});
    }
    CheckInputs(options, object_dir(object), object.ref_image, object.ref_mask, targets, &inputs, &count);
  }
  if (!options.out_dir.empty()) CheckImagesReadable(inputs);
  for (size_t k = 0; k < objects.size(); ++k) {
    const DatasetObject& object = objects[k];
    const std::vector<Target>& targets = shares[k];
    if (targets.empty()) continue;
    report.objects.push_back(RunObject(model, object.name, object.ref_image, object.ref_mask, targets, options,
                                       object_dir(object), progress, &count, &report));
  }
  return report;
}

RunReport PersonalizeImages(const SamModel& model, const std::string& ref_image, const std::string& ref_mask,
                            const std::vector<std::string>& targets, const RunOptions& options,
                            const ProgressCallback& progress) {
  if (targets.empty()) throw Error("persam personalize: no target image given");
  std::vector<Target> list;
  for (const std::string& path : targets) list.push_back({fs::path(path).stem().string(), path});
  return PersonalizeImages(model, ref_image, ref_mask, list, options, progress);
}

RunReport PersonalizeImages(const SamModel& model, const std::string& ref_image, const std::string& ref_mask,
                            const std::vector<NamedTarget>& targets, const RunOptions& options,
                            const ProgressCallback& progress) {
  if (targets.empty()) throw Error("persam personalize: no target image given");
  std::vector<Target> list;
  std::set<std::string> names;
  for (const NamedTarget& target : targets) {
    std::error_code ec;
    if (!fs::is_regular_file(target.path, ec)) throw Error("target image '" + target.path + "' not found");
    if (!names.insert(target.name).second) {
      throw Error("two target images share the output name '" + target.name + "' (" + target.path + ")");
    }
    list.push_back(target);
  }
  // Every target is checked above, whichever shard it falls in.
  std::vector<Target> share;
  for (size_t i = 0; i < list.size(); ++i) {
    if (InShard(options, i)) share.push_back(list[i]);
  }
  list.swap(share);
  RunCount count;
  std::vector<std::string> inputs;
  CheckInputs(options, options.out_dir, ref_image, ref_mask, list, &inputs, &count);
  if (!options.out_dir.empty()) CheckImagesReadable(inputs);
  RunReport report;
  report.finetune = options.personalize.finetune;
  report.objects.push_back(
      RunObject(model, "", ref_image, ref_mask, list, options, options.out_dir, progress, &count, &report));
  return report;
}

namespace {

JsonValue TargetJson(const TargetResult& t) {
  const ImageOutcome& o = t.outcome;
  std::vector<JsonValue> points, steps;
  for (const PointPrompt& p : o.prior_points) points.push_back(PointJson(p));
  for (const DecoderStep& s : o.steps) steps.push_back(StepJson(s));
  return JsonValue::Object({
      {"name", JsonValue::String(t.name)},
      {"image", JsonValue::String(t.image_path)},
      {"mask", JsonValue::String(t.mask_path)},
      {"size", SizeJson(o.height, o.width)},
      {"prior_points", JsonValue::Array(std::move(points))},
      {"steps", JsonValue::Array(std::move(steps))},
      {"mask_area", JsonValue::Integer(o.mask_area)},
      {"warnings", StringsJson(o.warnings)},
      {"timings", TimingsJson(o.timings)},
      {"error", t.error.empty() ? JsonValue::Null() : JsonValue::String(t.error)},
      {"skipped", JsonValue::Bool(t.skipped)},
  });
}

}  // namespace

std::string ReportToJson(const RunReport& report) {
  std::vector<JsonValue> objects;
  for (const ObjectResult& object : report.objects) {
    std::vector<JsonValue> targets;
    for (const TargetResult& t : object.targets) targets.push_back(TargetJson(t));
    objects.push_back(JsonValue::Object({
        {"name", JsonValue::String(object.name)},
        {"ref_image", JsonValue::String(object.ref_image)},
        {"ref_mask", JsonValue::String(object.ref_mask)},
        {"reference", ReferenceJson(object.reference)},
        {"targets", JsonValue::Array(std::move(targets))},
    }));
  }
  return WriteJson(JsonValue::Object({
             {"method", JsonValue::String(report.finetune ? "persam_f" : "persam")},
             {"images", JsonValue::Integer(report.images)},
             {"failed", JsonValue::Integer(report.failed)},
             {"skipped", JsonValue::Integer(report.skipped)},
             {"timings", TimingsJson(report.totals)},
             {"objects", JsonValue::Array(std::move(objects))},
         })) +
         "\n";
}

}  // namespace persam
