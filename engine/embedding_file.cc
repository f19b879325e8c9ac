#include "engine/embedding_file.h"

#include <fstream>
#include <sstream>

#include "engine/preprocess.h"
#include "base/error.h"
#include "base/output_file.h"
#include "weights/json.h"
#include "weights/npy.h"

namespace persam {

void WriteEmbeddingFile(const std::string& path, const ImageEmbedding& embedding, const SamConfig& config) {
  WriteNpyFloat32(path, {1, config.prompt_dim, config.embed_grid, config.embed_grid}, embedding.data.data());
  const JsonValue meta = JsonValue::Object({
      {"image_height", JsonValue::Integer(embedding.orig_height)},
      {"image_width", JsonValue::Integer(embedding.orig_width)},
      {"input_height", JsonValue::Integer(embedding.input_height)},
      {"input_width", JsonValue::Integer(embedding.input_width)},
  });
  WriteFileAtomically(path + ".json", WriteJson(meta) + "\n");
}

ImageEmbedding ReadEmbeddingFile(const std::string& path, const SamConfig& config, int height, int width) {
  std::ifstream side(path + ".json");
  if (!side) return ReadEmbeddingBytes(MapFile(path), nullptr, "", config, height, width);
  std::stringstream text;
  text << side.rdbuf();
  const std::string s = text.str();
  return ReadEmbeddingBytes(MapFile(path), &s, path + ".json", config, height, width);
}

ImageEmbedding ReadEmbeddingBytes(const FileBytes& npy, const std::string* side_json, const std::string& side_name,
                                  const SamConfig& config, int height, int width) {
  const std::string& path = npy.path;
  if (height <= 0 || width <= 0) {
    throw Error("embedding '" + path + "': the image size " + std::to_string(width) + " x " + std::to_string(height) +
                " is not positive");
  }
  const Tensor t = ReadNpyBytes(npy);
  const std::vector<int64_t> expected = {1, config.prompt_dim, config.embed_grid, config.embed_grid};
  if (t.shape != expected) {
    throw Error("embedding '" + path + "' has shape " + ShapeToString(t.shape) + ", expected " +
                ShapeToString(expected));
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
  }
  e.data = t.ToFloat32();
  return e;
}

}  // namespace persam
