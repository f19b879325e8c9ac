// SAM's ViT image encoder (ViT-B/L/H or any size inferred from a checkpoint):
// patch embedding, absolute position embedding, windowed and global
// attention blocks with decomposed relative position bias, and the neck.
//
// Data layout: activations are channel-last token rows [tokens, C] (the
// reference's B x H x W x C), so every Linear is one GEMM against weights
// packed once at construction. Windowed blocks keep their tokens in window
// order (window-major, zero tokens for the padding) from the qkv projection to
// the attention output, so each window's q/k/v rows are contiguous and the
// attention kernel reads them in place from the qkv GEMM output via strides.
#ifndef PERSAM_ENGINE_VIT_ENCODER_H_
#define PERSAM_ENGINE_VIT_ENCODER_H_

#include <memory>
#include <mutex>
#include <vector>

#include "engine/image_encoder.h"
#include "engine/linear.h"
#include "engine/neck.h"
#include "engine/precision.h"

namespace persam {

class VitEncoder : public ImageEncoder {
 public:
  // precision: of the GEMM weights and inputs (engine/precision.h); the
  // weights may be stored in any float dtype or as int8 with per-channel
  // scales (weights/quantized.h) whatever the precision.
  VitEncoder(const TensorMap& tensors, const SamConfig& config,
             Precision precision = Precision::kF32);
  ~VitEncoder() override;

  void Encode(const float* input, float* embedding, StageTimings* timings,
              const ActivationHook& hook = nullptr) const override;

  // Bytes held by packed weights and parameters (for reports and tests).
  size_t WeightBytes() const;
  // Bytes of the activation workspace Encode allocates (and keeps).
  size_t WorkspaceBytes() const;
  void ReleaseScratch() const override;

  // Token rows per MLP chunk: lin1 + GELU + lin2 on chunks of rows, so that
  // the [tokens, mlp_dim] hidden activation is never whole (it shares the k/v
  // buffer; chunks of <= Tp / 2 rows need no more memory than k/v: 20 MB less
  // for ViT-B). 0 (the default): all tokens at once, because the chunk GEMMs'
  // idle thread tails measured 2-6 % of the MLP's time here (peak RSS stays
  // well within the ViT-B / ViT-H targets either way). The result does not
  // depend on the chunk (each row's GEMM work is the same). Set before the
  // first Encode (the workspace is sized then); tests set it small so that
  // the fixture model covers the chunked path.
  void set_mlp_chunk_rows(int rows) { mlp_chunk_rows_ = rows; }
  Precision precision() const { return precision_; }

  struct Block {
    int window = 0;  // side of the attention window; the grid side when global
    bool global = false;
    std::vector<float> norm1_w, norm1_b, norm2_w, norm2_b;
    LinearWeights q, kv, proj, lin1, lin2;  // q, kv: rows of attn.qkv
    std::vector<float> qkv_b, proj_b, lin1_b, lin2_b;
    // [2 * (2 window - 1), head_dim]: rel_pos_h then rel_pos_w, each resized
    // to 2 window - 1 rows as get_rel_pos does when needed.
    std::vector<float> rel_table;
  };
  struct Workspace;

 private:
  void RunBlock(const Block& block, Workspace& ws, StageTimings* timings) const;
  void Mlp(const Block& block, Workspace& ws) const;
  std::unique_ptr<Workspace> NewWorkspace() const;
  void RelativePositionBias(const Block& block, Workspace& ws, int tokens) const;

  Precision precision_ = Precision::kF32;
  int embed_dim_ = 0, depth_ = 0, heads_ = 0, head_dim_ = 0, mlp_dim_ = 0;
  int patch_ = 16, grid_ = 64, image_size_ = 1024, out_chans_ = 256;
  int mlp_chunk_rows_ = 0;
  LinearWeights patch_w_;
  std::vector<float> patch_b_;
  std::vector<float> pos_embed_;  // [grid * grid, C]
  std::vector<Block> blocks_;
  SamNeck neck_;

  // Activation buffers, allocated on the first Encode and reused: Encode is
  // const but serialised on this mutex.
  mutable std::mutex mutex_;
  mutable std::unique_ptr<Workspace> workspace_;
};

}  // namespace persam

#endif  // PERSAM_ENGINE_VIT_ENCODER_H_
