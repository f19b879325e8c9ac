// SAM's mask decoder (REFERENCE.md section 5): the two-way transformer over
// [iou token, mask tokens, prompt tokens] and the 64 x 64 image tokens, the
// upscaling to 256 x 256, the hypernetwork MLPs and the IoU head, with
// PerSAM's two optional inputs (attn_sim, target_embedding).
// ref: per_segment_anything/modeling/mask_decoder.py, transformer.py
#ifndef PERSAM_ENGINE_MASK_DECODER_H_
#define PERSAM_ENGINE_MASK_DECODER_H_

#include <memory>
#include <mutex>
#include <vector>

#include "engine/huge_page_buffer.h"
#include "engine/prompt_encoder.h"
#include "engine/timing.h"
#include "kernels/gemm.h"
#include "weights/sam_config.h"
#include "weights/tensor.h"

namespace persam {

struct MaskDecoderInputs {
  const float* embedding = nullptr;       // image embedding, channel-first [dim, grid * grid]
  const float* dense_chw = nullptr;       // dense prompt embedding [dim, grid * grid], or
  const float* dense_channel = nullptr;   // one value per channel (no_mask_embed)
  // Optional, for a batch of prompts on one image: the layer-0 image tokens
  // embedding + dense, channel-last [grid * grid, dim], and the same plus
  // the positional encoding. Read in place (not copied) by every prompt;
  // they replace embedding / dense_chw / dense_channel.
  const float* image_hwc = nullptr;
  const float* image_pe_hwc = nullptr;
  const float* sparse = nullptr;          // sparse prompt tokens [num_sparse, dim]
  int num_sparse = 0;
  const float* attn_sim = nullptr;          // PerSAM [grid * grid] or null
  const float* target_embedding = nullptr;  // PerSAM [dim] or null
  int first_mask = 0;                       // masks [first_mask, first_mask + num_masks)
  int num_masks = 1;
};

class MaskDecoder {
 public:
  // Takes the grid's dense positional encoding from `prompt_encoder`.
  MaskDecoder(const TensorMap& tensors, const SamConfig& config, const PromptEncoder& prompt_encoder);
  ~MaskDecoder();

  int num_mask_tokens() const { return num_mask_tokens_; }
  int mask_size() const { return 4 * grid_; }

  // masks: [num_masks, 4 grid, 4 grid] low-res logits; scores: [num_masks].
  // Thread-safe (calls are serialised: the kernels inside use every thread).
  void Run(const MaskDecoderInputs& in, float* masks, float* scores, StageTimings* timings) const;
  // The same in the caller's workspace, without the lock: several prompts
  // decode concurrently, one per thread (inside a caller's parallel region
  // the kernels run single-threaded), each with its own workspace. Results
  // are bit for bit Run's (no value depends on the thread count).
  struct Workspace;
  struct WorkspaceDeleter {
    void operator()(Workspace* w) const;
  };
  using WorkspacePtr = std::unique_ptr<Workspace, WorkspaceDeleter>;
  WorkspacePtr NewWorkspace() const;
  void RunIn(const MaskDecoderInputs& in, float* masks, float* scores, StageTimings* timings,
             Workspace* workspace) const;
  // The layer-0 image tokens of MaskDecoderInputs::image_hwc / image_pe_hwc
  // for `in`'s embedding and dense prompt: [grid * grid, dim] each.
  void PrepareImageTokens(const MaskDecoderInputs& in, std::vector<float>* image_hwc,
                          std::vector<float>* image_pe_hwc) const;

  struct Linear {
    kernels::PackedWeights packed;
    std::vector<float> b;  // [out]; the weight lives packed only
    int in = 0, out = 0;
    // y = act(x W^T + b) (+ residual [m, out]): the GEMM epilogue of this
    // layer's products.
    kernels::GemmEpilogue Epilogue(kernels::Epilogue act, const float* residual) const {
      kernels::GemmEpilogue ep;
      ep.bias = b.data();
      ep.activation = act;
      ep.residual = residual;
      ep.ldr = out;
      return ep;
    }
  };
  struct AttentionWeights {
    Linear q, k, v, o;
    // q_proj / k_proj weights [internal, dim] packed as GEMM B operands
    // [dim, internal] (B^T = W): the folded cross attentions' per-head
    // products with them (engine/two_way_transformer.cc FoldHeads).
    kernels::PackedWeights q_fold, k_fold;
    int heads = 0, internal = 0;
  };
  struct Norm {
    std::vector<float> w, b;
  };
  struct Block {
    AttentionWeights self_attn, token_to_image, image_to_token;
    Norm norm1, norm2, norm3, norm4;
    Linear mlp1, mlp2;
  };

 private:
  int dim_ = 0, grid_ = 0, heads_ = 0, num_mask_tokens_ = 0;
  std::vector<Block> blocks_;
  AttentionWeights final_attn_;
  Norm norm_final_;
  std::vector<float> output_tokens_;  // [1 + num_mask_tokens, dim]: iou token, mask tokens
  kernels::PackedWeights up0_packed_;
  // The second ConvTranspose as the A side of a GEMM: row (child * up1_out +
  // channel) holds W[:, channel, dy, dx], child = dy * 2 + dx.
  std::vector<float> up1_rows_;  // [4 * up1_out, up0_out]
  std::vector<float> up0_b_, up1_b_;
  Norm up_norm_;
  int up0_out_ = 0, up1_out_ = 0;
  std::vector<std::vector<Linear>> hyper_;  // [num_mask_tokens][3 layers]
  std::vector<Linear> iou_head_;
  HugePageBuffer pe_hwc_;  // the dense positional encoding, channel-last [grid * grid, dim]

  mutable std::mutex mu_;
  mutable std::unique_ptr<Workspace> ws_;
};

}  // namespace persam

#endif  // PERSAM_ENGINE_MASK_DECODER_H_
