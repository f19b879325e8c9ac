#include "persam/run.h"

#include <filesystem>
#include <set>
#include <utility>

#include "persam/dataset.h"
#include "persam/json_writer.h"
#include "persam/outputs.h"
#include "weights/error.h"

namespace persam {
namespace fs = std::filesystem;

namespace {

void AddTimings(StageTimings* to, const StageTimings& from) {
  for (const auto& [name, seconds] : from.entries()) to->Add(name, seconds);
}

void MakeDirectory(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create output directory '" + dir + "': " + ec.message());
}

// One object: reference, then every target; outputs per target.
struct Target {
  std::string name, path;
};

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
  if (!out_dir.empty()) MakeDirectory(out_dir);

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

RunReport PersonalizeDataset(const SamModel& model, const std::string& data_root, const std::string& ref_idx,
                             const RunOptions& options, const ProgressCallback& progress) {
  const std::vector<DatasetObject> objects = ScanPerSegDataset(data_root, ref_idx);
  RunReport report;
  report.finetune = options.personalize.finetune;
  for (const DatasetObject& object : objects) {
    std::vector<Target> targets;
    for (const DatasetImage& image : object.images) targets.push_back({image.name, image.path});
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
  RunReport report;
  report.finetune = options.personalize.finetune;
  report.objects.push_back(RunObject(model, "", ref_image, ref_mask, list, options, options.out_dir, progress, &report));
  return report;
}

namespace {

void WritePoint(JsonWriter& json, const PointPrompt& p) {
  json.BeginObject();
  json.Key("x").Number(p.x).Key("y").Number(p.y).Key("label").Int(p.label);
  json.EndObject();
}

void WriteTimings(JsonWriter& json, const StageTimings& timings) {
  json.BeginObject();
  for (const auto& [name, seconds] : timings.entries()) json.Key(name).Number(seconds);
  json.EndObject();
}

}  // namespace

std::string ReportToJson(const RunReport& report) {
  JsonWriter json;
  json.BeginObject();
  json.Key("method").String(report.finetune ? "persam_f" : "persam");
  json.Key("images").Int(report.images);
  json.Key("timings");
  WriteTimings(json, report.totals);
  json.Key("objects").BeginArray();
  for (const ObjectResult& object : report.objects) {
    json.BeginObject();
    json.Key("name").String(object.name);
    json.Key("ref_image").String(object.ref_image);
    json.Key("ref_mask").String(object.ref_mask);
    const ReferenceSummary& ref = object.reference;
    json.Key("reference").BeginObject();
    json.Key("size").BeginArray().Int(ref.height).Int(ref.width).EndArray();
    json.Key("selected_cells").Int(ref.selected_cells);
    json.Key("cell_fallback").Bool(ref.cell_fallback);
    json.Key("warnings").BeginArray();
    for (const auto& w : ref.warnings) json.String(w);
    json.EndArray();
    if (ref.training) {
      json.Key("training_point");
      WritePoint(json, *ref.training_point);
      json.Key("mask_weights").NumberArray(ref.training->weights.data(), 3);
      json.Key("log").BeginArray();
      for (const MaskWeightsLogEntry& e : ref.training->log) {
        json.BeginObject();
        json.Key("step").Int(e.step).Key("lr").Number(e.lr).Key("dice").Number(e.dice).Key("focal").Number(e.focal);
        json.EndObject();
      }
      json.EndArray();
    }
    json.Key("timings");
    WriteTimings(json, ref.timings);
    json.EndObject();
    json.Key("targets").BeginArray();
    for (const TargetResult& t : object.targets) {
      const ImageOutcome& o = t.outcome;
      json.BeginObject();
      json.Key("name").String(t.name);
      json.Key("image").String(t.image_path);
      json.Key("mask").String(t.mask_path);
      json.Key("size").BeginArray().Int(o.height).Int(o.width).EndArray();
      json.Key("prior_points").BeginArray();
      for (const PointPrompt& p : o.prior_points) WritePoint(json, p);
      json.EndArray();
      json.Key("steps").BeginArray();
      for (const DecoderStep& s : o.steps) {
        json.BeginObject();
        if (s.box) {
          json.Key("box").BeginArray().Number(s.box->x0).Number(s.box->y0).Number(s.box->x1).Number(s.box->y1).EndArray();
        } else {
          json.Key("box").Null();
        }
        json.Key("has_mask_input").Bool(s.has_mask_input);
        json.Key("multimask").Bool(s.multimask);
        json.Key("scores").NumberArray(s.scores.data(), s.scores.size());
        json.Key("chosen").Int(s.chosen);
        json.Key("mask_areas").NumberArray(s.mask_areas.data(), s.mask_areas.size());
        json.EndObject();
      }
      json.EndArray();
      json.Key("mask_area").Int(o.mask_area);
      json.Key("warnings").BeginArray();
      for (const auto& w : o.warnings) json.String(w);
      json.EndArray();
      json.Key("timings");
      WriteTimings(json, o.timings);
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.str() + "\n";
}

}  // namespace persam
