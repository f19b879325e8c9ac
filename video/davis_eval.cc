#include "video/davis_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "base/error.h"
#include "video/label_png.h"
#include "weights/json.h"

namespace persam {
namespace fs = std::filesystem;

namespace {

constexpr uint8_t kVoid = 255;

// ref: davis.py: sequences_names = [x.strip() for x in f.readlines()].
std::vector<std::string> ReadImageSet(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("DAVIS image set '" + path + "' not found (expected ROOT/ImageSets/2017/<set>.txt)");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const size_t b = line.find_first_not_of(" \t\r\n\f\v");
    const size_t e = line.find_last_not_of(" \t\r\n\f\v");
    names.push_back(b == std::string::npos ? "" : line.substr(b, e - b + 1));
  }
  return names;
}

// Sorted names of the files in `dir` ending in `suffix` (glob + np.sort).
std::vector<std::string> SortedFiles(const fs::path& dir, const std::string& suffix) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        name[0] != '.') {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ref: ''.join(obj.split('/')[-1].split('.')[:-1]): the name without its
// last extension and without the other dots.
std::string FrameId(const std::string& file) {
  std::string stem = file.substr(0, file.rfind('.'));
  stem.erase(std::remove(stem.begin(), stem.end(), '.'), stem.end());
  return stem;
}

void CheckSize(const LabelMap& map, int height, int width, const std::string& path, const std::string& what) {
  if (map.height != height || map.width != width) {
    throw Error("'" + path + "' is " + std::to_string(map.width) + "x" + std::to_string(map.height) + " but " +
                what + " is " + std::to_string(width) + "x" + std::to_string(height));
  }
}

DavisSequenceScores EvaluateSequence(const fs::path& root, const fs::path& results, const std::string& seq) {
  DavisSequenceScores s;
  s.name = seq;
  const fs::path ann_dir = root / "Annotations" / "480p" / seq;
  const fs::path img_dir = root / "JPEGImages" / "480p" / seq;
  const std::vector<std::string> images = SortedFiles(img_dir, ".jpg");
  const std::vector<std::string> masks = SortedFiles(ann_dir, ".png");
  if (masks.size() < images.size()) {
    throw Error("sequence '" + seq + "': " + std::to_string(masks.size()) + " annotations in '" + ann_dir.string() +
                "' for " + std::to_string(images.size()) + " frames (the toolkit needs one per frame)");
  }
  if (masks.size() < 3) {
    throw Error("sequence '" + seq + "': '" + ann_dir.string() + "' has " + std::to_string(masks.size()) +
                " annotations; the first and last are not scored, so at least 3 are needed");
  }
  // ref: get_all_masks: 255 (void) -> 0; objects = max id of frame 0.
  std::vector<LabelMap> truth;
  for (const std::string& m : masks) {
    const std::string path = (ann_dir / m).string();
    truth.push_back(ReadLabelPng(path));
    if (truth.size() > 1) CheckSize(truth.back(), truth[0].height, truth[0].width, path, "the first annotation");
    for (uint8_t& v : truth.back().ids) v = v == kVoid ? 0 : v;
  }
  s.height = truth[0].height;
  s.width = truth[0].width;
  s.gt_objects = *std::max_element(truth[0].ids.begin(), truth[0].ids.end());
  s.bound_pix = BoundaryRadius(s.height, s.width);

  // ref: results.py read_masks: <results>/<seq>/<id>.png for the scored ids.
  std::vector<LabelMap> result;
  std::string max_file;
  for (size_t t = 1; t + 1 < masks.size(); ++t) {
    const std::string id = FrameId(masks[t]);
    s.frames.push_back(id);
    const fs::path path = results / seq / (id + ".png");
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      throw Error("result frame '" + path.string() + "' not found: sequence '" + seq + "' needs one PNG per annotated frame " +
                  s.frames.front() + ".." + FrameId(masks[masks.size() - 2]) + " (indexed, ids as in the first annotation)");
    }
    result.push_back(ReadLabelPng(path.string()));
    CheckSize(result.back(), s.height, s.width, path.string(), "the annotation '" + (ann_dir / masks[t]).string() + "'");
    const int frame_max = *std::max_element(result.back().ids.begin(), result.back().ids.end());
    if (frame_max > s.res_objects) {
      s.res_objects = frame_max;
      max_file = path.string();
    }
  }
  if (s.res_objects > s.gt_objects) {
    throw Error("result '" + max_file + "' holds object id " + std::to_string(s.res_objects) + " but sequence '" + seq +
                "' has " + std::to_string(s.gt_objects) + " object(s) (the largest id of '" + (ann_dir / masks[0]).string() +
                "'); the toolkit stops here: \"In your PNG files there is an index higher than the number of objects\"");
  }

  const int64_t plane = static_cast<int64_t>(s.height) * s.width;
  std::vector<uint8_t> r(plane), g(plane);
  for (int id = 1; id <= s.gt_objects; ++id) {
    DavisObjectScores o;
    o.id = id;
    for (size_t k = 0; k < result.size(); ++k) {
      const LabelMap& gt = truth[k + 1];
      for (int64_t i = 0; i < plane; ++i) {
        r[i] = result[k].ids[i] == id;
        g[i] = gt.ids[i] == id;
      }
      o.j.push_back(JaccardIndex(r.data(), g.data(), plane));
      o.f.push_back(BoundaryF(r.data(), g.data(), s.height, s.width));
    }
    o.j_stats = DavisStatistics(o.j);
    o.f_stats = DavisStatistics(o.f);
    s.objects.push_back(std::move(o));
  }
  return s;
}

// pandas to_csv(float_format="%.3f"): printf, NaN as an empty field.
std::string Csv3f(double v) {
  if (std::isnan(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

// pandas' FloatArrayFormatter with display.precision 6: "%.6f" for the whole
// column, switched to "%.6e" when a non-zero value is below 1e-6 (or a value
// above 1e6 makes it longer than 12 characters), then trailing zeros trimmed
// while every fixed-point value ends in 0 (one digit kept after the point).
std::vector<std::string> PandasFloatColumn(const std::vector<double>& values) {
  auto format = [&](const char* f) {
    std::vector<std::string> out;
    for (double v : values) {
      char buf[64];
      if (std::isnan(v)) {
        out.push_back("NaN");
      } else {
        std::snprintf(buf, sizeof(buf), f, v);
        out.push_back(buf);
      }
    }
    return out;
  };
  std::vector<std::string> out = format("%.6f");
  size_t max_len = 0;
  bool large = false, small = false;
  for (size_t i = 0; i < values.size(); ++i) {
    max_len = std::max(max_len, out[i].size());
    const double a = std::fabs(values[i]);
    large = large || a > 1e6;
    small = small || (a < 1e-6 && a > 0);
  }
  if (small || (max_len > 12 && large)) return format("%.6e");
  auto is_decimal = [](const std::string& s) {
    size_t i = 0;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const size_t digits = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == digits || i >= s.size() || s[i] != '.') return false;
    for (++i; i < s.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    }
    return true;
  };
  for (;;) {
    bool any = false, all_zero = true;
    for (const std::string& s : out) {
      if (!is_decimal(s)) continue;
      any = true;
      all_zero = all_zero && s.back() == '0';
    }
    if (!any || !all_zero) break;
    for (std::string& s : out) {
      if (is_decimal(s)) s.pop_back();
    }
  }
  for (std::string& s : out) {
    if (is_decimal(s) && s.back() == '.') s += '0';
  }
  return out;
}

struct TableColumn {
  std::string header;
  std::vector<std::string> cells;
};

// DataFrame.to_string(index=False): numeric headers get a leading space,
// every column is right-justified to its widest cell, columns are joined by
// one space.
std::string PandasTable(const std::vector<TableColumn>& columns) {
  std::vector<size_t> widths;
  size_t rows = 0;
  for (const TableColumn& c : columns) {
    size_t w = c.header.size();
    for (const std::string& s : c.cells) w = std::max(w, s.size());
    widths.push_back(w);
    rows = std::max(rows, c.cells.size());
  }
  auto pad = [](const std::string& s, size_t w) { return std::string(w - std::min(w, s.size()), ' ') + s; };
  std::string text;
  for (size_t r = 0; r <= rows; ++r) {
    for (size_t c = 0; c < columns.size(); ++c) {
      if (c > 0) text += ' ';
      text += pad(r == 0 ? columns[c].header : columns[c].cells[r - 1], widths[c]);
    }
    text += '\n';
  }
  return text;
}

const char* const kGlobalHeaders[7] = {"J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"};

struct PerObjectRow {
  std::string name;
  double j, f;
};

std::vector<PerObjectRow> PerObjectRows(const DavisEvaluation& e) {
  std::vector<PerObjectRow> rows;
  for (const DavisSequenceScores& s : e.sequences) {
    for (const DavisObjectScores& o : s.objects) {
      rows.push_back({s.name + "_" + std::to_string(o.id), o.j_stats.mean, o.f_stats.mean});
    }
  }
  return rows;
}

JsonValue NumberOrNull(double v) { return std::isnan(v) ? JsonValue::Null() : JsonValue::Number(v); }

JsonValue NumbersJson(const std::vector<double>& v) {
  std::vector<JsonValue> items;
  for (double x : v) items.push_back(NumberOrNull(x));
  return JsonValue::Array(std::move(items));
}

JsonValue StatsJson(const MeasureStatistics& s) {
  return JsonValue::Object({{"mean", NumberOrNull(s.mean)}, {"recall", NumberOrNull(s.recall)},
                            {"decay", NumberOrNull(s.decay)}});
}

}  // namespace

DavisEvaluation EvaluateDavis(const std::string& root, const std::string& results, const std::string& set) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error("DAVIS root '" + root + "' is not a directory");
  if (!fs::is_directory(results, ec)) throw Error("results folder '" + results + "' is not a directory");
  const fs::path root_path(root), results_path(results);
  const std::vector<std::string> set_names = ReadImageSet((root_path / "ImageSets" / "2017" / (set + ".txt")).string());
  // ref: DAVIS.__init__: every sequence of the set needs its JPEG frames.
  for (const std::string& name : set_names) {
    if (name.empty() || SortedFiles(root_path / "JPEGImages" / "480p" / name, ".jpg").empty()) {
      throw Error("DAVIS: images for sequence '" + name + "' of ImageSets/2017/" + set + ".txt not found in '" +
                  (root_path / "JPEGImages" / "480p" / name).string() + "'");
    }
  }
  const std::set<std::string> known(set_names.begin(), set_names.end());
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(results_path)) entries.push_back(entry.path().filename().string());
  std::sort(entries.begin(), entries.end());

  DavisEvaluation e;
  e.set = set;
  for (const std::string& seq : entries) {
    if (!known.count(seq)) {
      throw Error("'" + (results_path / seq).string() + "' is not a sequence of ImageSets/2017/" + set +
                  ".txt (the results folder must hold only sequence folders)");
    }
    e.sequences.push_back(EvaluateSequence(root_path, results_path, seq));
  }
  std::vector<double> jm, jr, jd, fm, fr, fd;
  for (const DavisSequenceScores& s : e.sequences) {
    for (const DavisObjectScores& o : s.objects) {
      jm.push_back(o.j_stats.mean), jr.push_back(o.j_stats.recall), jd.push_back(o.j_stats.decay);
      fm.push_back(o.f_stats.mean), fr.push_back(o.f_stats.recall), fd.push_back(o.f_stats.decay);
    }
  }
  const double means[6] = {NumpyMean(jm), NumpyMean(jr), NumpyMean(jd), NumpyMean(fm), NumpyMean(fr), NumpyMean(fd)};
  e.global[0] = (means[0] + means[3]) / 2.;
  for (int i = 0; i < 6; ++i) e.global[i + 1] = means[i];
  return e;
}

std::string DavisCsvDir(const std::string& results) {
  std::string out;
  const std::string from = "result";
  size_t pos = 0;
  for (;;) {
    const size_t hit = results.find(from, pos);
    if (hit == std::string::npos) break;
    out += results.substr(pos, hit - pos) + "result_csv";
    pos = hit + from.size();
  }
  return out + results.substr(pos);
}

std::string DavisGlobalCsv(const DavisEvaluation& e) {
  std::string text;
  for (int i = 0; i < 7; ++i) text += std::string(i ? "," : "") + kGlobalHeaders[i];
  text += '\n';
  for (int i = 0; i < 7; ++i) text += (i ? "," : "") + Csv3f(e.global[i]);
  return text + '\n';
}

std::string DavisPerSequenceCsv(const DavisEvaluation& e) {
  std::string text = "Sequence,J-Mean,F-Mean\n";
  for (const PerObjectRow& row : PerObjectRows(e)) text += row.name + "," + Csv3f(row.j) + "," + Csv3f(row.f) + "\n";
  return text;
}

std::string DavisTables(const DavisEvaluation& e) {
  std::vector<TableColumn> global;
  for (int i = 0; i < 7; ++i) {
    global.push_back({std::string(" ") + kGlobalHeaders[i], PandasFloatColumn({e.global[i]})});
  }
  const std::vector<PerObjectRow> rows = PerObjectRows(e);
  TableColumn names{"Sequence", {}};
  std::vector<double> j, f;
  for (const PerObjectRow& r : rows) names.cells.push_back(r.name), j.push_back(r.j), f.push_back(r.f);
  const std::vector<TableColumn> per_seq = {names, {" J-Mean", PandasFloatColumn(j)}, {" F-Mean", PandasFloatColumn(f)}};
  // An empty frame prints pandas' "Empty DataFrame" block; here just the header.
  return "--------------------------- Global results for " + e.set + " ---------------------------\n" +
         PandasTable(global) + "\n---------- Per sequence results for " + e.set + " ----------\n" + PandasTable(per_seq);
}

std::string DavisEvaluationJson(const DavisEvaluation& e) {
  std::vector<std::pair<std::string, JsonValue>> global;
  for (int i = 0; i < 7; ++i) global.emplace_back(kGlobalHeaders[i], NumberOrNull(e.global[i]));
  std::vector<JsonValue> sequences;
  for (const DavisSequenceScores& s : e.sequences) {
    std::vector<JsonValue> frames, objects;
    for (const std::string& f : s.frames) frames.push_back(JsonValue::String(f));
    for (const DavisObjectScores& o : s.objects) {
      objects.push_back(JsonValue::Object({{"id", JsonValue::Integer(o.id)},
                                           {"J", NumbersJson(o.j)},
                                           {"F", NumbersJson(o.f)},
                                           {"J_stats", StatsJson(o.j_stats)},
                                           {"F_stats", StatsJson(o.f_stats)}}));
    }
    sequences.push_back(JsonValue::Object({{"name", JsonValue::String(s.name)},
                                           {"frames", JsonValue::Array(std::move(frames))},
                                           {"size", JsonValue::Array({JsonValue::Integer(s.height), JsonValue::Integer(s.width)})},
                                           {"bound_pix", JsonValue::Integer(s.bound_pix)},
                                           {"gt_objects", JsonValue::Integer(s.gt_objects)},
                                           {"res_objects", JsonValue::Integer(s.res_objects)},
                                           {"objects", JsonValue::Array(std::move(objects))}}));
  }
  return WriteJson(JsonValue::Object({{"set", JsonValue::String(e.set)},
                                      {"global", JsonValue::Object(std::move(global))},
                                      {"sequences", JsonValue::Array(std::move(sequences))}})) +
         "\n";
}

}  // namespace persam
