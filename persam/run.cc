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

// One object: reference, then every target; outputs per target.
struct Target {
  std::string name, path;
};

// Every image a run reads, decoded once before anything is written: a bad
// target must not leave the outputs of the images before it behind. (The
// pixels are dropped; decoding twice is cheap next to the encoder.)
void CheckImagesReadable(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) (void)LoadImage(path);
}

ObjectResult RunObject(const SamModel& model, const std::string& object, const std::string& ref_image_path,
                       const std::string& ref_mask_path, const std::vector<Target>& targets,
                       const RunOptions& options, const std::string& out_dir, const ProgressCallback& progress,
                       RunReport* report) {
  ObjectResult result;
  result.name = object;
  result.ref_image = ref_image_path;
  result.ref_mask = ref_mask_path;
  const int total = static_cast<int>(targets.size()) + 1;
  if (progress) progress(object, 0, total, options.personalize.finetune ? "reference + fine-tuning" : "reference");
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
    if (progress) progress(object, static_cast<int>(i) + 1, total, target.name);
    TargetResult t;
    t.name = target.name;
    t.image_path = target.path;
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
      t.mask_path = (fs::path(out_dir) / (target.name + ".png")).string();
      WriteMaskPng(t.mask_path, t.outcome.mask, t.outcome.height, t.outcome.width);
      if (options.write_visualization) {
        WriteVisualizationJpeg((fs::path(out_dir) / ("vis_mask_" + target.name + ".jpg")).string(), image,
                               t.outcome.mask, t.outcome.prior_points);
      }
    }
    AddTimings(&report->totals, t.outcome.timings);
    ++report->images;
    if (!options.personalize.keep_step_maps) {
      for (DecoderStep& s : t.outcome.steps) s.low_res.clear();
    }
    result.targets.push_back(std::move(t));
  }
  return result;
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
  for (const DatasetObject& object : objects) {
    std::vector<Target>& targets = shares.emplace_back();
    for (const DatasetImage& image : object.images) {
      if (InShard(options, position++)) targets.push_back({image.name, image.path});
    }
    if (targets.empty()) continue;
    inputs.push_back(object.ref_image);
    inputs.push_back(object.ref_mask);
    for (const Target& t : targets) inputs.push_back(t.path);
  }
  if (!options.out_dir.empty()) CheckImagesReadable(inputs);
  for (size_t k = 0; k < objects.size(); ++k) {
    const DatasetObject& object = objects[k];
    const std::vector<Target>& targets = shares[k];
    if (targets.empty()) continue;
    const std::string out = options.out_dir.empty() ? "" : (fs::path(options.out_dir) / object.name).string();
    report.objects.push_back(
        RunObject(model, object.name, object.ref_image, object.ref_mask, targets, options, out, progress, &report));
  }
  return report;
}

RunReport PersonalizeImages(const SamModel& model, const std::string& ref_image, const std::string& ref_mask,
                            const std::vector<std::string>& targets, const RunOptions& options,
                            const ProgressCallback& progress) {
  if (targets.empty()) throw Error("persam personalize: no target image given");
  std::vector<Target> list;
  std::set<std::string> stems;
  for (const std::string& path : targets) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw Error("target image '" + path + "' not found");
    const std::string stem = fs::path(path).stem().string();
    if (!stems.insert(stem).second) {
      throw Error("two target images share the output name '" + stem + "' (" + path + ")");
    }
    list.push_back({stem, path});
  }
  // Every target is checked above, whichever shard it falls in.
  std::vector<Target> share;
  for (size_t i = 0; i < list.size(); ++i) {
    if (InShard(options, i)) share.push_back(list[i]);
  }
  list.swap(share);
  if (!options.out_dir.empty()) {
    std::vector<std::string> inputs = {ref_image, ref_mask};
    for (const Target& t : list) inputs.push_back(t.path);
    CheckImagesReadable(inputs);
  }
  RunReport report;
  report.finetune = options.personalize.finetune;
  report.objects.push_back(RunObject(model, "", ref_image, ref_mask, list, options, options.out_dir, progress, &report));
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
             {"timings", TimingsJson(report.totals)},
             {"objects", JsonValue::Array(std::move(objects))},
         })) +
         "\n";
}

}  // namespace persam
