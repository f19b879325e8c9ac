#include "concepts/embedding_cache.h"

#include <filesystem>

#include "base/error.h"
#include "engine/embedding_file.h"
#include "persam/outputs.h"
#include "weights/mapped_file.h"

namespace persam {

EmbeddingCache::EmbeddingCache(std::string dir, const ConceptModelIdentity& model, const SamConfig& config,
                               const ModelIdentity& encoder)
    : dir_(std::move(dir)), model_key_(model.architecture + "/" + model.weights_hash + "/" + model.precision),
      config_(config), encoder_(encoder) {
  MakeOutputDirectory(dir_);
}

std::string EmbeddingCache::Key(const std::string& image_path) const {
  const FileBytes bytes = MapFile(image_path);
  Hash128 hash;
  hash.Update(model_key_.data(), model_key_.size() + 1);
  hash.Update(bytes.data, bytes.size);
  return hash.Hex();
}

std::optional<ImageEmbedding> EmbeddingCache::Find(const std::string& key, int height, int width) const {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(Path(key), ec) || !std::filesystem::is_regular_file(Path(key) + ".json", ec)) {
    return std::nullopt;
  }
  try {
    std::string unchecked;
    return ReadEmbeddingFile(Path(key), config_, height, width, encoder_, &unchecked);
  } catch (const Error&) {
    return std::nullopt;
  }
}

void EmbeddingCache::Store(const std::string& key, const ImageEmbedding& embedding) const {
  // WriteEmbeddingFile writes each file through a temporary file and a
  // rename, the .npy before its side file, and Find needs both: an
  // interrupted Store leaves no entry that reads as complete.
  const std::string path = Path(key);
  try {
    WriteEmbeddingFile(path, embedding, config_, encoder_);
  } catch (const std::exception& e) {
    throw Error("cannot write embedding cache entry '" + path + "': " + e.what());
  }
}

}  // namespace persam
