// A loaded SAM: weights converted to float32 and packed once, then the image
// encoder (ViT or TinyViT), prompt encoder and mask decoder.
#ifndef PERSAM_ENGINE_SAM_MODEL_H_
#define PERSAM_ENGINE_SAM_MODEL_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/image.h"
#include "engine/model_identity.h"
#include "engine/precision.h"
#include "engine/timing.h"
#include "weights/sam_config.h"
#include "weights/tensor.h"

namespace persam {

// The image embedding with the geometry needed to map prompts and masks.
struct ImageEmbedding {
  int orig_height = 0, orig_width = 0;    // the image as given
  int input_height = 0, input_width = 0;  // after ResizedSize (<= 1024)
  std::vector<float> data;                // [256, 64, 64], as the reference's (1, 256, 64, 64)
};

struct PointPrompt {
  double x = 0, y = 0;  // original image pixels (fractional allowed)
  int label = 1;        // 1 foreground, 0 background
};
struct BoxPrompt {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

struct Prompt {
  std::vector<PointPrompt> points;
  std::optional<BoxPrompt> box;
  const float* mask_input = nullptr;        // [256, 256] low-res logits, or null
  bool multimask = false;
  const float* attn_sim = nullptr;          // PerSAM target-guided attention [64 * 64]
  const float* target_embedding = nullptr;  // PerSAM target-semantic prompt [256]
  bool compute_high_res = true;             // also postprocess to the original size
};

struct Prediction {
  int num_masks = 0;
  int height = 0, width = 0;     // original image size
  std::vector<float> scores;     // [num_masks] IoU predictions
  std::vector<float> low_res;    // [num_masks, 256, 256] logits
  std::vector<float> high_res;   // [num_masks, height, width] logits (mask = > 0)
};

struct LoadOptions {
  // The image encoder's compute precision (engine/precision.h); nullopt: the
  // file's own (StoredPrecision: bf16 / int8 for files written by `persam
  // convert --dtype bf16|int8`, float32 otherwise). Any file runs at any
  // precision: lower ones are packed from the float values at load, int8
  // weights are dequantised for f32/bf16. TinyViT runs its attention blocks'
  // Linears at that precision, its convolutions in float32; the prompt
  // encoder and mask decoder always run float32.
  std::optional<Precision> precision;
  // Accept a config outside the architectures SAM defines
  // (CheckSamArchitecture); off, such a file is refused before any weight
  // is packed.
  bool allow_unusual_architecture = false;
  // Compute the model's identity (engine/model_identity.h: a hash of every
  // image encoder byte, ~5 % of a load, most of it first reads of the file)
  // at load. Off for callers that never compare embeddings with a model
  // (`segment` without --embedding): identity() then throws.
  bool identity = true;
};

class SamModel {
 public:
  // .pth or .safetensors; config inferred from the tensors.
  static std::unique_ptr<SamModel> Load(const std::string& path);
  static std::unique_ptr<SamModel> Load(const std::string& path, const LoadOptions& options);
  static std::unique_ptr<SamModel> FromTensors(const TensorMap& tensors,
                                               const std::string& source);
  static std::unique_ptr<SamModel> FromTensors(const TensorMap& tensors, const std::string& source,
                                               const LoadOptions& options);
  virtual ~SamModel();

  const SamConfig& config() const;
  // The precision the image encoder actually runs at.
  Precision precision() const;
  // Architecture, encoder weights hash and precision: what an embedding file
  // records so that it is not used with another model.
  const ModelIdentity& identity() const;

  ImageEmbedding EncodeImage(const RgbImage& image, StageTimings* timings = nullptr) const;
  // The same, taking the image: its pixels are freed once preprocessed,
  // before the encoder's activations are allocated (issue 21's peak RSS).
  ImageEmbedding EncodeImageConsuming(RgbImage image, StageTimings* timings = nullptr) const;
  // Frees the image encoder's scratch kept for the next EncodeImage
  // (ImageEncoder::ReleaseScratch): for callers done encoding.
  void ReleaseEncoderScratch() const;
  // Prompt encoder + mask decoder (+ postprocessing). Throws persam::Error on
  // a malformed prompt (e.g. no point and no box and no mask).
  Prediction Predict(const ImageEmbedding& embedding, const Prompt& prompt,
                     StageTimings* timings = nullptr) const;
  // The same, writing into *out and reusing its buffers: an interactive
  // caller that keeps one Prediction across queries saves the allocation,
  // zero fill and page faults of a fresh 12 MB high-res plane per query.
  void PredictInto(const ImageEmbedding& embedding, const Prompt& prompt, Prediction* out,
                   StageTimings* timings = nullptr) const;

  // SamAutomaticMaskGenerator's batches (REFERENCE-AMG.md step 4a): `count`
  // prompts of one foreground point each, (x, y) pairs in the resized input
  // frame as ResizeLongestSide.apply_coords gives them (f64; see
  // PromptEncoder::EncodeInputFramePoint), multimask. Writes low_res
  // [count, 3, 256, 256] logits and scores [count, 3]. The layer-0 image
  // tokens (embedding + no-mask embedding, channel-last, and + positional
  // encoding) are formed once for the batch and read in place by every
  // prompt.
  void PredictSinglePoints(const ImageEmbedding& embedding, const double* input_xy, int count,
                           float* low_res, float* scores, StageTimings* timings = nullptr) const;

  struct Impl;

 private:
  explicit SamModel(std::unique_ptr<Impl> impl);
  // `owner`, if not null, holds `image` and is emptied after preprocessing.
  ImageEmbedding EncodeImageIn(const RgbImage& image, RgbImage* owner, StageTimings* timings) const;
  std::unique_ptr<Impl> impl_;
};

// SamPredictor-like: set an image once, query prompts cheaply.
class Predictor {
 public:
  explicit Predictor(const SamModel& model) : model_(model) {}
  void SetImage(const RgbImage& image);
  void SetImageConsuming(RgbImage image);  // SamModel::EncodeImageConsuming
  void SetEmbedding(ImageEmbedding embedding);
  bool has_image() const { return has_image_; }
  const ImageEmbedding& embedding() const { return embedding_; }
  Prediction Predict(const Prompt& prompt);
  void PredictInto(const Prompt& prompt, Prediction* out);  // reuses *out's buffers
  StageTimings& timings() { return timings_; }

 private:
  const SamModel& model_;
  ImageEmbedding embedding_;
  bool has_image_ = false;
  StageTimings timings_;
};

}  // namespace persam

#endif  // PERSAM_ENGINE_SAM_MODEL_H_
