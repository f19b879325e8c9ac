#include "engine/embedding_file.h"

#include <fstream>
#include <sstream>

#include "engine/preprocess.h"
#include "base/error.h"
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
  std::ofstream out(path + ".json");
  out << WriteJson(meta) << "\n";
  if (!out) throw Error("cannot write '" + path + ".json'");
}

namespace {

void CheckModel(const std::string& path, const JsonValue& meta, const ModelIdentity& expected, std::string* warning) {
  const JsonValue* model = meta.Find("model");
  if (model == nullptr) {
    *warning = "embedding '" + path + "' records no model (written by an older persam): cannot check that " +
               expected.architecture + " computed it";
    return;
  }
  ModelIdentity found;
  found.architecture = model->At("architecture").AsString();
  found.encoder_hash = model->At("encoder_hash").AsString();
  found.precision = ParsePrecision(model->At("precision").AsString(), path + ".json precision");
  if (found.architecture != expected.architecture || found.encoder_hash != expected.encoder_hash) {
    throw Error("embedding '" + path + "' was computed by another model: " + found.Describe() +
                "; this model is " + expected.Describe() + " (run 'persam embed' with this model again)");
  }
}

}  // namespace

ImageEmbedding ReadEmbeddingFile(const std::string& path, const SamConfig& config, int height, int width,
                                 const ModelIdentity& expected, std::string* warning) {
  warning->clear();
  const Tensor t = ReadNpy(path);
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
  std::ifstream side(path + ".json");
  if (side) {
    std::stringstream text;
    text << side.rdbuf();
    const std::string s = text.str();
    const JsonValue meta = ParseJson(s.data(), s.size(), path + ".json");
    const int64_t h = meta.At("image_height").AsInt64(), w = meta.At("image_width").AsInt64();
    if (h != height || w != width) {
      throw Error("embedding '" + path + "' was computed for a " + std::to_string(w) + " x " + std::to_string(h) +
                  " image, but the image is " + std::to_string(width) + " x " + std::to_string(height));
    }
    CheckModel(path, meta, expected, warning);
  } else {
    *warning = "embedding '" + path + "' has no side file '" + path +
               ".json': neither the image size nor the model that computed it can be checked";
  }
  e.data = t.ToFloat32();
  return e;
}

}  // namespace persam
