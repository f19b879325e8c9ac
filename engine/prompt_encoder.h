// SAM's prompt encoder (REFERENCE.md section 4): points and boxes become
// sparse tokens, a low-resolution mask becomes a dense embedding, and the
// random-Fourier positional encoding of the embedding grid.
// ref: segment_anything/modeling/prompt_encoder.py PromptEncoder
#ifndef PERSAM_ENGINE_PROMPT_ENCODER_H_
#define PERSAM_ENGINE_PROMPT_ENCODER_H_

#include <vector>

#include "engine/sam_model.h"
#include "kernels/gemm.h"
#include "weights/sam_config.h"
#include "weights/tensor.h"

namespace persam {

class PromptEncoder {
 public:
  PromptEncoder(const TensorMap& tensors, const SamConfig& config);

  int dim() const { return dim_; }
  int grid() const { return grid_; }

  // Sparse tokens [count, dim] row-major: the points (plus one padding point
  // when there is no box), then the two box corners. `geometry` gives the
  // original and resized image sizes used to map the coordinates.
  std::vector<float> EncodeSparse(const Prompt& prompt, const ImageEmbedding& geometry) const;
  // The sparse tokens [2, dim] of one foreground point and the padding point
  // as SamAutomaticMaskGenerator's predict_torch call makes them (x, y in
  // the resized input frame, f64): the coordinates stay f64 through + 0.5
  // and / 1024 and are cast to f32 only then (REFERENCE-AMG.md step 4a),
  // where EncodeSparse casts before the + 0.5.
  void EncodeInputFramePoint(double x, double y, float* tokens) const;
  // Number of sparse tokens EncodeSparse returns for this prompt.
  static int NumSparseTokens(const Prompt& prompt);

  // Dense embedding of a [256, 256] low-res mask, channel-first [dim, grid * grid].
  void EncodeMask(const float* mask_input, float* dense_chw) const;
  // Used instead of EncodeMask without a mask: one value per channel.
  const std::vector<float>& no_mask_embed() const { return no_mask_embed_; }

  // Writes the positional encoding of the grid cell centres, channel-last
  // [grid * grid, dim], to `out`. Not stored here: the mask decoder keeps
  // the only copy (4 MB at SAM's 64 x 64 grid; issue 21, peak RSS).
  void WriteDensePeHwc(float* out) const;
  // Floats WriteDensePeHwc writes.
  size_t dense_pe_floats() const { return static_cast<size_t>(grid_) * grid_ * dim_; }

  // Encoding of one point given in [0, 1]^2 (x, y) normalised coordinates.
  void EncodeCoords(float x, float y, float* out) const;

 private:
  void WritePaddingPoint(float* token) const;  // [dim]

  int dim_ = 0;
  int grid_ = 0;
  int image_size_ = 1024;
  int mask_size_ = 256;
  int c1_ = 0, c2_ = 0;  // mask downscaling channels (dim / 64, dim / 16 in SAM)
  std::vector<float> gaussian_;  // [2, dim / 2]
  std::vector<float> point_embed_[4];
  std::vector<float> not_a_point_;
  std::vector<float> no_mask_embed_;
  std::vector<float> conv0_w_, conv0_b_, ln0_w_, ln0_b_;
  std::vector<float> conv1_w_, conv1_b_, ln1_w_, ln1_b_;
  std::vector<float> conv2_w_, conv2_b_;  // 1x1: [dim, c2]
};

}  // namespace persam

#endif  // PERSAM_ENGINE_PROMPT_ENCODER_H_
