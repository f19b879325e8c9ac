// The embedding file shared by `persam embed`, `persam segment
// --embedding` and the C API: EMB.npy (float32, 1 x dim x grid x grid) and EMB.npy.json
// holding the image geometry the embedding was computed for.
#ifndef PERSAM_ENGINE_EMBEDDING_FILE_H_
#define PERSAM_ENGINE_EMBEDDING_FILE_H_

#include <string>

#include "engine/sam_model.h"
#include "weights/mapped_file.h"

namespace persam {

void WriteEmbeddingFile(const std::string& path, const ImageEmbedding& embedding, const SamConfig& config);
// Reads EMB.npy for an image of `height` x `width`: checks the shape against
// the model and, when the .json side file exists, that it was computed for an
// image of that size. Throws persam::Error naming the file.
ImageEmbedding ReadEmbeddingFile(const std::string& path, const SamConfig& config, int height, int width);
// The same on bytes in memory: `npy` (its path names it in errors) and the
// side file's text when there is one (`side_name` names it).
ImageEmbedding ReadEmbeddingBytes(const FileBytes& npy, const std::string* side_json, const std::string& side_name,
                                  const SamConfig& config, int height, int width);

}  // namespace persam

#endif  // PERSAM_ENGINE_EMBEDDING_FILE_H_
