// The embedding file shared by `persam embed`, `persam segment
// --embedding` and the C API: EMB.npy (float32, 1 x dim x grid x grid) and
// EMB.npy.json holding the image geometry the embedding was computed for and
// the identity of the model that computed it (docs/outputs.md).
#ifndef PERSAM_ENGINE_EMBEDDING_FILE_H_
#define PERSAM_ENGINE_EMBEDDING_FILE_H_

#include <string>

#include "engine/model_identity.h"
#include "engine/sam_model.h"
#include "weights/mapped_file.h"

namespace persam {

void WriteEmbeddingFile(const std::string& path, const ImageEmbedding& embedding, const SamConfig& config,
                        const ModelIdentity& identity);
// Reads EMB.npy for an image of `height` x `width`: checks the shape against
// the model and, from the .json side file, that it was computed for an image
// of that size by the model `expected` (architecture and encoder weights;
// the precision may differ). Throws persam::Error naming the file and both
// models on a mismatch. Files from before the identity was recorded (or
// without a side file) are still read; *warning then says what could not be
// checked (empty otherwise).
ImageEmbedding ReadEmbeddingFile(const std::string& path, const SamConfig& config, int height, int width,
                                 const ModelIdentity& expected, std::string* warning);
// The same on bytes in memory: `npy` (its path names it in errors) and the
// side file's text when there is one (`side_name` names it).
ImageEmbedding ReadEmbeddingBytes(const FileBytes& npy, const std::string* side_json, const std::string& side_name,
                                  const SamConfig& config, int height, int width, const ModelIdentity& expected,
                                  std::string* warning);

}  // namespace persam

#endif  // PERSAM_ENGINE_EMBEDDING_FILE_H_
