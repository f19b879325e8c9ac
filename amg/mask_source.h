// What the automatic mask generator needs from a model: encode an image (a
// crop), decode a batch of single-point prompts into three scored masks
// each, and hand out any one mask's logits at the image's resolution. The
// generator asks for the logits only of masks that pass the IoU filter, so a
// source can keep its low-resolution outputs and upscale on demand.
// SamMaskSource (amg/sam_mask_source.h) is the production source; tests
// drive the same generator with closed-form stand-ins (FIXTURES.md, the
// stub cases).
#ifndef PERSAM_AMG_MASK_SOURCE_H_
#define PERSAM_AMG_MASK_SOURCE_H_

#include <vector>

#include "engine/image.h"

namespace persam::amg {

class MaskSource {
 public:
  virtual ~MaskSource() = default;
  // SamPredictor.set_image: the next calls refer to this image.
  virtual void SetImage(const RgbImage& image) = 0;
  // SamPredictor.predict_torch(points, labels = 1, multimask_output = True):
  // `count` prompts of one foreground point, (x, y) pairs in the resized
  // input frame (ResizeLongestSide.apply_coords, f64). scores: [count, 3].
  virtual void DecodeBatch(const double* input_xy, int count, float* scores) = 0;
  // Logits of output k (0..2) of prompt i of the last batch, at the image's
  // resolution: *out resized to [height, width], row-major. Called
  // concurrently from several threads (one mask each, each its own *out).
  virtual void MaskLogits(int prompt, int k, std::vector<float>* out) const = 0;
};

}  // namespace persam::amg

#endif  // PERSAM_AMG_MASK_SOURCE_H_
