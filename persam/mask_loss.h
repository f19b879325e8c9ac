// PerSAM-F's training objective (REFERENCE.md section 8.5): three frozen logit
// maps L0..L2 mixed by (1 - w1 - w2, w1, w2), then dice + sigmoid focal loss
// against a binary target over every pixel, and the exact gradient of that
// loss with respect to (w1, w2), derived by hand (no autodiff).
//
// ref: Personalize-SAM/persam_f.py calculate_dice_loss,
//      calculate_sigmoid_focal_loss (alpha 0.25, gamma 2, mean over pixels).
#ifndef PERSAM_PERSAM_MASK_LOSS_H_
#define PERSAM_PERSAM_MASK_LOSS_H_

#include <cstdint>
#include <vector>

#include "hwy/aligned_allocator.h"

namespace persam {

// The pixels rearranged once for the per-step pass. Pixels are split by
// target value (the order of a sum does not matter) and stored as
// y = c + w1 * e1 + w2 * e2 with y = x for target 0 and y = -x for target 1,
// so that both groups evaluate the same branch-free expressions. The three
// maps are stored in base-2 units (times 1/ln2, rounded once from double):
// the per-pixel exp then needs no scaling FMA, and the gradient sums are
// scaled back by ln2 once per pass.
// The expressions:
//   loss term  alpha_t * softplus(y) * sigmoid(y)^2   (alpha 0.75 / 0.25)
//   dice p     sigmoid(y) (target 0), 1 - sigmoid(y) (target 1).
// Each group is padded to a multiple of kMaskLossBlock with pixels that
// contribute nothing (c = -200, e = 0: see mask_loss-inl.h).
class MaskMixtureProblem {
 public:
  // logits: [3, num_pixels] (L0, L1, L2), target: [num_pixels], non-zero =
  // foreground. Throws persam::Error when num_pixels <= 0.
  MaskMixtureProblem(const float* logits, const uint8_t* target, int64_t num_pixels);

  int64_t num_pixels() const { return num_pixels_; }
  int64_t num_positive() const { return num_positive_; }

  struct Group {
    int64_t count = 0;   // real pixels
    int64_t padded = 0;  // multiple of kMaskLossBlock
    hwy::AlignedFreeUniquePtr<float[]> c, e1, e2;
  };
  const Group& group(int g) const { return groups_[g]; }  // 0: target 0, 1: target 1

 private:
  int64_t num_pixels_ = 0;
  int64_t num_positive_ = 0;
  Group groups_[2];
};

// Pixels per work item of the per-step pass (a multiple of every vector width).
inline constexpr int64_t kMaskLossBlock = 4096;

// Per-group sums of one pass (double): sum sigmoid(y), sum softplus(y) *
// sigmoid(y)^2, and for k = 1, 2: sum q (1 - q) e_k and sum d/dy[focal term
// without alpha] e_k.
struct MaskLossSums {
  double sum_q = 0, sum_focal = 0;
  double dice_grad[2] = {0, 0};
  double focal_grad[2] = {0, 0};
};

struct MaskLossValue {
  double dice = 0;
  double focal = 0;
  double grad[2] = {0, 0};  // d(dice + focal) / d(w1, w2)
  double loss() const { return dice + focal; }
};

// One fused, vectorised (Highway, dispatched once per call) and multithreaded
// (OpenMP) pass over all pixels. Deterministic for a given thread count.
MaskLossValue EvaluateMaskLoss(const MaskMixtureProblem& problem, float w1, float w2);

// The same pass split for callers that run their own parallel region (the
// training loop keeps one region for all its steps). The blocks of both
// groups form one list; part p of num_parts takes blocks p, p + num_parts, ...
// (interleaved: neighbouring blocks cost alike, so the parts balance) and
// writes kMaskLossPartSums doubles: the 6 sums of group 0, then of group 1.
inline constexpr int kMaskLossPartSums = 12;
void MaskLossPartSums(const MaskMixtureProblem& problem, float w1, float w2, int part,
                      int num_parts, double* out);
// Loss and gradient from the sums of parts 0 .. num_parts - 1, added in that
// order (the result depends on num_parts, never on timing).
MaskLossValue CombineMaskLossSums(const MaskMixtureProblem& problem, const double* part_sums,
                                  int num_parts);

// The same in plain double precision, one pixel at a time, straight from the
// reference's formulas (for tests).
MaskLossValue EvaluateMaskLossReference(const float* logits, const uint8_t* target,
                                        int64_t num_pixels, double w1, double w2);

}  // namespace persam

#endif  // PERSAM_PERSAM_MASK_LOSS_H_
