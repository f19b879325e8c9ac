// `persam find --cache DIR`: image embeddings kept between runs, so a second
// concept over the same photos skips the encoder. The key hashes the image
// file's bytes with the model identity (weights hash and precision): another
// model, another precision or an edited photo is another entry.
#ifndef PERSAM_CONCEPTS_EMBEDDING_CACHE_H_
#define PERSAM_CONCEPTS_EMBEDDING_CACHE_H_

#include <optional>
#include <string>

#include "concepts/model_identity.h"
#include "engine/sam_model.h"

namespace persam {

class EmbeddingCache {
 public:
  // Creates `dir` when missing (persam::Error naming it when impossible).
  // `encoder` is what the embedding files record (engine/embedding_file.h).
  EmbeddingCache(std::string dir, const ConceptModelIdentity& model, const SamConfig& config,
                 const ModelIdentity& encoder);

  // The entry's key for the image file's bytes.
  std::string Key(const std::string& image_path) const;
  // nullopt when absent; an entry that cannot be read counts as absent (it
  // is rewritten).
  std::optional<ImageEmbedding> Find(const std::string& key, int height, int width) const;
  // Written atomically: an interrupted run leaves no half entry.
  void Store(const std::string& key, const ImageEmbedding& embedding) const;

 private:
  std::string Path(const std::string& key) const { return dir_ + "/" + key + ".npy"; }
  std::string dir_;
  std::string model_key_;
  const SamConfig& config_;
  ModelIdentity encoder_;
};

}  // namespace persam

#endif  // PERSAM_CONCEPTS_EMBEDDING_CACHE_H_
