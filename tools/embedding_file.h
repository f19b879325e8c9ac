// The embedding file shared by `persam embed` and `persam segment
// --embedding`: EMB.npy (float32, 1 x dim x grid x grid) and EMB.npy.json
// holding the image geometry the embedding was computed for.
#ifndef PERSAM_TOOLS_EMBEDDING_FILE_H_
#define PERSAM_TOOLS_EMBEDDING_FILE_H_

#include <string>

#include "engine/sam_model.h"
#include "engine/timing.h"
#include "tools/cli.h"

namespace persam::cli {

void WriteEmbeddingFile(const std::string& path, const ImageEmbedding& embedding, const SamConfig& config);
// Reads EMB.npy for an image of `height` x `width`: checks the shape against
// the model and, when the .json side file exists, that it was computed for an
// image of that size. Throws persam::Error naming the file.
ImageEmbedding ReadEmbeddingFile(const std::string& path, const SamConfig& config, int height, int width);

// "  stage  12.3 ms" lines and the total, on stdout (unless --quiet).
void PrintTimings(const Args& args, const StageTimings& timings);

}  // namespace persam::cli

#endif  // PERSAM_TOOLS_EMBEDDING_FILE_H_
