// SAM's image-encoder neck, shared by the ViT and TinyViT encoders:
// Conv2d 1x1 (no bias), LayerNorm2d, Conv2d 3x3 pad 1 (no bias), LayerNorm2d
// (eps 1e-6), from channel-last tokens to the NCHW image embedding.
// ref: segment_anything/modeling/image_encoder.py ImageEncoderViT.neck,
// mobile_sam/modeling/tiny_vit_sam.py TinyViT.neck
#ifndef PERSAM_ENGINE_NECK_H_
#define PERSAM_ENGINE_NECK_H_

#include <cstddef>
#include <string>
#include <vector>

#include "engine/linear.h"
#include "engine/precision.h"
#include "weights/tensor.h"

namespace persam {

class SamNeck {
 public:
  SamNeck() = default;
  // Reads prefix + "neck.{0,2}.weight" ([out, in_chans, 1, 1], [out, out, 3,
  // 3]) and "neck.{1,3}.{weight,bias}" ([out]), any float dtype or int8 with
  // scales; the two convolutions run at `precision`. `what` starts the error
  // messages ("ViT encoder"), which name the tensor and both shapes.
  SamNeck(const TensorMap& tensors, const std::string& prefix, int in_chans, Precision precision,
          const std::string& what);

  int out_chans() const { return out_chans_; }
  size_t WeightBytes() const;

  // Floats of scratch Run needs for a grid x grid token map: two
  // [grid * grid, out_chans] maps and one im2col band.
  size_t MapScratchFloats(int grid) const;
  size_t ColsScratchFloats(int grid) const;
  size_t ScratchFloats(int grid) const { return MapScratchFloats(grid) + ColsScratchFloats(grid); }
  // tokens [grid * grid, in_chans] (row-major, channel-last) -> embedding
  // [out_chans, grid, grid]. maps: MapScratchFloats(grid) floats, cols:
  // ColsScratchFloats(grid) floats, no alignment needed; cols may overlap
  // tokens (they are read only before cols is written), maps may not.
  // Threads: the kernels' OpenMP regions.
  void Run(const float* tokens, int grid, float* maps, float* cols, float* embedding) const;
  // The same with one scratch of ScratchFloats(grid) floats.
  void Run(const float* tokens, int grid, float* scratch, float* embedding) const {
    Run(tokens, grid, scratch, scratch + MapScratchFloats(grid), embedding);
  }

 private:
  // Output rows of the 3x3 conv per im2col band (cols stay ~4 MB).
  int BandRows(int grid) const;

  int in_chans_ = 0, out_chans_ = 0;
  LinearWeights conv1_;  // [out, in]
  LinearWeights conv2_;  // [out, 3 * 3 * out] in Im2ColRows' (ky, kx, ch) order
  std::vector<float> ln1_w_, ln1_b_, ln2_w_, ln2_b_;
};

}  // namespace persam

#endif  // PERSAM_ENGINE_NECK_H_
