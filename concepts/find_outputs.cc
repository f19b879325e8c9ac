#include "concepts/find_outputs.h"

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "persam/outputs.h"
#include "weights/json.h"

namespace persam {
namespace fs = std::filesystem;
namespace {

// DIR/<folder>/<name><suffix>, its parent folders created.
std::string OutputPath(const std::string& dir, const std::string& folder, const std::string& name,
                       const std::string& suffix) {
  const fs::path path = fs::path(dir) / folder / (name + suffix);
  MakeOutputDirectory(path.parent_path().string());
  return path.string();
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw Error("cannot write '" + path + "'");
}

std::string Relative(const std::string& path, const std::string& dir) {
  return fs::path(path).lexically_relative(dir).generic_string();
}

}  // namespace

std::vector<uint8_t> CutoutRgba(const RgbImage& image, const FoundInstance& instance) {
  const auto [x0, y0, x1, y1] = instance.bbox;
  const int w = x1 - x0 + 1, h = y1 - y0 + 1;
  std::vector<uint8_t> rgba(static_cast<size_t>(w) * h * 4);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const size_t src = static_cast<size_t>(y0 + y) * image.width + (x0 + x);
      uint8_t* out = &rgba[(static_cast<size_t>(y) * w + x) * 4];
      for (int c = 0; c < 3; ++c) out[c] = image.pixels[3 * src + c];
      out[3] = instance.mask[src] ? 255 : 0;
    }
  }
  return rgba;
}

std::string WriteFindOutputs(const std::string& dir, const TargetImage& target, const RgbImage& image,
                             const FindResult& result, const FindOutputOptions& options) {
  const std::string labels = OutputPath(dir, "labels", target.name, ".png");
  WriteAtomically(labels, [&](const std::string& temp) {
    SaveGrayPng(temp, result.height, result.width, result.labels.data());
  });
  std::vector<JsonValue> instances;
  std::vector<uint8_t> all(result.labels.size());
  std::vector<PointPrompt> points;
  for (size_t k = 0; k < result.instances.size(); ++k) {
    const FoundInstance& inst = result.instances[k];
    const std::string suffix = "." + std::to_string(k + 1) + ".png";
    const std::string mask = OutputPath(dir, "masks", target.name, suffix);
    std::vector<uint8_t> grey(inst.mask.size());
    for (size_t i = 0; i < grey.size(); ++i) grey[i] = inst.mask[i] ? 255 : 0;
    WriteAtomically(mask, [&](const std::string& temp) { SaveGrayPng(temp, result.height, result.width, grey.data()); });
    for (size_t i = 0; i < all.size(); ++i) all[i] |= inst.mask[i];
    points.push_back(inst.point);
    std::vector<std::pair<std::string, JsonValue>> m = {
        {"label", JsonValue::Integer(static_cast<int64_t>(k + 1))},
        {"bbox", JsonValue::Array({JsonValue::Integer(inst.bbox[0]), JsonValue::Integer(inst.bbox[1]),
                                   JsonValue::Integer(inst.bbox[2]), JsonValue::Integer(inst.bbox[3])})},
        {"area", JsonValue::Integer(inst.area)},
        {"score", JsonValue::Number(inst.score)},
        {"similarity", JsonValue::Number(inst.similarity)},
        {"point", JsonValue::Array({JsonValue::Number(inst.point.x), JsonValue::Number(inst.point.y)})},
        {"mask", JsonValue::String(Relative(mask, dir))},
    };
    if (options.cutout) {
      const std::string cutout = OutputPath(dir, "cutouts", target.name, suffix);
      const std::vector<uint8_t> rgba = CutoutRgba(image, inst);
      const int w = inst.bbox[2] - inst.bbox[0] + 1, h = inst.bbox[3] - inst.bbox[1] + 1;
      WriteAtomically(cutout, [&](const std::string& temp) {
        WriteBytes(temp, EncodeRgbaPng(h, w, rgba.data()));
      });
      m.emplace_back("cutout", JsonValue::String(Relative(cutout, dir)));
    }
    instances.push_back(JsonValue::Object(std::move(m)));
  }
  if (options.overlay) {
    const std::string overlay = OutputPath(dir, "overlays", target.name, ".jpg");
    WriteVisualizationJpeg(overlay, image, all, points);
  }
  std::vector<JsonValue> warnings;
  for (const std::string& w : result.warnings) warnings.push_back(JsonValue::String(w));
  return WriteJson(JsonValue::Object({
      {"path", JsonValue::String(target.path)},
      {"name", JsonValue::String(target.name)},
      {"present", JsonValue::Bool(result.present)},
      {"similarity", JsonValue::Number(result.similarity)},
      {"labels", JsonValue::String(Relative(labels, dir))},
      {"instances", JsonValue::Array(std::move(instances))},
      {"stop", JsonValue::String(result.stop_reason)},
      {"warnings", JsonValue::Array(std::move(warnings))},
  }));
}

std::string FindErrorJson(const TargetImage& target, const std::string& error) {
  return WriteJson(JsonValue::Object({
      {"path", JsonValue::String(target.path)},
      {"name", JsonValue::String(target.name)},
      {"present", JsonValue::Bool(false)},
      {"error", JsonValue::String(error)},
  }));
}

std::set<std::string> KeepFinishedResults(const std::string& path, const std::vector<TargetImage>& targets) {
  std::set<std::string> wanted, done;
  for (const TargetImage& t : targets) wanted.insert(t.name);
  std::ifstream in(path, std::ios::binary);
  if (!in) return done;
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    try {
      const JsonValue v = ParseJson(line.data(), line.size(), path);
      const JsonValue* name = v.IsObject() ? v.Find("name") : nullptr;
      if (name == nullptr || !name->IsString() || v.Find("error") != nullptr || !wanted.count(name->AsString())) {
        continue;
      }
      if (done.insert(name->AsString()).second) kept += line + "\n";
    } catch (const Error&) {
      // A line cut off by the interruption: that image runs again.
    }
  }
  in.close();
  WriteAtomically(path, [&](const std::string& temp) {
    std::ofstream out(temp, std::ios::binary);
    out << kept;
    out.close();
    if (!out) throw Error("cannot write '" + path + "'");
  });
  return done;
}

}  // namespace persam
