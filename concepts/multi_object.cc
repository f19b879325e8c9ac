#include "concepts/multi_object.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <utility>

#include "concepts/learn.h"
#include "persam/dataset.h"
#include "persam/outputs.h"
#include "persam/report_json.h"
#include "weights/json.h"

namespace persam {
namespace fs = std::filesystem;

namespace {

void AddTimings(StageTimings* to, const StageTimings& from) {
  for (const auto& [name, seconds] : from.entries()) to->Add(name, seconds);
}

PersonalizeOptions PersamF(const MultiObjectOptions& options) {
  PersonalizeOptions p;
  p.finetune = true;
  p.training = options.training;
  return p;
}

void CheckOptions(const MultiObjectOptions& o) {
  if (!(o.training_percentage > 0.0 && o.training_percentage <= 1.0)) {
    throw Error("multi-object: the training percentage must be in (0, 1], got " +
                std::to_string(o.training_percentage));
  }
  if (o.max_objects < 1 || o.max_objects > 255) {
    throw Error("multi-object: max objects must be 1 .. 255, got " + std::to_string(o.max_objects));
  }
  if (!(o.iou_threshold >= 0.0 && o.iou_threshold <= 1.0)) {
    throw Error("multi-object: the IoU threshold must be in [0, 1], got " + std::to_string(o.iou_threshold));
  }
  if (o.training.steps < 1) throw Error("multi-object: the training needs at least one step");
}

std::string AnnotationPath(const std::string& root, const std::string& object, const std::string& name) {
  return (fs::path(root) / "Annotations" / object / (name + ".png")).string();
}

}  // namespace

std::vector<std::string> MultiObjectDeviations() {
  return {
      "the training images are fused (features pooled over all of them, one pair of weights trained on the sum "
      "of their losses); the reference retrains on each and keeps only the last",
      "NN.png holds the union of the instances found; the reference writes the last iteration's mask only "
      "(when the IoU rule stopped, the rejected duplicate)",
  };
}

double MaskIoU(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int64_t inter = 0, uni = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    inter += a[i] && b[i];
    uni += a[i] || b[i];
  }
  // ref: calculate_iou: numpy 0 / 0 is NaN (and NaN >= threshold is false).
  if (uni == 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(inter) / static_cast<double>(uni);
}

MultiObjectTraining TrainMultiObject(const SamModel& model, const std::vector<std::string>& images,
                                     const std::vector<std::string>& masks, const MultiObjectOptions& options) {
  if (images.empty() || images.size() != masks.size()) throw Error("multi-object: no training image");
  MultiObjectTraining t;
  t.images = images;
  t.masks = masks;
  if (options.mode == MultiObjectMode::kReference) {
    // ref: every training image from scratch (new weights, own feature);
    // the loop variables of the last one are what testing reads.
    for (size_t r = 0; r < images.size(); ++r) {
      Personalizer personalizer(model, PersamF(options));
      personalizer.SetReference(LoadImage(images[r]), LoadImage(masks[r]), masks[r]);
      t.summaries.push_back(personalizer.reference());
      t.target = personalizer.reference().target;
      t.weights = personalizer.mask_weights();
      t.ref_height = personalizer.reference().height;
      t.ref_width = personalizer.reference().width;
    }
    return t;
  }
  std::vector<ReferenceInput> refs;
  for (size_t r = 0; r < images.size(); ++r) refs.push_back({images[r], masks[r]});
  LearnResult learned = LearnConcept(model, ConceptModelIdentity{}, refs, PersamF(options));
  t.summaries = std::move(learned.summaries);
  t.target = std::move(learned.learned.target);
  t.weights = learned.learned.mask_weights;
  t.ref_height = learned.learned.references[0].height;
  t.ref_width = learned.learned.references[0].width;
  return t;
}

MultiObjectImage FindInstancesByBlackout(const SamModel& model, const Personalizer& personalizer,
                                         const RgbImage& image, const MultiObjectOptions& options,
                                         const std::string& where) {
  const bool reference = options.mode == MultiObjectMode::kReference;
  MultiObjectImage result;
  result.height = image.height;
  result.width = image.width;
  const size_t plane = static_cast<size_t>(image.height) * image.width;
  RgbImage current = image;
  ImageEmbedding embedding;
  bool encoded = false;
  std::vector<std::vector<uint8_t>> history;
  for (int i = 0; i < options.max_objects; ++i) {
    const std::string at = where + ", iteration " + std::to_string(i);
    // ref: set_image every iteration; an image nothing was blacked out of
    // encodes to the same embedding, so it is reused.
    if (!encoded) {
      ScopedStage stage(&result.timings, "encoder");
      embedding = model.EncodeImage(current, nullptr);
      encoded = true;
    }
    MultiObjectIteration it;
    it.outcome = personalizer.Segment(embedding);
    AddTimings(&result.timings, it.outcome.timings);
    const std::vector<uint8_t>& final_mask = it.outcome.mask;
    if (it.outcome.empty_at_step != 0) {
      const std::string what = at + ", decoder call " + std::to_string(it.outcome.empty_at_step) +
                               ": its mask is empty";
      if (reference) throw MultiObjectCrash(what + " (the reference crashes taking its box)");
      result.deviations.push_back(what + "; fell back as 'persam personalize' does");
    }
    if (it.outcome.mask_area == 0 && !reference) {
      result.deviations.push_back(at + ": the final mask is empty; no further instance (not counted)");
      result.iterations.push_back(std::move(it));
      break;
    }
    // ref: test_image[mask] = 0, in place, before the IoU test.
    if (it.outcome.mask_area > 0) {
      for (size_t p = 0; p < plane; ++p) {
        if (final_mask[p]) current.pixels[3 * p] = current.pixels[3 * p + 1] = current.pixels[3 * p + 2] = 0;
      }
      encoded = false;
    }
    bool stop = false;
    for (const std::vector<uint8_t>& h : history) {
      const double iou = MaskIoU(h, final_mask);
      it.iou_vs_history.push_back(iou);
      if (iou >= options.iou_threshold) {
        stop = true;
        break;
      }
    }
    result.iterations.push_back(std::move(it));
    if (stop) {
      result.stopped_by_iou = true;
      break;
    }
    history.push_back(result.iterations.back().outcome.mask);
  }
  result.objects_found = static_cast<int>(history.size());
  if (reference) {
    result.output = result.iterations.back().outcome.mask;
  } else {
    result.output.assign(plane, 0);
    for (const std::vector<uint8_t>& h : history) {
      for (size_t p = 0; p < plane; ++p) result.output[p] |= h[p];
    }
  }
  return result;
}

MultiObjectReport RunMultiObject(const SamModel& model, const std::string& data_root,
                                 const MultiObjectOptions& options, const MultiObjectProgress& progress) {
  CheckOptions(options);
  const bool reference = options.mode == MultiObjectMode::kReference;
  const std::vector<DatasetObject> objects = ScanPerSegDataset(data_root);
  MultiObjectReport report;
  report.options = options;
  if (!reference) report.deviations = MultiObjectDeviations();
  // Everything is checked before anything is written: the training share of
  // every object, every image and mask decodable.
  std::vector<size_t> train_counts;
  for (const DatasetObject& object : objects) {
    // ref: int(len(os.listdir(Images/<obj>)) * training_percentage).
    const size_t n = static_cast<size_t>(static_cast<double>(object.images.size()) * options.training_percentage);
    if (n == 0 && reference) {
      throw MultiObjectCrash("object '" + object.name + "': " + std::to_string(object.images.size()) +
                             " image(s) x training percentage " + std::to_string(options.training_percentage) +
                             " leaves no training image (the reference crashes with a NameError)");
    }
    train_counts.push_back(std::max<size_t>(n, 1));
    for (size_t i = 0; i < object.images.size(); ++i) {
      (void)LoadImage(object.images[i].path);
      if (i < train_counts.back()) {
        (void)LoadImage(AnnotationPath(data_root, object.name, object.images[i].name));
      }
    }
  }
  for (size_t k = 0; k < objects.size(); ++k) {
    const DatasetObject& object = objects[k];
    MultiObjectObject out;
    out.name = object.name;
    const int total = static_cast<int>(object.images.size()) + 1;
    if (progress) progress(object.name, 0, total, "training on " + std::to_string(train_counts[k]) + " image(s)");
    std::vector<std::string> images, masks;
    for (size_t i = 0; i < train_counts[k]; ++i) {
      images.push_back(object.images[i].path);
      masks.push_back(AnnotationPath(data_root, object.name, object.images[i].name));
    }
    if (!reference && train_counts[k] > static_cast<size_t>(static_cast<double>(object.images.size()) *
                                                            options.training_percentage)) {
      report.deviations.push_back("object '" + object.name + "': the training share rounds to 0 images; trained on " +
                                  object.images[0].name);
    }
    out.training = TrainMultiObject(model, images, masks, options);
    for (const ReferenceSummary& s : out.training.summaries) AddTimings(&report.totals, s.timings);
    Personalizer personalizer(model, PersamF(options));
    personalizer.SetLearned(out.training.target, out.training.weights, out.training.ref_height,
                            out.training.ref_width);
    const std::string dir = options.out_dir.empty() ? "" : (fs::path(options.out_dir) / object.name).string();
    if (!dir.empty()) MakeOutputDirectory(dir);
    for (size_t i = 0; i < object.images.size(); ++i) {
      const DatasetImage& entry = object.images[i];
      if (progress) progress(object.name, static_cast<int>(i) + 1, total, entry.name);
      const RgbImage image = LoadImage(entry.path);
      MultiObjectImage found = FindInstancesByBlackout(model, personalizer, image, options,
                                                       "object '" + object.name + "', image " + entry.name);
      found.name = entry.name;
      found.path = entry.path;
      if (!dir.empty()) {
        ScopedStage stage(&found.timings, "output");
        WriteMaskPng((fs::path(dir) / (entry.name + ".png")).string(), found.output, found.height, found.width);
        if (options.write_visualization) {
          // ref: vis_mask_NN_objects:<k>.jpg; here the accepted masks and their points.
          std::vector<uint8_t> accepted(found.output.size(), 0);
          std::vector<PointPrompt> points;
          for (int j = 0; j < found.objects_found; ++j) {
            const ImageOutcome& o = found.iterations[j].outcome;
            for (size_t p = 0; p < accepted.size(); ++p) accepted[p] |= o.mask[p];
            points.insert(points.end(), o.prior_points.begin(), o.prior_points.end());
          }
          WriteVisualizationJpeg(
              (fs::path(dir) / ("vis_mask_" + entry.name + "_objects:" + std::to_string(found.objects_found) + ".jpg"))
                  .string(),
              image, accepted, points);
        }
      }
      AddTimings(&report.totals, found.timings);
      report.deviations.insert(report.deviations.end(), found.deviations.begin(), found.deviations.end());
      out.images.push_back(std::move(found));
    }
    report.objects.push_back(std::move(out));
  }
  return report;
}

namespace {

JsonValue IouJson(const std::vector<double>& values) {
  std::vector<JsonValue> items;
  for (double v : values) items.push_back(std::isnan(v) ? JsonValue::Null() : JsonValue::Number(v));
  return JsonValue::Array(std::move(items));
}

JsonValue TrainingJson(const MultiObjectTraining& t) {
  std::vector<JsonValue> refs;
  for (size_t r = 0; r < t.summaries.size(); ++r) {
    refs.push_back(JsonValue::Object({{"image", JsonValue::String(t.images[r])},
                                      {"mask", JsonValue::String(t.masks[r])},
                                      {"reference", ReferenceJson(t.summaries[r])}}));
  }
  return JsonValue::Object({{"references", JsonValue::Array(std::move(refs))},
                            {"mask_weights", NumbersJson(t.weights.data(), 3)}});
}

JsonValue ImageJson(const MultiObjectImage& image) {
  std::vector<JsonValue> iterations;
  for (const MultiObjectIteration& it : image.iterations) {
    std::vector<JsonValue> steps;
    for (const DecoderStep& s : it.outcome.steps) steps.push_back(StepJson(s));
    iterations.push_back(JsonValue::Object({{"prior_points", PointsJson(it.outcome.prior_points)},
                                            {"steps", JsonValue::Array(std::move(steps))},
                                            {"final_area", JsonValue::Integer(it.outcome.mask_area)},
                                            {"iou_vs_history", IouJson(it.iou_vs_history)},
                                            {"warnings", StringsJson(it.outcome.warnings)}}));
  }
  return JsonValue::Object({{"name", JsonValue::String(image.name)},
                            {"image", JsonValue::String(image.path)},
                            {"size", SizeJson(image.height, image.width)},
                            {"iterations", JsonValue::Array(std::move(iterations))},
                            {"objects_found", JsonValue::Integer(image.objects_found)},
                            {"stopped_by_iou", JsonValue::Bool(image.stopped_by_iou)},
                            {"timings", TimingsJson(image.timings)}});
}

}  // namespace

std::string MultiObjectReportJson(const MultiObjectReport& report) {
  const MultiObjectOptions& o = report.options;
  std::vector<JsonValue> objects;
  for (const MultiObjectObject& object : report.objects) {
    std::vector<JsonValue> images;
    for (const MultiObjectImage& image : object.images) images.push_back(ImageJson(image));
    objects.push_back(JsonValue::Object({{"name", JsonValue::String(object.name)},
                                         {"training", TrainingJson(object.training)},
                                         {"images", JsonValue::Array(std::move(images))}}));
  }
  return WriteJson(JsonValue::Object({
             {"method", JsonValue::String("persam_f_multi_obj")},
             {"mode", JsonValue::String(o.mode == MultiObjectMode::kReference ? "reference" : "corrected")},
             {"training_percentage", JsonValue::Number(o.training_percentage)},
             {"train_steps", JsonValue::Integer(o.training.steps)},
             {"max_objects", JsonValue::Integer(o.max_objects)},
             {"iou_threshold", JsonValue::Number(o.iou_threshold)},
             {"deviations", StringsJson(report.deviations)},
             {"timings", TimingsJson(report.totals)},
             {"objects", JsonValue::Array(std::move(objects))},
         })) +
         "\n";
}

}  // namespace persam
