// Models, images and embeddings.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "capi/guard.h"
#include "capi/handles.h"
#include "engine/embedding_file.h"
#include "engine/precision.h"

using persam::capi::Guard;
using persam::capi::InvalidArgument;

namespace {

std::optional<persam::Precision> ToPrecision(int p) {  // a persam_precision (any int from C)
  switch (p) {
    case PERSAM_PRECISION_DEFAULT: return std::nullopt;
    case PERSAM_PRECISION_F32: return persam::Precision::kF32;
    case PERSAM_PRECISION_BF16: return persam::Precision::kBF16;
    case PERSAM_PRECISION_INT8: return persam::Precision::kInt8;
  }
  throw InvalidArgument{"precision " + std::to_string(p) +
                        " is not a persam_precision value (0 default, 1 f32, 2 bf16, 3 int8)"};
}

persam_precision FromPrecision(persam::Precision p) {
  switch (p) {
    case persam::Precision::kF32: return PERSAM_PRECISION_F32;
    case persam::Precision::kBF16: return PERSAM_PRECISION_BF16;
    case persam::Precision::kInt8: return PERSAM_PRECISION_INT8;
  }
  return PERSAM_PRECISION_DEFAULT;
}

}  // namespace

extern "C" {

void persam_model_options_init(persam_model_options* options) {
  if (options == nullptr) return;
  options->threads = 0;
  options->precision = PERSAM_PRECISION_DEFAULT;
}

persam_status persam_model_load(const char* path, const persam_model_options* options, persam_model** out_model) {
  PERSAM_CAPI_REQUIRE(path, "persam_model_load");
  PERSAM_CAPI_REQUIRE(out_model, "persam_model_load");
  *out_model = nullptr;
  persam_model_options opts;
  persam_model_options_init(&opts);
  if (options != nullptr) opts = *options;
  return Guard("persam_model_load", [&] {
    persam::LoadOptions load;
    load.precision = ToPrecision(persam::capi::EnumValue(opts.precision));
    // Both options are checked before either takes effect; a refused thread
    // count is reported as this function's options->threads.
    if (opts.threads > 0 && persam_set_num_threads(opts.threads) != PERSAM_OK) {
      throw InvalidArgument{std::string("options->threads: ") + persam_last_error()};
    }
    auto handle = std::make_unique<persam_model>();
    handle->model = persam::SamModel::Load(path, load);
    *out_model = handle.release();
  });
}

void persam_model_free(persam_model* model) { delete model; }

persam_status persam_model_get_info(const persam_model* model, persam_model_info* out_info) {
  PERSAM_CAPI_REQUIRE(model, "persam_model_get_info");
  PERSAM_CAPI_REQUIRE(out_info, "persam_model_get_info");
  return Guard("persam_model_get_info", [&] {
    const persam::SamConfig& c = model->model->config();
    std::memset(out_info, 0, sizeof(*out_info));
    std::strncpy(out_info->encoder, c.encoder == persam::EncoderKind::kTinyVit ? "tinyvit" : "vit",
                 sizeof(out_info->encoder) - 1);
    out_info->precision = FromPrecision(model->model->precision());
    out_info->image_size = c.image_size;
    out_info->embed_dim = c.prompt_dim;
    out_info->embed_grid = c.embed_grid;
    out_info->low_res_size = 4 * c.embed_grid;
  });
}

persam_status persam_image_load(const char* path, persam_image** out_image) {
  PERSAM_CAPI_REQUIRE(path, "persam_image_load");
  PERSAM_CAPI_REQUIRE(out_image, "persam_image_load");
  *out_image = nullptr;
  return Guard("persam_image_load", [&] {
    auto handle = std::make_unique<persam_image>();
    handle->image = persam::LoadImage(path);
    *out_image = handle.release();
  });
}

persam_status persam_image_from_pixels(const uint8_t* pixels, int width, int height, size_t stride_bytes,
                                       int channels, persam_image** out_image) {
  PERSAM_CAPI_REQUIRE(pixels, "persam_image_from_pixels");
  PERSAM_CAPI_REQUIRE(out_image, "persam_image_from_pixels");
  *out_image = nullptr;
  return Guard("persam_image_from_pixels", [&] {
    // The encoder's input is resized to 1024 on the long side; beyond this
    // a caller has almost certainly swapped or garbled the sizes.
    constexpr int kMaxSide = 1 << 16;
    if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide) {
      throw InvalidArgument{"image size " + std::to_string(width) + " x " + std::to_string(height) +
                            " must be 1 .. " + std::to_string(kMaxSide) + " on each side"};
    }
    if (channels != 3 && channels != 4) {
      throw InvalidArgument{"channels must be 3 (RGB) or 4 (RGBA), got " + std::to_string(channels)};
    }
    if (stride_bytes < static_cast<size_t>(width) * channels) {
      throw InvalidArgument{"stride_bytes " + std::to_string(stride_bytes) + " is less than width x channels = " +
                            std::to_string(static_cast<size_t>(width) * channels)};
    }
    auto handle = std::make_unique<persam_image>();
    persam::RgbImage& im = handle->image;
    im.height = height;
    im.width = width;
    im.pixels.resize(static_cast<size_t>(width) * height * 3);
    for (int y = 0; y < height; ++y) {
      const uint8_t* row = pixels + static_cast<size_t>(y) * stride_bytes;
      uint8_t* dst = im.pixels.data() + static_cast<size_t>(y) * width * 3;
      for (int x = 0; x < width; ++x) std::memcpy(dst + 3 * x, row + static_cast<size_t>(x) * channels, 3);
    }
    *out_image = handle.release();
  });
}

int persam_image_width(const persam_image* image) { return image == nullptr ? 0 : image->image.width; }
int persam_image_height(const persam_image* image) { return image == nullptr ? 0 : image->image.height; }
void persam_image_free(persam_image* image) { delete image; }

persam_status persam_embedding_compute(const persam_model* model, const persam_image* image,
                                       persam_embedding** out_embedding) {
  PERSAM_CAPI_REQUIRE(model, "persam_embedding_compute");
  PERSAM_CAPI_REQUIRE(image, "persam_embedding_compute");
  PERSAM_CAPI_REQUIRE(out_embedding, "persam_embedding_compute");
  *out_embedding = nullptr;
  return Guard("persam_embedding_compute", [&] {
    auto handle = std::make_unique<persam_embedding>();
    handle->embedding = model->model->EncodeImage(image->image);
    handle->config = model->model->config();
    handle->identity = model->model->identity();
    *out_embedding = handle.release();
  });
}

persam_status persam_embedding_save(const persam_embedding* embedding, const char* path) {
  PERSAM_CAPI_REQUIRE(embedding, "persam_embedding_save");
  PERSAM_CAPI_REQUIRE(path, "persam_embedding_save");
  return Guard("persam_embedding_save",
               [&] { persam::WriteEmbeddingFile(path, embedding->embedding, embedding->config, embedding->identity); });
}

persam_status persam_embedding_load(const persam_model* model, const char* path, int image_width, int image_height,
                                    persam_embedding** out_embedding) {
  PERSAM_CAPI_REQUIRE(model, "persam_embedding_load");
  PERSAM_CAPI_REQUIRE(path, "persam_embedding_load");
  PERSAM_CAPI_REQUIRE(out_embedding, "persam_embedding_load");
  *out_embedding = nullptr;
  return Guard("persam_embedding_load", [&] {
    if (image_width <= 0 || image_height <= 0) {
      throw InvalidArgument{"image size " + std::to_string(image_width) + " x " + std::to_string(image_height) +
                            " must be positive"};
    }
    auto handle = std::make_unique<persam_embedding>();
    handle->config = model->model->config();
    handle->identity = model->model->identity();
    // Files without a recorded model are accepted, as before the record existed.
    std::string unchecked;
    handle->embedding = persam::ReadEmbeddingFile(path, handle->config, image_height, image_width,
                                                  handle->identity, &unchecked);
    *out_embedding = handle.release();
  });
}

int persam_embedding_image_width(const persam_embedding* e) { return e == nullptr ? 0 : e->embedding.orig_width; }
int persam_embedding_image_height(const persam_embedding* e) { return e == nullptr ? 0 : e->embedding.orig_height; }
void persam_embedding_free(persam_embedding* embedding) { delete embedding; }

}  // extern "C"
