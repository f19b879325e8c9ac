// Video PerSAM / PerSAM-F on one sequence (REFERENCE-VIDEO.md sections 2,
// 3 and 6): target features of every object from the first frame's label
// map, then per later frame the location prior, box prompt and three-call
// decoder cascade for each object, fused into one label map by logit
// arg-max; the next frame's boxes come from that map. Each frame is encoded
// once for all objects.
// ref: Personalize-SAM/persam_video.py main, persam_video_f.py main.
#ifndef PERSAM_VIDEO_VIDEO_SEGMENTER_H_
#define PERSAM_VIDEO_VIDEO_SEGMENTER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/sam_model.h"
#include "persam/mask_weights.h"
#include "video/label_png.h"

namespace persam {

enum class VideoMode {
  kReference,  // every BUG of the spec, crashes become VideoCrash
  kCorrected   // section 6's fixes; each one that changes a result is reported
};

struct VideoOptions {
  bool finetune = false;  // PerSAM-F (persam_video_f.py)
  VideoMode mode = VideoMode::kReference;
  int topk = 0;         // prior points; 0: the script's default (PerSAM 2, PerSAM-F 1)
  int exp = 215;        // value of the reference mask image's channel 0
  int threshold = 10;   // box growth in pixels
  MaskWeightsOptions training = {800, 4e-4, 0.9, 0.999, 1e-4, 0.01, 25};
};

// Where the reference crashes (an empty mask where a box is taken): the
// sequence stops with this error, naming the step, frame and object.
struct VideoCrash : Error {
  using Error::Error;
};

struct IntBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

struct VideoStep {
  std::vector<PointPrompt> points;
  std::optional<IntBox> box;
  bool has_mask_input = false;
  bool return_logits = false;
  std::vector<float> scores;
  std::vector<int64_t> mask_area;  // pixels with logit > 0, per output (-1: not upsampled)
  int chosen = -1;                 // -1: PerSAM-F's weighted mix
  int64_t weighted_area = -1;      // PerSAM-F: pixels of the learned mix > 0
  std::vector<float> low_res;      // [3, 256, 256] when keep_low_res
};

struct VideoObjectStep {
  int slot = 0;  // loop index j (output id j + 1)
  std::vector<PointPrompt> prior_points;
  IntBox input_bbox;  // bbox of the map the box prompt came from
  int64_t input_area = 0;
  IntBox box;
  PointPrompt center;
  std::vector<VideoStep> steps;
};

struct VideoFrameResult {
  int t = 0;
  LabelMap labels;  // fused ids, palette attached by the caller
  std::vector<VideoObjectStep> objects;
  std::vector<int> present;  // ids present in the label map (the next boxes)
};

struct VideoObjectInit {
  int label = 0;  // id in the first label map
  int64_t mask_nonzero = 0;
  int target_cells = 0;
  bool nan_target = false;  // reference: no cell selected -> 256 NaNs
  std::vector<float> target_feat;
  // PerSAM-F
  std::vector<PointPrompt> training_points;
  IntBox training_box;
  std::array<float, 3> weights{};
  std::vector<MaskWeightsLogEntry> log;
};

struct VideoDecoderCall;

// The bounding box (inclusive) and pixel count of a 0/1 map or of one id
// of a label map; area 0: absent.
struct MapBounds {
  IntBox bbox;
  int64_t area = 0;
};
using IdBounds = std::array<MapBounds, 256>;
MapBounds BoundsOf(const std::vector<uint8_t>& map, int height, int width);
// Every object id's bounds in one pass over the map (id 0 left empty).
IdBounds BoundsById(const LabelMap& map);

class VideoSegmenter {
 public:
  VideoSegmenter(const SamModel& model, VideoOptions options);
  ~VideoSegmenter();
  VideoSegmenter(const VideoSegmenter&) = delete;
  VideoSegmenter& operator=(const VideoSegmenter&) = delete;

  // frame0: the first frame's embedding; first: its label map (object ids;
  // 255 counts as an object in reference mode, as the reference's does).
  // Throws persam::Error when the map has another size or no object.
  void Start(const ImageEmbedding& frame0, const LabelMap& first);
  const std::vector<VideoObjectInit>& objects() const { return objects_; }

  // Frame t >= 1 with the current boxes; updates the boxes from the fused
  // map. Reference mode throws VideoCrash where the reference crashes.
  VideoFrameResult Segment(const ImageEmbedding& frame, int t);
  // Replace the boxes by those of a given label map (tests: the reference's
  // previous map), as after a frame: positional in reference mode, by id
  // (absent objects keep theirs) in corrected mode.
  void SetBoxesFrom(const LabelMap& map);

  // Deviations from the reference that fired (corrected mode), in order.
  const std::vector<std::string>& deviations() const { return deviations_; }
  bool keep_low_res = false;

 private:
  void Deviate(const std::string& what);
  void UpdateBoxes(const IdBounds& bounds, int t);
  // Calls 2 and 3 of both cascades: call 2 (box, mask input), its best mask's
  // box and low-res logits into call 3, whose best logits are the object's.
  // An empty call-2 mask: VideoCrash (reference) or `fallback` (corrected).
  void FinishCascade(const ImageEmbedding& frame, const std::vector<PointPrompt>& points,
                     const std::optional<IntBox>& box, const float* mask_input, const float* fallback, int t, int j,
                     VideoObjectStep* os, std::vector<float>* out);
  std::vector<PointPrompt> TopPoints(const ImageEmbedding& e, const std::vector<float>& feat, int k) const;

  const SamModel& model_;
  VideoOptions options_;
  int height_ = 0, width_ = 0;
  std::vector<VideoObjectInit> objects_;
  // Box source per loop slot: the bounds of a map (reference: positional
  // over the present ids; corrected: by object id, the last map an object
  // had).
  std::vector<MapBounds> boxes_;
  std::vector<std::string> deviations_;
  // Per frame, reused: decoder calls 1, 2, 3 (their full-size maps) and
  // each object's final logits.
  std::array<std::unique_ptr<VideoDecoderCall>, 3> calls_;
  std::vector<std::vector<float>> logits_;
};

// The box prompt of a 0/1 map (get_box_prompt): bbox grown by `threshold`,
// clamped to [0, W] x [0, H], and its centre (floor division). nullopt for an
// empty map.
struct BoxAndCenter {
  IntBox bbox;
  int64_t area = 0;
  IntBox box;
  PointPrompt center;
};
std::optional<BoxAndCenter> GrownBox(const std::vector<uint8_t>& map, int height, int width, int threshold);
std::optional<BoxAndCenter> GrowBox(const MapBounds& bounds, int height, int width, int threshold);

// The first k positions of `sim` in descending order (ties: lower index
// first), as (x, y) = (column, row) points with label 1.
std::vector<PointPrompt> TopKPoints(const std::vector<float>& sim, int width, int k);

}  // namespace persam

#endif  // PERSAM_VIDEO_VIDEO_SEGMENTER_H_
