// `persam embed`: run the image encoder once and save the embedding, so that
// `persam segment --embedding` can try many prompts without re-encoding.
#include <cstdio>
#include <string>

#include "engine/image.h"
#include "engine/sam_model.h"
#include "engine/timing.h"
#include "tools/cli.h"
#include "engine/embedding_file.h"
#include "tools/print_timings.h"
#include "tools/precision_option.h"
#include "base/error.h"
#include "base/output_file.h"
#include "weights/npy.h"

namespace persam::cli {
namespace {

int RunEmbed(const Args& args) {
  const std::string model_path = args.Required("model");
  const std::string image_path = args.Required("image");
  const std::string out_path = args.Required("out");
  const LoadOptions load_options = ModelLoadOptions(args);
  CheckOutputFile(out_path, "--out");
  CheckOutputFile(out_path + ".json", "--out");
  StageTimings timings;
  std::unique_ptr<SamModel> model;
  {
    ScopedStage stage(&timings, "load_model");
    model = SamModel::Load(model_path, load_options);
  }
  RgbImage image;
  {
    ScopedStage stage(&timings, "load_image");
    image = LoadImage(image_path);
  }
  const ImageEmbedding embedding = model->EncodeImage(image, &timings);
  {
    ScopedStage stage(&timings, "write");
    WriteEmbeddingFile(out_path, embedding, model->config(), model->identity());
  }
  Say(args, "wrote %s (1 x %d x %d x %d) for a %d x %d image\n", out_path.c_str(), model->config().prompt_dim,
      model->config().embed_grid, model->config().embed_grid, image.width, image.height);
  if (args.verbose()) {
    Say(args, "image encoder precision: %s\n", PrecisionName(model->precision()));
    PrintTimings(args, timings);
  }
  return 0;
}

}  // namespace

extern const Command kEmbedCommand = {
    "embed",
    "encode an image once and save its embedding (.npy)",
    "usage: persam embed --model MODEL --image IMAGE --out EMB.npy\n"
    "\n"
    "Runs the image encoder and writes the embedding as float32 .npy of shape\n"
    "(1, 256, 64, 64), plus EMB.npy.json with the image geometry, which\n"
    "'persam segment --embedding' checks against its --image.\n"
    "\n"
    "  --model PATH   SAM / MobileSAM checkpoint (.pth or .safetensors)\n"
    "  --image PATH   JPEG / PNG / BMP / TGA image\n"
    "  --out PATH     output .npy\n"
    PERSAM_PRECISION_HELP
    "  --verbose      per-stage timings\n",
    {"model", "image", "out", kPrecisionOptionName},
    {kUnusualModelFlag},
    RunEmbed,
};

}  // namespace persam::cli
