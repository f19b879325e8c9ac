#include "video/video_run.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>

#include "base/error.h"
#include "engine/image.h"
#include "weights/json.h"

namespace persam {
namespace fs = std::filesystem;

namespace {

std::string Frame5(int f) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%05d", f);
  return buf;
}

bool HasImageSuffix(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* s : {".jpg", ".jpeg", ".png"}) {
    const std::string suffix = s;
    if (lower.size() > suffix.size() && lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return true;
    }
  }
  return false;
}

// A first-frame mask: indexed / greyscale PNGs carry ids; any other image
// (an RGB mask) is one object where a pixel is non-zero.
LabelMap ReadFirstMask(const std::string& path) {
  try {
    return ReadLabelPng(path);
  } catch (const Error&) {
    const RgbImage rgb = LoadImage(path);
    LabelMap map;
    map.height = rgb.height, map.width = rgb.width;
    map.ids.resize(static_cast<size_t>(rgb.height) * rgb.width);
    for (size_t i = 0; i < map.ids.size(); ++i) {
      map.ids[i] = (rgb.pixels[3 * i] | rgb.pixels[3 * i + 1] | rgb.pixels[3 * i + 2]) != 0;
    }
    return map;
  }
}

// Each object in its palette colour at half strength, the prior points as
// white squares, the box prompts as outlines.
void WriteOverlay(const std::string& path, const RgbImage& frame, const VideoFrameResult& r,
                  const std::vector<PaletteEntry>& palette) {
  RgbImage out = frame;
  for (size_t i = 0; i < r.labels.ids.size(); ++i) {
    const uint8_t id = r.labels.ids[i];
    if (id == 0 || id >= palette.size()) continue;
    for (int c = 0; c < 3; ++c) out.pixels[3 * i + c] = static_cast<uint8_t>((out.pixels[3 * i + c] + palette[id][c]) / 2);
  }
  auto put = [&](int x, int y, const PaletteEntry& colour) {
    if (x < 0 || y < 0 || x >= out.width || y >= out.height) return;
    for (int c = 0; c < 3; ++c) out.pixels[(static_cast<size_t>(y) * out.width + x) * 3 + c] = colour[c];
  };
  for (const VideoObjectStep& o : r.objects) {
    const PaletteEntry colour = palette[std::min<size_t>(o.slot + 1, palette.size() - 1)];
    for (int x = o.box.x0; x <= o.box.x1; ++x) put(x, o.box.y0, colour), put(x, o.box.y1, colour);
    for (int y = o.box.y0; y <= o.box.y1; ++y) put(o.box.x0, y, colour), put(o.box.x1, y, colour);
    for (const PointPrompt& p : o.prior_points) {
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx) put(static_cast<int>(p.x) + dx, static_cast<int>(p.y) + dy, {255, 255, 255});
    }
  }
  SaveJpeg(path, out, 90);
}

JsonValue PointsJson(const std::vector<PointPrompt>& points) {
  std::vector<JsonValue> items;
  for (const PointPrompt& p : points) items.push_back(JsonValue::Array({JsonValue::Number(p.x), JsonValue::Number(p.y)}));
  return JsonValue::Array(std::move(items));
}

JsonValue BoxJson(const IntBox& b) {
  return JsonValue::Array({JsonValue::Integer(b.x0), JsonValue::Integer(b.y0), JsonValue::Integer(b.x1), JsonValue::Integer(b.y1)});
}

template <class T>
JsonValue NumbersJson(const std::vector<T>& v) {
  std::vector<JsonValue> items;
  for (const T& x : v) items.push_back(JsonValue::Number(static_cast<double>(x)));
  return JsonValue::Array(std::move(items));
}

JsonValue StepJson(const VideoStep& s) {
  std::vector<std::pair<std::string, JsonValue>> m = {
      {"point_coords", PointsJson(s.points)},
      {"box", s.box ? BoxJson(*s.box) : JsonValue::Null()},
      {"has_mask_input", JsonValue::Bool(s.has_mask_input)},
      {"return_logits", JsonValue::Bool(s.return_logits)},
      {"scores", NumbersJson(s.scores)},
      {"mask_area", NumbersJson(s.mask_area)},
      {"chosen_index", s.chosen >= 0 ? JsonValue::Integer(s.chosen) : JsonValue::Null()}};
  if (s.weighted_area >= 0) m.emplace_back("weighted_area", JsonValue::Integer(s.weighted_area));
  return JsonValue::Object(std::move(m));
}

}  // namespace

std::vector<std::string> DavisSequenceNames(const std::string& root, const std::string& set,
                                            const std::vector<std::string>& only) {
  if (!only.empty()) return only;
  const std::string path = (fs::path(root) / "ImageSets" / set).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("DAVIS image set '" + path + "' not found");
  // ref: DAVISTestDataset: each line stripped of its trailing "\n" only.
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) names.push_back(line);
  return names;
}

VideoSequenceInput DavisSequence(const std::string& root, const std::string& name) {
  if (name.empty()) throw Error("an empty line in the image set names no sequence");
  VideoSequenceInput in;
  in.name = name;
  const fs::path images = fs::path(root) / "JPEGImages" / "480p" / name;
  std::error_code ec;
  if (!fs::is_directory(images, ec)) throw Error("sequence folder '" + images.string() + "' not found");
  // ref: T = number of directory entries (any file counts); frames {f:05d}.jpg.
  int count = 0;
  for (auto it = fs::directory_iterator(images); it != fs::directory_iterator(); ++it) ++count;
  if (count < 2) throw Error("sequence '" + images.string() + "' has " + std::to_string(count) + " frame(s); at least 2 are needed");
  for (int f = 0; f < count; ++f) {
    const fs::path p = images / (Frame5(f) + ".jpg");
    if (!fs::exists(p, ec)) {
      throw Error("frame '" + p.string() + "' not found: the folder has " + std::to_string(count) +
                  " entries, so frames 00000.jpg.." + Frame5(count - 1) + ".jpg are read (any other file counts too)");
    }
    in.frames.push_back(p.string());
    in.out_names.push_back(Frame5(f) + ".png");
  }
  in.first_map_path = (fs::path(root) / "Annotations" / "480p" / name / "00000.png").string();
  if (!fs::exists(in.first_map_path, ec)) {
    throw Error("first annotation '" + in.first_map_path + "' not found (the reference would use an empty map and segment nothing)");
  }
  in.first = ReadLabelPng(in.first_map_path);
  return in;
}

VideoSequenceInput FrameFolderSequence(const std::string& frames_dir, const std::string& first_mask) {
  std::error_code ec;
  if (!fs::is_directory(frames_dir, ec)) throw Error("--frames '" + frames_dir + "' is not a directory");
  VideoSequenceInput in;
  in.name = fs::path(frames_dir).lexically_normal().filename().string();
  if (in.name.empty()) in.name = fs::path(frames_dir).lexically_normal().parent_path().filename().string();
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(frames_dir)) {
    const std::string n = e.path().filename().string();
    if (n[0] == '.') continue;
    if (!e.is_regular_file() || !HasImageSuffix(n)) {
      throw Error("'" + e.path().string() + "' in the frame folder is not a JPEG or PNG frame");
    }
    names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  if (names.size() < 2) throw Error("--frames '" + frames_dir + "' holds " + std::to_string(names.size()) + " frame(s); at least 2 are needed");
  for (const std::string& n : names) {
    in.frames.push_back((fs::path(frames_dir) / n).string());
    in.out_names.push_back(fs::path(n).stem().string() + ".png");
  }
  in.first_map_path = first_mask;
  in.first = ReadFirstMask(first_mask);
  return in;
}

std::vector<PaletteEntry> DavisOutputPalette(const std::string& root, std::string* source) {
  const fs::path p = fs::path(root) / "Annotations" / "480p" / "bike-packing" / "00000.png";
  std::error_code ec;
  if (!root.empty() && fs::exists(p, ec)) {
    LabelMap m = ReadLabelPng(p.string());
    if (!m.palette.empty()) {
      *source = p.string();
      std::vector<PaletteEntry> palette = DavisPalette();
      std::copy(m.palette.begin(), m.palette.end(), palette.begin());
      return palette;
    }
  }
  *source = "DAVIS (PASCAL VOC) palette";
  return DavisPalette();
}

VideoSequenceOutcome RunVideoSequence(const SamModel& model, const VideoSequenceInput& input,
                                      const std::vector<PaletteEntry>& palette, const VideoRunOptions& options,
                                      const std::function<void(const std::string&)>& progress) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  VideoSequenceOutcome out;
  out.name = input.name;
  const fs::path dir = fs::path(options.out_dir) / input.name;
  std::error_code ec;
  if (options.skip_existing && fs::exists(dir, ec)) {
    out.skipped = true;
    return out;
  }
  VideoSegmenter segmenter(model, options.video);
  try {
    auto encode = [&](const RgbImage& image) {
      const auto t0 = Clock::now();
      ImageEmbedding e = model.EncodeImage(image, nullptr);
      out.seconds_encoder += std::chrono::duration<double>(Clock::now() - t0).count();
      return e;
    };
    if (std::none_of(input.first.ids.begin(), input.first.ids.end(), [](uint8_t v) { return v != 0; })) {
      throw Error("first mask '" + input.first_map_path + "' is empty (no object: every pixel is 0)");
    }
    const RgbImage frame0 = LoadImage(input.frames[0]);
    if (input.first.height != frame0.height || input.first.width != frame0.width) {
      throw Error("first mask '" + input.first_map_path + "' is " + std::to_string(input.first.width) + "x" +
                  std::to_string(input.first.height) + " but frame '" + input.frames[0] + "' is " +
                  std::to_string(frame0.width) + "x" + std::to_string(frame0.height));
    }
    try {
      segmenter.Start(encode(frame0), input.first);
    } catch (const Error& e) {
      throw Error("'" + input.first_map_path + "': " + e.what());
    }
    out.objects = segmenter.objects();
    fs::create_directories(dir);
    if (options.overlay) fs::create_directories(dir / "overlay");
    // The next frame is decoded on its own thread while this one is encoded
    // and segmented (decoding is single-threaded; the encoder's OpenMP
    // threads leave it a core now and then).
    auto decode = [&](size_t t) { return std::async(std::launch::async, [&input, t] { return LoadImage(input.frames[t]); }); };
    std::future<RgbImage> next = decode(1);
    for (size_t t = 1; t < input.frames.size(); ++t) {
      progress(input.name + ": frame " + std::to_string(t) + "/" + std::to_string(input.frames.size() - 1));
      const RgbImage frame = next.get();
      if (t + 1 < input.frames.size()) next = decode(t + 1);
      if (frame.height != frame0.height || frame.width != frame0.width) {
        throw Error("frame '" + input.frames[t] + "' is " + std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                    " but the sequence's first frame is " + std::to_string(frame0.width) + "x" + std::to_string(frame0.height));
      }
      VideoFrameResult r = segmenter.Segment(encode(frame), static_cast<int>(t));
      r.labels.palette = palette;
      WriteLabelPng((dir / input.out_names[t]).string(), r.labels);
      if (options.overlay) {
        WriteOverlay((dir / "overlay" / (fs::path(input.out_names[t]).stem().string() + ".jpg")).string(), frame, r, palette);
      }
      ++out.frames_written;
      r.labels = LabelMap();
      out.frames.push_back(std::move(r));
    }
  } catch (const VideoCrash& e) {
    out.error = std::string("stopped where the reference crashes: ") + e.what();
  } catch (const Error& e) {
    out.error = e.what();
  }
  out.deviations = segmenter.deviations();
  out.seconds_total = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

std::string VideoReportJson(const std::vector<VideoSequenceOutcome>& outcomes, const VideoOptions& options) {
  std::vector<JsonValue> seqs;
  for (const VideoSequenceOutcome& o : outcomes) {
    std::vector<JsonValue> objects, frames, deviations;
    for (const VideoObjectInit& obj : o.objects) {
      std::vector<std::pair<std::string, JsonValue>> m = {
          {"label", JsonValue::Integer(obj.label)},
          {"mask_nonzero", JsonValue::Integer(obj.mask_nonzero)},
          {"target_cells", JsonValue::Integer(obj.target_cells)},
          {"nan_target", JsonValue::Bool(obj.nan_target)}};
      if (options.finetune) {
        std::vector<JsonValue> log;
        for (const MaskWeightsLogEntry& e : obj.log) {
          log.push_back(JsonValue::Object({{"step", JsonValue::Integer(e.step)}, {"lr", JsonValue::Number(e.lr)},
                                           {"dice", JsonValue::Number(e.dice)}, {"focal", JsonValue::Number(e.focal)}}));
        }
        m.emplace_back("training", JsonValue::Object({{"points", PointsJson(obj.training_points)},
                                                      {"box", BoxJson(obj.training_box)},
                                                      {"mixing_w0_w1_w2", NumbersJson(std::vector<float>(obj.weights.begin(), obj.weights.end()))},
                                                      {"log", JsonValue::Array(std::move(log))}}));
      }
      objects.push_back(JsonValue::Object(std::move(m)));
    }
    for (const VideoFrameResult& f : o.frames) {
      std::vector<JsonValue> objs;
      for (const VideoObjectStep& s : f.objects) {
        std::vector<JsonValue> steps;
        for (const VideoStep& st : s.steps) steps.push_back(StepJson(st));
        objs.push_back(JsonValue::Object({{"slot", JsonValue::Integer(s.slot + 1)},
                                          {"points", PointsJson(s.prior_points)},
                                          {"box_prompt", JsonValue::Object({{"input_area", JsonValue::Integer(s.input_area)},
                                                                            {"input_bbox", BoxJson(s.input_bbox)},
                                                                            {"center", PointsJson({s.center})},
                                                                            {"box", BoxJson(s.box)}})},
                                          {"steps", JsonValue::Array(std::move(steps))}}));
      }
      frames.push_back(JsonValue::Object({{"t", JsonValue::Integer(f.t)},
                                          {"present", NumbersJson(f.present)},
                                          {"objects", JsonValue::Array(std::move(objs))}}));
    }
    for (const std::string& d : o.deviations) deviations.push_back(JsonValue::String(d));
    seqs.push_back(JsonValue::Object({{"name", JsonValue::String(o.name)},
                                      {"skipped", JsonValue::Bool(o.skipped)},
                                      {"error", o.error.empty() ? JsonValue::Null() : JsonValue::String(o.error)},
                                      {"frames_written", JsonValue::Integer(o.frames_written)},
                                      {"objects", JsonValue::Array(std::move(objects))},
                                      {"frames", JsonValue::Array(std::move(frames))},
                                      {"deviations", JsonValue::Array(std::move(deviations))},
                                      {"seconds", JsonValue::Object({{"encoder", JsonValue::Number(o.seconds_encoder)},
                                                                     {"total", JsonValue::Number(o.seconds_total)}})}}));
  }
  return WriteJson(JsonValue::Object({{"method", JsonValue::String(options.finetune ? "persam_f" : "persam")},
                                      {"mode", JsonValue::String(options.mode == VideoMode::kReference ? "reference" : "corrected")},
                                      {"sequences", JsonValue::Array(std::move(seqs))}})) +
         "\n";
}

}  // namespace persam
