#include "engine/embedding_file.h"

#include <fstream>
#include <sstream>

#include "engine/preprocess.h"
#include "base/error.h"
#include "base/output_file.h"
#include "weights/json.h"
#include "weights/npy.h"

namespace persam {

void WriteEmbeddingFile(const std::string& path, const ImageEmbedding& embedding, const SamConfig& config,
                        const ModelIdentity& identity) {
  WriteNpyFloat32(path, {1, config.prompt_dim, config.embed_grid, config.embed_grid}, embedding.data.data());
  const JsonValue meta = JsonValue::Object({
      {"image_height", JsonValue::Integer(embedding.orig_height)},
      {"image_width", JsonValue::Integer(embedding.orig_width)},
      {"input_height", JsonValue::Integer(embedding.input_height)},
      {"input_width", JsonValue::Integer(embedding.input_width)},
      {"model", JsonValue::Object({
                    {"architecture", JsonValue::String(identity.architecture)},
                    {"encoder_hash", JsonValue::String(identity.encoder_hash)},
                    {"precision", JsonValue::String(PrecisionName(identity.precision))},
                })},
  });
  WriteFileAtomically(path + ".json", WriteJson(meta) + "\n");
}

namespace {

void CheckModel(const std::string& path, const std::string& side_name, const JsonValue& meta,
                const ModelIdentity& expected, std::string* warning) {
  const JsonValue* model = meta.Find("model");
  if (model == nullptr) {
    *warning = "embedding '" + path + "' records no model (written by an older persam): cannot check that " +
               expected.architecture + " computed it";
    return;
  }
  ModelIdentity found;
  try {
    found.architecture = model->At("architecture").AsString();
    found.encoder_hash = model->At("encoder_hash").AsString();
    found.precision = ParsePrecision(model->At("precision").AsString(), side_name + " precision");
  } catch (const Error& e) {
    throw Error(side_name + ": expected a model with string architecture, encoder_hash and precision: " +
                e.what());
  }
  if (found.architecture != expected.architecture || found.encoder_hash != expected.encoder_hash) {
    throw Error("embedding '" + path + "' was computed by another model: " + found.Describe() +
                "; this model is " + expected.Describe() + " (run 'persam embed' with this model again)");
  }
}

}  // namespace

ImageEmbedding ReadEmbeddingFile(const std::string& path, const SamConfig& config, int height, int width,
                                 const ModelIdentity& expected, std::string* warning) {
  std::ifstream side(path + ".json");
  if (!side) {
    return ReadEmbeddingBytes(MapFile(path), nullptr, "", config, height, width, expected, warning);
  }
  std::stringstream text;
  text << side.rdbuf();
  const std::string s = text.str();
  return ReadEmbeddingBytes(MapFile(path), &s, path + ".json", config, height, width, expected, warning);
}

ImageEmbedding ReadEmbeddingBytes(const FileBytes& npy, const std::string* side_json, const std::string& side_name,
                                  const SamConfig& config, int height, int width, const ModelIdentity& expected,
                                  std::string* warning) {
  warning->clear();
  const std::string& path = npy.path;
  if (height <= 0 || width <= 0) {
    throw Error("embedding '" + path + "': the image size " + std::to_string(width) + " x " + std::to_string(height) +
                " is not positive");
  }
  const Tensor t = ReadNpyBytes(npy);
  const std::vector<int64_t> expected_shape = {1, config.prompt_dim, config.embed_grid, config.embed_grid};
  if (t.shape != expected_shape) {
    throw Error("embedding '" + path + "' has shape " + ShapeToString(t.shape) + ", expected " +
                ShapeToString(expected_shape));
  }
  ImageEmbedding e;
  e.orig_height = height;
  e.orig_width = width;
  const InputSize size = ResizedSize(height, width, config.image_size);
  e.input_height = size.height;
  e.input_width = size.width;
  if (side_json != nullptr) {
    const JsonValue meta = ParseJson(side_json->data(), side_json->size(), side_name);
    int64_t h, w;
    try {
      h = meta.At("image_height").AsInt64();
      w = meta.At("image_width").AsInt64();
    } catch (const Error& e) {
      throw Error(side_name + ": expected integer image_height and image_width: " + e.what());
    }
    if (h != height || w != width) {
      throw Error("embedding '" + path + "' was computed for a " + std::to_string(w) + " x " + std::to_string(h) +
                  " image, but the image is " + std::to_string(width) + " x " + std::to_string(height));
    }
    CheckModel(path, side_name, meta, expected, warning);
  } else {
    *warning = "embedding '" + path + "' has no side file '" + path +
               ".json': neither the image size nor the model that computed it can be checked";
  }
  e.data = t.ToFloat32();
  return e;
}

}  // namespace persam
