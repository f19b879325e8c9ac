#include "video/video_segmenter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "engine/preprocess.h"
#include "persam/location_prior.h"
#include "persam/reference_mask.h"

namespace persam {
namespace {

int ArgMax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

BoxPrompt ToBoxPrompt(const IntBox& b) {
  return BoxPrompt{static_cast<double>(b.x0), static_cast<double>(b.y0), static_cast<double>(b.x1),
                   static_cast<double>(b.y1)};
}

// bbox(m) of the pixels with logit > 0, inclusive integer coordinates.
std::optional<IntBox> LogitBox(const float* logits, int height, int width) {
  const std::optional<BoxPrompt> b = MaskBox(logits, height, width);
  if (!b) return std::nullopt;
  return IntBox{static_cast<int>(b->x0), static_cast<int>(b->y0), static_cast<int>(b->x1), static_cast<int>(b->y1)};
}

}  // namespace

// One decoder call's outputs (the segmenter keeps one per cascade step).
struct VideoDecoderCall {
  Prediction prediction;
  VideoStep step;
  int best = 0;                      // np.argmax(scores)
  std::vector<float> best_high;      // [H, W] logits of `best` when only it was upsampled
  const float* high(int k) const {
    if (!best_high.empty()) return k == best ? best_high.data() : nullptr;
    return prediction.high_res.data() + static_cast<size_t>(k) * prediction.height * prediction.width;
  }
  const float* low(int k) const {
    return prediction.low_res.data() + static_cast<size_t>(k) * (prediction.low_res.size() / prediction.num_masks);
  }
};

namespace {
using Call = VideoDecoderCall;

// One SamPredictor.predict call, multimask, into `c` (whose buffers are
// reused from call to call: a fresh full-size map each time is mostly page
// faults). Every output is upsampled to the frame size, or with `only_best`
// just the best-scoring one (calls 2 and 3 read nothing else; the other
// areas are then reported as -1).
void Predict(const SamModel& model, const ImageEmbedding& e, const std::vector<PointPrompt>& points,
             const std::optional<IntBox>& box, const float* mask_input, bool return_logits, bool keep_low_res,
             bool only_best, Call* c) {
  Prompt prompt;
  prompt.points = points;
  if (box) prompt.box = ToBoxPrompt(*box);
  prompt.mask_input = mask_input;
  prompt.multimask = true;
  prompt.compute_high_res = !only_best;
  model.PredictInto(e, prompt, &c->prediction, nullptr);
  c->best = ArgMax(c->prediction.scores);
  const Prediction& p = c->prediction;
  if (only_best) {
    const int side = model.config().embed_grid * 4;
    PostprocessMapsInto(c->low(c->best), 1, side, side, p.height, p.width, &c->best_high, model.config().image_size);
  } else {
    c->best_high.clear();
  }
  c->step = VideoStep();
  c->step.points = points;
  c->step.box = box;
  c->step.has_mask_input = mask_input != nullptr;
  c->step.return_logits = return_logits;
  c->step.scores = p.scores;
  const int64_t plane = static_cast<int64_t>(p.height) * p.width;
  for (int k = 0; k < p.num_masks; ++k) c->step.mask_area.push_back(c->high(k) ? MaskArea(c->high(k), plane) : -1);
  if (keep_low_res) c->step.low_res = p.low_res;
}

std::string Where(int t, int slot, int step) {
  return "frame " + std::to_string(t) + ", object " + std::to_string(slot + 1) + ", decoder call " +
         std::to_string(step);
}

}  // namespace

MapBounds BoundsOf(const std::vector<uint8_t>& map, int height, int width) {
  MapBounds b{{width, height, -1, -1}, 0};
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = map.data() + static_cast<size_t>(y) * width;
    for (int x = 0; x < width; ++x) {
      if (!row[x]) continue;
      ++b.area;
      b.bbox.y0 = std::min(b.bbox.y0, y), b.bbox.y1 = std::max(b.bbox.y1, y);
      b.bbox.x0 = std::min(b.bbox.x0, x), b.bbox.x1 = std::max(b.bbox.x1, x);
    }
  }
  return b;
}

IdBounds BoundsById(const LabelMap& map) {
  IdBounds b;
  b.fill(MapBounds{{map.width, map.height, -1, -1}, 0});
  for (int y = 0; y < map.height; ++y) {
    const uint8_t* row = map.ids.data() + static_cast<size_t>(y) * map.width;
    for (int x = 0; x < map.width; ++x) {
      if (row[x] == 0) continue;  // the background's bounds are never read
      MapBounds& m = b[row[x]];
      ++m.area;
      m.bbox.y0 = std::min(m.bbox.y0, y), m.bbox.y1 = std::max(m.bbox.y1, y);
      m.bbox.x0 = std::min(m.bbox.x0, x), m.bbox.x1 = std::max(m.bbox.x1, x);
    }
  }
  return b;
}

std::optional<BoxAndCenter> GrowBox(const MapBounds& bounds, int height, int width, int threshold) {
  if (bounds.area == 0) return std::nullopt;
  const int cmin = bounds.bbox.x0, rmin = bounds.bbox.y0, cmax = bounds.bbox.x1, rmax = bounds.bbox.y1;
  BoxAndCenter b;
  b.bbox = bounds.bbox;
  b.area = bounds.area;
  // ref: get_box_prompt: clamped to W and H (not W - 1, H - 1).
  b.box.x0 = cmin - threshold <= 0 ? 0 : cmin - threshold;
  b.box.y0 = rmin - threshold <= 0 ? 0 : rmin - threshold;
  b.box.x1 = cmax + threshold >= width ? width : cmax + threshold;
  b.box.y1 = rmax + threshold >= height ? height : rmax + threshold;
  b.center = PointPrompt{static_cast<double>((b.box.x0 + b.box.x1) / 2), static_cast<double>((b.box.y0 + b.box.y1) / 2),
                         1};
  return b;
}

std::optional<BoxAndCenter> GrownBox(const std::vector<uint8_t>& map, int height, int width, int threshold) {
  return GrowBox(BoundsOf(map, height, width), height, width, threshold);
}

std::vector<PointPrompt> TopKPoints(const std::vector<float>& sim, int width, int k) {
  const size_t n = sim.size();
  k = static_cast<int>(std::min<size_t>(static_cast<size_t>(std::max(k, 0)), n));
  // torch.topk puts NaN above every number; ties: the lower index first (a
  // strict total order, so the k best and their order are unique).
  auto above = [&](size_t a, size_t b) {
    const float va = sim[a], vb = sim[b];
    const bool na = std::isnan(va), nb = std::isnan(vb);
    if (na != nb) return na;
    if (!na && va != vb) return va > vb;
    return a < b;
  };
  // One pass keeping the k best in order (k is a handful; a full index
  // array and partial_sort over a frame's 400k positions cost more).
  std::vector<size_t> best;
  best.reserve(static_cast<size_t>(k) + 1);
  for (size_t i = 0; i < n && k > 0; ++i) {
    if (best.size() == static_cast<size_t>(k) && !above(i, best.back())) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), i, above), i);
    if (best.size() > static_cast<size_t>(k)) best.pop_back();
  }
  std::vector<PointPrompt> points;
  for (size_t i : best) {
    points.push_back(PointPrompt{static_cast<double>(i % width), static_cast<double>(i / width), 1});
  }
  return points;
}

VideoSegmenter::VideoSegmenter(const SamModel& model, VideoOptions options) : model_(model), options_(options) {
  for (auto& c : calls_) c = std::make_unique<Call>();
  if (options_.topk == 0) options_.topk = options_.finetune ? 1 : 2;
  if (options_.topk < 1) throw Error("video: --topk must be at least 1");
  // ref: msk * exp stays uint8 only up to 255 (the reference's resize rejects more).
  if (options_.exp < 1 || options_.exp > 255) throw Error("video: the mask value (exp) must be in 1..255");
  if (options_.threshold < 0) throw Error("video: the box threshold must be >= 0");
}

VideoSegmenter::~VideoSegmenter() = default;

void VideoSegmenter::Deviate(const std::string& what) { deviations_.push_back(what); }

std::vector<PointPrompt> VideoSegmenter::TopPoints(const ImageEmbedding& e, const std::vector<float>& feat,
                                                   int k) const {
  return TopKPoints(SimilarityMap(e, feat), width_, k);
}

void VideoSegmenter::Start(const ImageEmbedding& frame0, const LabelMap& first) {
  height_ = frame0.orig_height;
  width_ = frame0.orig_width;
  if (first.height != height_ || first.width != width_) {
    throw Error("the first label map is " + std::to_string(first.width) + "x" + std::to_string(first.height) +
                " but the first frame is " + std::to_string(width_) + "x" + std::to_string(height_));
  }
  const bool reference = options_.mode == VideoMode::kReference;
  std::set<int> labels(first.ids.begin(), first.ids.end());
  labels.erase(0);
  if (!reference && labels.erase(255)) Deviate("id 255 (DAVIS void) in the first map is not an object");
  if (labels.empty()) throw Error("the first label map has no object (every pixel is 0)");
  const size_t plane = static_cast<size_t>(height_) * width_;
  objects_.clear();
  boxes_.clear();
  for (int label : labels) {
    VideoObjectInit o;
    o.label = label;
    std::vector<uint8_t> gt(plane);
    RgbImage mask;
    mask.height = height_, mask.width = width_;
    mask.pixels.assign(plane * 3, 0);
    for (size_t i = 0; i < plane; ++i) {
      gt[i] = first.ids[i] == label;
      o.mask_nonzero += gt[i];
      if (gt[i]) mask.pixels[3 * i] = static_cast<uint8_t>(options_.exp);
    }
    // ref: set_image(frame0, mask); interpolate to 64 x 64; > 0.
    const MaskCells cells = SelectReferenceCells(mask);
    o.target_cells = cells.fallback ? 0 : cells.count;
    if (cells.fallback && reference) {
      // ref: the mean of an empty selection: 256 NaNs ("Find a small object").
      o.nan_target = true;
      o.target_feat.assign(frame0.data.size() / (64 * 64), std::numeric_limits<float>::quiet_NaN());
    } else {
      if (cells.fallback) {
        Deviate("object " + std::to_string(label) + " covers no 64x64 cell: its target feature uses the " +
                std::to_string(cells.count) + " cell(s) of highest coverage instead of NaN");
      }
      o.target_feat = ComputeTargetFeatures(frame0, cells.selected, TargetPooling::kMaxPlusMean).feat;
    }
    if (options_.finetune) {
      // ref: persam_video_f.py: prior on frame 0 itself, top-1 point, box and
      // centre of the object; the three frozen logit maps train the weights.
      o.training_points = TopPoints(frame0, o.target_feat, 1);
      const BoxAndCenter b = *GrownBox(gt, height_, width_, options_.threshold);
      o.training_points.push_back(b.center);
      o.training_box = b.box;
      Call& c = *calls_[0];
      Predict(model_, frame0, o.training_points, b.box, nullptr, false, false, false, &c);
      if (c.prediction.num_masks != 3) throw Error("PerSAM-F: the decoder returned " + std::to_string(c.prediction.num_masks) + " masks, expected 3");
      const MaskWeightsResult trained =
          TrainMaskWeights(c.prediction.high_res.data(), gt.data(), static_cast<int64_t>(plane), options_.training);
      o.weights = trained.weights;
      o.log = trained.log;
    }
    objects_.push_back(std::move(o));
    boxes_.push_back(BoundsOf(gt, height_, width_));
  }
}

void VideoSegmenter::SetBoxesFrom(const LabelMap& map) { UpdateBoxes(BoundsById(map), -1); }

void VideoSegmenter::UpdateBoxes(const IdBounds& bounds, int t) {
  if (options_.mode == VideoMode::kReference) {
    // ref: all_to_onehot(label, present ids): positional (BUG 2.2.12).
    boxes_.clear();
    for (int id = 1; id < 256; ++id) {
      if (bounds[id].area > 0) boxes_.push_back(bounds[id]);
    }
    return;
  }
  // Boxes by object id; an object absent from the map keeps its last box.
  boxes_.resize(objects_.size());
  for (size_t j = 0; j < objects_.size(); ++j) {
    const int id = static_cast<int>(j + 1);
    if (id >= 256 || bounds[id].area == 0) {
      Deviate((t >= 0 ? "frame " + std::to_string(t) + ": " : std::string()) + "object " + std::to_string(id) +
              " vanished; it keeps its previous box (the reference drops or renumbers objects)");
      continue;
    }
    boxes_[j] = bounds[id];
  }
}

void VideoSegmenter::FinishCascade(const ImageEmbedding& frame, const std::vector<PointPrompt>& points,
                                   const std::optional<IntBox>& box, const float* mask_input, const float* fallback,
                                   int t, int j, VideoObjectStep* os, std::vector<float>* out) {
  const int64_t plane = static_cast<int64_t>(height_) * width_;
  Call& c2 = *calls_[1];
  Predict(model_, frame, points, box, mask_input, false, keep_low_res, true, &c2);
  const int i2 = c2.best;
  c2.step.chosen = i2;
  os->steps.push_back(c2.step);
  const std::optional<IntBox> b2 = LogitBox(c2.high(i2), height_, width_);
  if (!b2) {
    if (options_.mode == VideoMode::kReference) {
      throw VideoCrash(Where(t, j, 2) + ": the chosen mask is empty (the reference crashes on its box)");
    }
    Deviate(Where(t, j, 2) + ": empty mask; kept call 1's mask instead of crashing");
    out->assign(fallback, fallback + plane);
    return;
  }
  Call& c3 = *calls_[2];
  Predict(model_, frame, points, b2, c2.low(i2), true, keep_low_res, true, &c3);
  const int i3 = c3.best;
  c3.step.chosen = i3;
  os->steps.push_back(c3.step);
  // The best map itself (best_high holds nothing else); `out`'s old buffer
  // is reused by the next call 3.
  out->swap(c3.best_high);
}

VideoFrameResult VideoSegmenter::Segment(const ImageEmbedding& frame, int t) {
  if (frame.orig_height != height_ || frame.orig_width != width_) {
    throw Error("frame " + std::to_string(t) + " is " + std::to_string(frame.orig_width) + "x" +
                std::to_string(frame.orig_height) + " but the first frame is " + std::to_string(width_) + "x" +
                std::to_string(height_));
  }
  const bool reference = options_.mode == VideoMode::kReference;
  const int64_t plane = static_cast<int64_t>(height_) * width_;
  VideoFrameResult result;
  result.t = t;
  const int count = static_cast<int>(std::min(objects_.size(), boxes_.size()));
  std::vector<std::vector<float>>& logits = logits_;
  logits.resize(count);
  for (int j = 0; j < count; ++j) {
    const VideoObjectInit& obj = objects_[j];
    VideoObjectStep os;
    os.slot = j;
    os.prior_points = TopPoints(frame, obj.target_feat, options_.topk);
    const std::optional<BoxAndCenter> grown = GrowBox(boxes_[j], height_, width_, options_.threshold);
    if (!grown) throw VideoCrash(Where(t, j, 1) + ": the object's box map is empty (no box prompt)");
    os.input_bbox = grown->bbox;
    os.input_area = grown->area;
    os.box = grown->box;
    os.center = grown->center;
    std::vector<PointPrompt> points = os.prior_points;
    points.push_back(os.center);
    std::vector<float>& out = logits[j];
    if (!options_.finetune) {
      // ref: persam_video.py: call 1 with the box; the "large" choice.
      Call& c1 = *calls_[0];
      Predict(model_, frame, points, os.box, nullptr, false, keep_low_res, false, &c1);
      int i1 = 0;
      if (reference) {
        // BUG: the areas go through np.uint8 (modulo 256) before the arg-max.
        for (int k = 1; k < static_cast<int>(c1.step.mask_area.size()); ++k) {
          if ((c1.step.mask_area[k] & 255) > (c1.step.mask_area[i1] & 255)) i1 = k;
        }
      } else {
        for (int k = 1; k < static_cast<int>(c1.step.mask_area.size()); ++k) {
          if (c1.step.mask_area[k] > c1.step.mask_area[i1]) i1 = k;
        }
        int wrapped = 0;
        for (int k = 1; k < static_cast<int>(c1.step.mask_area.size()); ++k) {
          if ((c1.step.mask_area[k] & 255) > (c1.step.mask_area[wrapped] & 255)) wrapped = k;
        }
        if (wrapped != i1) Deviate(Where(t, j, 1) + ": took the largest mask " + std::to_string(i1) + " (the reference's uint8 areas pick " + std::to_string(wrapped) + ")");
      }
      c1.step.chosen = i1;
      os.steps.push_back(c1.step);
      // Call 2: no box, the chosen low-res logits as mask input.
      FinishCascade(frame, points, std::nullopt, c1.low(i1), c1.high(i1), t, j, &os, &out);
    } else {
      // ref: persam_video_f.py: the learned mix of call 1's three outputs.
      const std::array<float, 3>& m = obj.weights;
      Call& c1 = *calls_[0];
      Predict(model_, frame, points, os.box, nullptr, false, keep_low_res, false, &c1);
      std::vector<float> mixed(plane);
      for (int64_t i = 0; i < plane; ++i) {
        mixed[i] = (c1.high(0)[i] * m[0] + c1.high(1)[i] * m[1]) + c1.high(2)[i] * m[2];
      }
      const size_t low_plane = c1.prediction.low_res.size() / 3;
      std::vector<float> mix_low(low_plane);
      for (size_t i = 0; i < low_plane; ++i) {
        mix_low[i] = (c1.low(0)[i] * m[0] + c1.low(1)[i] * m[1]) + c1.low(2)[i] * m[2];
      }
      c1.step.weighted_area = MaskArea(mixed.data(), plane);
      const float* mask1 = mixed.data();
      if (c1.step.weighted_area == 0) {
        // ref: mask = masks[argmax(scores * weight[0])] (BUG: scaled scores).
        std::vector<float> scaled = c1.prediction.scores;
        for (float& s : scaled) s *= m[0];
        const int by_reference = ArgMax(scaled), best = ArgMax(c1.prediction.scores);
        const int k = reference ? by_reference : best;
        if (k != by_reference) {
          Deviate(Where(t, j, 1) + ": empty mix; fell back on the best-scoring mask " + std::to_string(k) +
                  " (the reference's w0-scaled scores pick " + std::to_string(by_reference) + ")");
        }
        c1.step.chosen = k;
        mask1 = c1.high(k);
      }
      os.steps.push_back(c1.step);
      const std::optional<IntBox> b1 = LogitBox(mask1, height_, width_);
      if (!b1) {
        if (reference) throw VideoCrash(Where(t, j, 1) + ": the weighted mask and its fallback are empty (the reference crashes on its box)");
        Deviate(Where(t, j, 1) + ": empty mask and fallback; the object is background in this frame");
        out = mixed;
      } else {
        FinishCascade(frame, points, b1, mix_low.data(), mask1, t, j, &os, &out);
      }
    }
    result.objects.push_back(std::move(os));
  }
  // ref: np.concatenate([zeros, logits...]).argmax(0): background unless
  // some logit is > 0; the first maximum wins.
  result.labels.height = height_;
  result.labels.width = width_;
  result.labels.ids.assign(plane, 0);
  for (int64_t i = 0; i < plane; ++i) {
    float best = 0.0f;
    uint8_t id = 0;
    for (int j = 0; j < count; ++j) {
      if (logits[j][i] > best) best = logits[j][i], id = static_cast<uint8_t>(j + 1);
    }
    result.labels.ids[i] = id;
  }
  const IdBounds bounds = BoundsById(result.labels);
  for (int id = 1; id < 256; ++id) {
    if (bounds[id].area > 0) result.present.push_back(id);
  }
  UpdateBoxes(bounds, t);
  return result;
}

}  // namespace persam
