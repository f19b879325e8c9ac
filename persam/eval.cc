#include "persam/eval.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "weights/json.h"
#include "base/error.h"

namespace persam {
namespace fs = std::filesystem;

std::vector<uint8_t> GrayForeground(const RgbImage& image) {
  const size_t n = static_cast<size_t>(image.height) * image.width;
  std::vector<uint8_t> out(n);
  const uint8_t* p = image.pixels.data();
  for (size_t i = 0; i < n; ++i, p += 3) {
    // ref: OpenCV color_rgb2gray (yuv_shift 14): gray > 0 <=> sum >= 2^13.
    const int sum = 4899 * p[0] + 9617 * p[1] + 1868 * p[2];
    out[i] = sum >= (1 << 13) ? 1 : 0;
  }
  return out;
}

MaskPairCounts CountMaskPair(const std::vector<uint8_t>& pred, const std::vector<uint8_t>& gt) {
  MaskPairCounts c;
  const size_t n = std::min(pred.size(), gt.size());
  for (size_t i = 0; i < n; ++i) {
    const bool p = pred[i] != 0, t = gt[i] != 0;
    c.intersection += p && t;
    c.union_ += p || t;
    c.target += t;
  }
  return c;
}

namespace {

// Path.rglob("*.png") sorted: recursive, ordered part by part.
std::vector<std::vector<std::string>> SortedPngs(const fs::path& dir) {
  std::vector<std::vector<std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    if (p.extension() != ".png") continue;
    std::vector<std::string> parts;
    for (const auto& part : fs::relative(p, dir)) parts.push_back(part.string());
    out.push_back(std::move(parts));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string JoinParts(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& part : parts) s += (s.empty() ? "" : "/") + part;
  return s;
}

bool HasPngs(const fs::path& dir) { return !SortedPngs(dir).empty(); }

// The mistakes that would otherwise score every object 0.00 with exit
// status 0: --gt at the dataset root (or at Images/), --pred at a folder
// without one sub-folder per object.
void CheckLayout(const std::string& pred_dir, const std::string& gt_dir, const std::vector<std::string>& names) {
  std::error_code ec;
  if (fs::is_directory(fs::path(gt_dir) / "Annotations", ec)) {
    throw Error("--gt '" + gt_dir + "' is a dataset root (it holds Annotations/): pass --gt " +
                (fs::path(gt_dir) / "Annotations").string());
  }
  bool any_gt = false, any_pred = false;
  std::string missing;
  for (const std::string& name : names) {
    any_gt = any_gt || HasPngs(fs::path(gt_dir) / name);
    const bool here = fs::is_directory(fs::path(pred_dir) / name, ec);
    any_pred = any_pred || here;
    if (!here && missing.size() < 200) missing += (missing.empty() ? "" : ", ") + name;
  }
  if (!any_gt) {
    throw Error("--gt '" + gt_dir + "' has object folders but no .png masks in them: it should be the dataset's "
                "Annotations folder (DATA/Annotations/<object>/NN.png)");
  }
  if (!any_pred) {
    throw Error("--pred '" + pred_dir + "' has none of the object folders of --gt '" + gt_dir + "' (" + missing +
                "): it should be the --out folder of 'persam personalize --dataset' (DIR/<object>/NN.png)");
  }
}

}  // namespace

EvalResult EvaluatePredictions(const std::string& pred_dir, const std::string& gt_dir,
                               const std::string& ref_idx) {
  std::error_code ec;
  if (!fs::is_directory(gt_dir, ec)) throw Error("ground-truth directory '" + gt_dir + "' not found");
  if (!fs::is_directory(pred_dir, ec)) throw Error("prediction directory '" + pred_dir + "' not found");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(gt_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".DS") != std::string::npos || !entry.is_directory()) continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) throw Error("no object directories in '" + gt_dir + "'");
  CheckLayout(pred_dir, gt_dir, names);

  EvalResult result;
  for (const std::string& name : names) {
    ObjectScore score;
    score.name = name;
    const fs::path gt_class = fs::path(gt_dir) / name;
    const fs::path pred_class = fs::path(pred_dir) / name;
    const auto gts = SortedPngs(gt_class);
    const auto preds = SortedPngs(pred_class);
    if (preds.empty()) {
      result.warnings.push_back("no predictions for object '" + name + "' in '" + pred_class.string() +
                                "': scored 0, as eval_miou.py does");
    }
    for (size_t i = 0; i < std::min(gts.size(), preds.size()); ++i) {
      const std::string gt_rel = name + "/" + JoinParts(gts[i]);
      if (gt_rel.find(ref_idx) != std::string::npos) continue;  // ref: `if args.ref_idx in gt_img`
      const std::string gt_path = (gt_class / JoinParts(gts[i])).string();
      const std::string pred_path = (pred_class / JoinParts(preds[i])).string();
      const RgbImage gt = LoadImage(gt_path);
      const RgbImage pred = LoadImage(pred_path);
      if (gt.height != pred.height || gt.width != pred.width) {
        throw Error("prediction '" + pred_path + "' is " + std::to_string(pred.width) + "x" +
                    std::to_string(pred.height) + " but ground truth '" + gt_path + "' is " +
                    std::to_string(gt.width) + "x" + std::to_string(gt.height));
      }
      const MaskPairCounts c = CountMaskPair(GrayForeground(pred), GrayForeground(gt));
      score.counts.intersection += c.intersection;
      score.counts.union_ += c.union_;
      score.counts.target += c.target;
      ++score.images;
    }
    score.iou = score.counts.intersection / (score.counts.union_ + 1e-10);
    score.accuracy = score.counts.intersection / (score.counts.target + 1e-10);
    result.mean_iou += score.iou;
    result.mean_accuracy += score.accuracy;
    result.objects.push_back(score);
  }
  result.mean_iou /= static_cast<double>(result.objects.size());
  result.mean_accuracy /= static_cast<double>(result.objects.size());
  return result;
}

std::string FormatEvalText(const EvalResult& result) {
  std::string out;
  char line[512];
  for (const ObjectScore& s : result.objects) {
    std::snprintf(line, sizeof(line), "%s, IoU: %.2f, Acc: %.2f\n\n", s.name.c_str(), 100 * s.iou,
                  100 * s.accuracy);
    out += line;
  }
  std::snprintf(line, sizeof(line), "\nmIoU: %.2f\nmAcc: %.2f\n\n", 100 * result.mean_iou,
                100 * result.mean_accuracy);
  out += line;
  return out;
}

std::string FormatEvalJson(const EvalResult& result) {
  std::vector<JsonValue> objects;
  for (const ObjectScore& s : result.objects) {
    objects.push_back(JsonValue::Object({
        {"name", JsonValue::String(s.name)},
        {"images", JsonValue::Integer(s.images)},
        {"iou", JsonValue::Number(100 * s.iou)},
        {"accuracy", JsonValue::Number(100 * s.accuracy)},
        {"intersection", JsonValue::Integer(s.counts.intersection)},
        {"union", JsonValue::Integer(s.counts.union_)},
        {"target", JsonValue::Integer(s.counts.target)},
    }));
  }
  return WriteJson(JsonValue::Object({
             {"objects", JsonValue::Array(std::move(objects))},
             {"miou", JsonValue::Number(100 * result.mean_iou)},
             {"macc", JsonValue::Number(100 * result.mean_accuracy)},
         })) +
         "\n";
}

}  // namespace persam
