// SAM's two-way transformer (REFERENCE.md section 5), the first stage of the
// mask decoder: the query tokens [iou token, mask tokens, prompt tokens]
// and the grid x grid image tokens attend to each other for `depth` blocks,
// then a final token -> image attention. Internal to engine/mask_decoder.cc
// (the weights are MaskDecoder's; see the fold of the cross attentions in
// two_way_transformer.cc).
// ref: segment_anything/modeling/transformer.py TwoWayTransformer
#ifndef PERSAM_ENGINE_TWO_WAY_TRANSFORMER_H_
#define PERSAM_ENGINE_TWO_WAY_TRANSFORMER_H_

#include <cmath>
#include <vector>

#include "engine/mask_decoder.h"

namespace persam {

// Running softmax state of a chunk of blocks for the token -> image
// attention: acc [rows, dim] = sum_j exp(l(r, j) - run_max[r]) x_j.
struct OnlineState {
  std::vector<float> acc, run_max, run_sum, rescale;
  // acc is not cleared: the chunk's first block writes it.
  void Reset(int rows, int dim) {
    acc.resize(static_cast<size_t>(rows) * dim);
    run_max.assign(rows, -HUGE_VALF);
    run_sum.assign(rows, 0.0f);
    rescale.assign(rows, 1.0f);
  }
};

// Per-call buffers of the image passes, kept in the workspace (a 128 KiB
// scratch allocated per pass and thread would be a fresh mmap each time).
struct ImagePassBuffers {
  struct Thread {
    std::vector<float> xp, lg, dense;  // x + pe, logits, dense embedding of a block
  };
  std::vector<Thread> thread;
  std::vector<OnlineState> states;  // one per chunk of blocks
};

// Buffers reused across calls (the image passes' per-thread scratch, the
// stored attention of PerSAM's attn_sim path).
struct TwoWayTransformerBuffers {
  std::vector<float> probs_t;  // attention logits / probabilities [heads * tokens, n] (attn_sim)
  ImagePassBuffers pass;
};

// The trained weights, owned by MaskDecoder.
struct TwoWayTransformerWeights {
  const std::vector<MaskDecoder::Block>& blocks;
  const MaskDecoder::AttentionWeights& final_attn;
  const MaskDecoder::Norm& norm_final;
  const std::vector<float>& output_tokens;  // [1 + num_mask_tokens, dim]: iou token, mask tokens
  const float* pe_hwc;                      // dense positional encoding, channel-last [grid * grid, dim]
  int dim, grid, heads, num_mask_tokens;
};

// Runs the transformer on `in` (embedding, dense and sparse prompts,
// PerSAM's attn_sim and target_embedding). Outputs: `x` [grid * grid, dim]
// the updated image tokens; `out_tokens` [1 + in.num_masks, dim] the iou
// token and the selected mask tokens (in.first_mask ..) after
// norm_final_attn. ref: transformer.py TwoWayTransformer.forward
// The layer-0 image tokens x0 = embedding + dense prompt, channel-last
// [grid * grid, dim], and x0 + pe, exactly as the first image pass forms
// them: MaskDecoderInputs::image_hwc / image_pe_hwc for a batch of prompts.
void PrepareLayer0Tokens(const TwoWayTransformerWeights& w, const MaskDecoderInputs& in,
                         TwoWayTransformerBuffers* buf, float* x0, float* x0_pe);

void RunTwoWayTransformer(const TwoWayTransformerWeights& w, const MaskDecoderInputs& in,
                          TwoWayTransformerBuffers* buf, float* x, float* out_tokens);

}  // namespace persam

#endif  // PERSAM_ENGINE_TWO_WAY_TRANSFORMER_H_
