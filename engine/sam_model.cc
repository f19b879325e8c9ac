#include "engine/sam_model.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "engine/image_encoder.h"
#include "engine/mask_decoder.h"
#include "engine/packed_weights_file.h"
#include "engine/preprocess.h"
#include "engine/prompt_encoder.h"
#include "kernels/parallel.h"
#include "weights/checkpoint.h"
#include "weights/mapped_file.h"
#include "base/error.h"
#include "weights/quantized.h"

namespace persam {
namespace {

// Drops the resident file pages of every tensor named `prefix`... once its
// part is built (packed or copied): loading then never holds a part's file
// pages and its packed weights beyond that part (issue 21: peak RSS of a
// MobileSAM int8 load went from 116 to 90 MiB). The ViT encoder releases its
// tensors one by one itself; heap tensors are left alone.
void ReleaseFilePagesOf(const TensorMap& tensors, const std::string& prefix) {
  for (auto it = tensors.lower_bound(prefix); it != tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    // Pre-packed panels are the model's weights themselves: they stay.
    if (IsPackedTensorName(it->first)) continue;
    ReleaseFilePages(it->second.data, it->second.NumBytes());
  }
}

}  // namespace

struct SamModel::Impl {
  SamConfig config;
  Precision precision = Precision::kF32;
  ModelIdentity identity;
  bool has_identity = false;
  std::unique_ptr<ImageEncoder> encoder;
  std::unique_ptr<PromptEncoder> prompt_encoder;
  std::unique_ptr<MaskDecoder> mask_decoder;
};

SamModel::SamModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SamModel::~SamModel() = default;

const SamConfig& SamModel::config() const { return impl_->config; }
Precision SamModel::precision() const { return impl_->precision; }
const ModelIdentity& SamModel::identity() const {
  if (!impl_->has_identity) throw Error("the model was loaded without its identity (LoadOptions::identity off)");
  return impl_->identity;
}

std::unique_ptr<SamModel> SamModel::Load(const std::string& path) { return Load(path, LoadOptions()); }

std::unique_ptr<SamModel> SamModel::Load(const std::string& path, const LoadOptions& options) {
  const Checkpoint checkpoint = ReadCheckpoint(path);
  // Pre-packed panels (`persam convert --packed`) only in this build's layout.
  return FromTensors(UsablePackedTensors(checkpoint.tensors, checkpoint.metadata), path, options);
}

std::unique_ptr<SamModel> SamModel::FromTensors(const TensorMap& tensors, const std::string& source) {
  return FromTensors(tensors, source, LoadOptions());
}

std::unique_ptr<SamModel> SamModel::FromTensors(const TensorMap& tensors, const std::string& source,
                                                const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->config = InferSamConfig(tensors, source);
  if (!options.allow_unusual_architecture) CheckSamArchitecture(impl->config, source);
  ValidateTensors(tensors, impl->config, source);
  const bool vit = impl->config.encoder == EncoderKind::kVit;
  impl->precision = options.precision.value_or(StoredPrecision(tensors));
  // The identity hash only reads the tensors: it runs on a second thread
  // while the weights are packed (most of a MobileSAM load is serial), unless
  // the thread budget is one (--threads 1, OMP_NUM_THREADS=1): then it runs
  // when asked for, below. Under qemu user emulation the second thread made
  // a 22 MB model's load take minutes (the arm64 CI lanes, which run with one
  // thread: 262 s of CPU against 17 s without it).
  std::future<ModelIdentity> identity;
  if (options.identity) {
    const auto policy = kernels::NumThreads() > 1 ? std::launch::async : std::launch::deferred;
    identity = std::async(policy, [&tensors, config = impl->config, precision = impl->precision] {
      return MakeModelIdentity(tensors, config, precision);
    });
  }
  // The ViT encoder reads int8 weights itself; every other part (TinyViT,
  // prompt encoder, mask decoder) gets them as float32.
  const bool quantised = CountQuantizedInt8(tensors) > 0;
  const TensorMap dequantised =
      quantised ? DequantizeInt8Tensors(tensors, vit ? "image_encoder." : "") : TensorMap();
  const TensorMap& floats = quantised ? dequantised : tensors;
  try {
    impl->encoder = vit ? MakeVitEncoder(tensors, impl->config, impl->precision)
                        : MakeTinyVitEncoder(floats, impl->config, impl->precision);
    ReleaseFilePagesOf(tensors, "image_encoder.");
    impl->prompt_encoder = std::make_unique<PromptEncoder>(floats, impl->config);
    impl->mask_decoder =
        std::make_unique<MaskDecoder>(floats, impl->config, *impl->prompt_encoder);
    ReleaseFilePagesOf(tensors, "prompt_encoder.");
    ReleaseFilePagesOf(tensors, "mask_decoder.");
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
  if (identity.valid()) {
    impl->identity = identity.get();
    impl->has_identity = true;
  }
  return std::unique_ptr<SamModel>(new SamModel(std::move(impl)));
}

// ref: segment_anything/predictor.py SamPredictor.set_image
ImageEmbedding SamModel::EncodeImage(const RgbImage& image, StageTimings* timings) const {
  return EncodeImageIn(image, nullptr, timings);
}

ImageEmbedding SamModel::EncodeImageConsuming(RgbImage image, StageTimings* timings) const {
  return EncodeImageIn(image, &image, timings);
}

ImageEmbedding SamModel::EncodeImageIn(const RgbImage& image, RgbImage* owner, StageTimings* timings) const {
  if (image.height <= 0 || image.width <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.height) * image.width * 3) {
    throw Error("EncodeImage: empty or malformed image");
  }
  const SamConfig& c = impl_->config;
  ImageEmbedding e;
  e.orig_height = image.height;
  e.orig_width = image.width;
  const InputSize size = ResizedSize(image.height, image.width, c.image_size);
  e.input_height = size.height;
  e.input_width = size.width;
  std::vector<float> input;
  {
    ScopedStage stage(timings, "preprocess");
    input = PreprocessImage(image, c.image_size);
  }
  if (owner != nullptr) *owner = RgbImage();
  e.data.resize(static_cast<size_t>(c.prompt_dim) * c.embed_grid * c.embed_grid);
  impl_->encoder->EncodeConsuming(std::move(input), e.data.data(), timings);
  return e;
}

void SamModel::ReleaseEncoderScratch() const { impl_->encoder->ReleaseScratch(); }

// ref: segment_anything/predictor.py SamPredictor.predict / predict_torch
Prediction SamModel::Predict(const ImageEmbedding& embedding, const Prompt& prompt, StageTimings* timings) const {
  Prediction p;
  PredictInto(embedding, prompt, &p, timings);
  return p;
}

void SamModel::PredictInto(const ImageEmbedding& embedding, const Prompt& prompt, Prediction* out,
                           StageTimings* timings) const {
  if (out == nullptr) throw Error("PredictInto: null output");
  const SamConfig& c = impl_->config;
  const size_t n = static_cast<size_t>(c.embed_grid) * c.embed_grid;
  if (embedding.data.size() != static_cast<size_t>(c.prompt_dim) * n) {
    throw Error("Predict: the image embedding has " + std::to_string(embedding.data.size()) + " values, expected " +
                std::to_string(c.prompt_dim) + " x " + std::to_string(c.embed_grid) + " x " +
                std::to_string(c.embed_grid));
  }
  if (embedding.orig_height <= 0 || embedding.orig_width <= 0 || embedding.input_height <= 0 ||
      embedding.input_width <= 0) {
    throw Error("Predict: the image embedding has no image geometry");
  }
  if (prompt.points.empty() && !prompt.box && prompt.mask_input == nullptr) {
    throw Error("Predict: the prompt needs at least a point, a box or a mask input");
  }
  const int tokens = impl_->mask_decoder->num_mask_tokens();
  if (prompt.multimask && tokens < 2) throw Error("Predict: this model has no multimask outputs");

  std::vector<float> sparse;
  // Per thread, kept across calls: a fresh 4 MB dense map per mask prompt
  // (every cascade refinement) was mostly page faults.
  thread_local std::vector<float> dense_buffer;
  const float* dense = nullptr;
  {
    ScopedStage stage(timings, "prompt_encoder");
    sparse = impl_->prompt_encoder->EncodeSparse(prompt, embedding);
    if (prompt.mask_input != nullptr) {
      dense_buffer.resize(static_cast<size_t>(c.prompt_dim) * n);
      impl_->prompt_encoder->EncodeMask(prompt.mask_input, dense_buffer.data());
      dense = dense_buffer.data();
    }
  }

  Prediction& p = *out;
  p.num_masks = prompt.multimask ? tokens - 1 : 1;
  p.height = embedding.orig_height;
  p.width = embedding.orig_width;
  const int ms = impl_->mask_decoder->mask_size();
  p.scores.resize(p.num_masks);
  p.low_res.resize(static_cast<size_t>(p.num_masks) * ms * ms);

  MaskDecoderInputs in;
  in.embedding = embedding.data.data();
  in.dense_chw = dense;
  in.dense_channel = impl_->prompt_encoder->no_mask_embed().data();
  in.sparse = sparse.data();
  in.num_sparse = static_cast<int>(sparse.size() / c.prompt_dim);
  in.attn_sim = prompt.attn_sim;
  in.target_embedding = prompt.target_embedding;
  in.first_mask = prompt.multimask ? 1 : 0;
  in.num_masks = p.num_masks;
  impl_->mask_decoder->Run(in, p.low_res.data(), p.scores.data(), timings);

  if (prompt.compute_high_res) {
    ScopedStage stage(timings, "postprocess");
    PostprocessMapsInto(p.low_res.data(), p.num_masks, ms, ms, p.height, p.width, &p.high_res, c.image_size);
  } else {
    p.high_res.clear();
  }
}

void SamModel::PredictSinglePoints(const ImageEmbedding& embedding, const double* input_xy, int count,
                                   float* low_res, float* scores, StageTimings* timings) const {
  const SamConfig& c = impl_->config;
  const size_t n = static_cast<size_t>(c.embed_grid) * c.embed_grid;
  if (embedding.data.size() != static_cast<size_t>(c.prompt_dim) * n) {
    throw Error("PredictSinglePoints: the image embedding has " + std::to_string(embedding.data.size()) +
                " values, expected " + std::to_string(c.prompt_dim) + " x " + std::to_string(c.embed_grid) +
                " x " + std::to_string(c.embed_grid));
  }
  if (count < 0 || (count > 0 && (input_xy == nullptr || low_res == nullptr || scores == nullptr))) {
    throw Error("PredictSinglePoints: invalid arguments (count " + std::to_string(count) + ")");
  }
  const int tokens = impl_->mask_decoder->num_mask_tokens();
  if (tokens < 4) throw Error("PredictSinglePoints: this model has " + std::to_string(tokens - 1) +
                              " multimask outputs, the mask generator needs 3");
  const int ms = impl_->mask_decoder->mask_size();
  const size_t plane = static_cast<size_t>(ms) * ms;
  MaskDecoderInputs in;
  in.embedding = embedding.data.data();
  in.dense_channel = impl_->prompt_encoder->no_mask_embed().data();
  in.num_sparse = 2;
  in.first_mask = 1;
  in.num_masks = 3;
  if (count == 1) {
    std::vector<float> sparse(static_cast<size_t>(2) * c.prompt_dim);
    impl_->prompt_encoder->EncodeInputFramePoint(input_xy[0], input_xy[1], sparse.data());
    in.sparse = sparse.data();
    impl_->mask_decoder->Run(in, low_res, scores, timings);
    return;
  }
  // A batch: the image side every prompt starts from is formed once, then
  // the prompts decode concurrently, one per thread, each in its own
  // workspace. No barrier inside a prompt, so a busy machine (another
  // process on a core) slows a thread down instead of stalling every
  // barrier of every layer; each prompt's values are bit for bit the
  // single-prompt path's.
  std::vector<float> image_hwc, image_pe_hwc;
  {
    ScopedStage stage(timings, "mask_decoder.image_tokens");
    impl_->mask_decoder->PrepareImageTokens(in, &image_hwc, &image_pe_hwc);
  }
  in.image_hwc = image_hwc.data();
  in.image_pe_hwc = image_pe_hwc.data();
  ScopedStage stage(timings, "mask_decoder.batch");
  const int threads = std::min(count, kernels::NumThreads());
  std::vector<MaskDecoder::WorkspacePtr> workspaces(threads);
  for (auto& w : workspaces) w = impl_->mask_decoder->NewWorkspace();
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    MaskDecoder::Workspace* ws = workspaces[omp_get_thread_num()].get();
    std::vector<float> sparse(static_cast<size_t>(2) * c.prompt_dim);
    MaskDecoderInputs mine = in;
    mine.sparse = sparse.data();
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < count; ++i) {
      try {
        impl_->prompt_encoder->EncodeInputFramePoint(input_xy[2 * i], input_xy[2 * i + 1], sparse.data());
        impl_->mask_decoder->RunIn(mine, low_res + static_cast<size_t>(i) * 3 * plane, scores + 3 * i, nullptr, ws);
      } catch (...) {
#pragma omp critical(persam_predict_single_points)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

void Predictor::SetImage(const RgbImage& image) {
  embedding_ = model_.EncodeImage(image, &timings_);
  has_image_ = true;
}

void Predictor::SetImageConsuming(RgbImage image) {
  embedding_ = model_.EncodeImageConsuming(std::move(image), &timings_);
  has_image_ = true;
}

void Predictor::SetEmbedding(ImageEmbedding embedding) {
  const SamConfig& c = model_.config();
  const size_t expected = static_cast<size_t>(c.prompt_dim) * c.embed_grid * c.embed_grid;
  if (embedding.data.size() != expected) {
    throw Error("SetEmbedding: expected " + std::to_string(expected) + " values, got " +
                std::to_string(embedding.data.size()));
  }
  const bool has_size = embedding.orig_height > 0 && embedding.orig_width > 0;
  const InputSize size = has_size ? ResizedSize(embedding.orig_height, embedding.orig_width, c.image_size)
                                  : InputSize{};
  if (!has_size || embedding.input_height != size.height || embedding.input_width != size.width) {
    throw Error("SetEmbedding: inconsistent image geometry (original " + std::to_string(embedding.orig_height) +
                " x " + std::to_string(embedding.orig_width) + ", input " +
                std::to_string(embedding.input_height) + " x " + std::to_string(embedding.input_width) + ")");
  }
  embedding_ = std::move(embedding);
  has_image_ = true;
}

Prediction Predictor::Predict(const Prompt& prompt) {
  Prediction p;
  PredictInto(prompt, &p);
  return p;
}

void Predictor::PredictInto(const Prompt& prompt, Prediction* out) {
  if (!has_image_) throw Error("Predictor: set an image or an embedding before predicting");
  model_.PredictInto(embedding_, prompt, out, &timings_);
}

}  // namespace persam
