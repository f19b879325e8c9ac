// PerSAM-F's training of the two mask weights (REFERENCE.md section 8.5):
// AdamW + CosineAnnealingLR as PyTorch 1.13 computes them, on the frozen
// multimask high-res logits of the reference image.
// ref: Personalize-SAM/persam_f.py persam_f (training loop), Mask_Weights.
#ifndef PERSAM_PERSAM_MASK_WEIGHTS_H_
#define PERSAM_PERSAM_MASK_WEIGHTS_H_

#include <array>
#include <cstdint>
#include <vector>

#include "persam/mask_loss.h"

namespace persam {

struct MaskWeightsOptions {
  int steps = 1000;            // --train_epoch
  double lr = 1e-3;            // --lr
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-4;           // torch.optim.AdamW(..., eps=1e-4)
  double weight_decay = 0.01;  // AdamW default
  int log_every = 200;         // --log_epoch
};

// One line pair of the reference's training log: the loss of step `step`
// (before its update) and the learning rate after its scheduler step.
struct MaskWeightsLogEntry {
  int step = 0;
  double lr = 0;
  double dice = 0;
  double focal = 0;
};

struct MaskWeightsResult {
  std::array<float, 3> weights{};  // (1 - w1 - w2, w1, w2), float32 as the reference
  std::vector<MaskWeightsLogEntry> log;
  double final_dice = 0, final_focal = 0;  // loss at the last step (before its update)
};

// PyTorch's torch.optim.AdamW single-tensor step on float32 parameters
// (decoupled weight decay), amsgrad off.
class AdamW {
 public:
  AdamW(int size, double beta1, double beta2, double eps, double weight_decay);
  // grad in float32 as autograd hands it over; lr is the group's current lr.
  void Step(float* params, const float* grad, double lr);

 private:
  double beta1_, beta2_, eps_, weight_decay_;
  int64_t step_ = 0;
  std::vector<float> exp_avg_, exp_avg_sq_;
};

// torch.optim.lr_scheduler.CosineAnnealingLR (eta_min 0), the recursive form
// PyTorch 1.13 uses when step() is called once per epoch.
class CosineAnnealingLr {
 public:
  CosineAnnealingLr(double base_lr, int t_max) : base_lr_(base_lr), lr_(base_lr), t_max_(t_max) {}
  double lr() const { return lr_; }  // get_last_lr()
  void Step();

 private:
  double base_lr_, lr_;
  int t_max_;
  int last_epoch_ = 0;
};

// logits: [3, num_pixels] multimask high-res logits of the reference image;
// target: [num_pixels], non-zero = foreground. Runs all steps in one OpenMP
// region (one barrier per step); the result is identical run to run for a
// given thread count.
MaskWeightsResult TrainMaskWeights(const float* logits, const uint8_t* target,
                                   int64_t num_pixels, const MaskWeightsOptions& options = {});
// The same on a prepared problem (benchmarks reuse it).
MaskWeightsResult TrainMaskWeights(const MaskMixtureProblem& problem,
                                   const MaskWeightsOptions& options = {});

}  // namespace persam

#endif  // PERSAM_PERSAM_MASK_WEIGHTS_H_
