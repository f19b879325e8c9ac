// What the C API's opaque handles hold: the C++ objects they wrap.
#ifndef PERSAM_CAPI_HANDLES_H_
#define PERSAM_CAPI_HANDLES_H_

#include <memory>
#include <vector>

#include "amg/generator.h"
#include "engine/image.h"
#include "engine/sam_model.h"
#include "include/persam/persam.h"
#include "persam/personalizer.h"

struct persam_model {
  std::unique_ptr<persam::SamModel> model;
};

struct persam_image {
  persam::RgbImage image;
};

struct persam_embedding {
  persam::ImageEmbedding embedding;
  persam::SamConfig config;  // of the model that computed it (for saving)
  persam::ModelIdentity identity;  // likewise
};

struct persam_prediction {
  int batch = 0, num_masks = 0, height = 0, width = 0;
  std::vector<float> scores;   // [batch, num_masks]
  std::vector<float> low_res;  // [batch, num_masks, 256, 256]
  std::vector<float> logits;   // [batch, num_masks, height, width]
};

struct persam_personalizer {
  std::unique_ptr<persam::Personalizer> personalizer;
};

struct persam_mask_set {
  int height = 0, width = 0;
  std::vector<persam::amg::MaskRecord> records;
};

#endif  // PERSAM_CAPI_HANDLES_H_
