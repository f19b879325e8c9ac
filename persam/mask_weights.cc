#include "persam/mask_weights.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <omp.h>

#include "base/error.h"

namespace persam {

AdamW::AdamW(int size, double beta1, double beta2, double eps, double weight_decay)
    : beta1_(beta1), beta2_(beta2), eps_(eps), weight_decay_(weight_decay),
      exp_avg_(size, 0.0f), exp_avg_sq_(size, 0.0f) {}

void AdamW::Step(float* params, const float* grad, double lr) {
  // ref: torch/optim/adamw.py _single_tensor_adamw (1.13). Tensor ops run in
  // float32 with the Python scalars rounded to float; the bias corrections
  // are Python (double) arithmetic.
  ++step_;
  const double step = static_cast<double>(step_);
  const double bias_correction1 = 1.0 - std::pow(beta1_, step);
  const double bias_correction2 = 1.0 - std::pow(beta2_, step);
  const float step_size = static_cast<float>(lr / bias_correction1);
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float decay = static_cast<float>(1.0 - lr * weight_decay_);
  const float b1 = static_cast<float>(beta1_), one_minus_b1 = static_cast<float>(1.0 - beta1_);
  const float b2 = static_cast<float>(beta2_), one_minus_b2 = static_cast<float>(1.0 - beta2_);
  const float eps = static_cast<float>(eps_);
  for (size_t i = 0; i < exp_avg_.size(); ++i) {
    params[i] *= decay;
    exp_avg_[i] = exp_avg_[i] * b1 + one_minus_b1 * grad[i];
    exp_avg_sq_[i] = exp_avg_sq_[i] * b2 + one_minus_b2 * (grad[i] * grad[i]);
    const float denom = std::sqrt(exp_avg_sq_[i]) / bias_correction2_sqrt + eps;
    params[i] += -step_size * (exp_avg_[i] / denom);
  }
}

void CosineAnnealingLr::Step() {
  // ref: torch/optim/lr_scheduler.py CosineAnnealingLR.get_lr (1.13), eta_min 0.
  ++last_epoch_;
  const double pi = 3.14159265358979323846;
  const double t = static_cast<double>(t_max_);
  if ((last_epoch_ - 1 - t_max_) % (2 * t_max_) == 0) {
    lr_ = lr_ + base_lr_ * (1.0 - std::cos(pi / t)) / 2.0;
  } else {
    lr_ = (1.0 + std::cos(pi * last_epoch_ / t)) / (1.0 + std::cos(pi * (last_epoch_ - 1) / t)) * lr_;
  }
}

MaskWeightsResult TrainMaskWeights(const MaskMixtureProblem& problem,
                                   const MaskWeightsOptions& options) {
  if (options.steps < 0) throw Error("PerSAM-F training: steps must be >= 0");
  MaskWeightsResult result;
  if (options.log_every > 0) result.log.reserve(static_cast<size_t>(options.steps / options.log_every + 1));
  // One parallel region for all steps (a region per step costs a fork and a
  // join each time). Per step, each thread sums its blocks, one barrier, then
  // every thread combines all parts in the same order and runs the same
  // optimiser step: identical weights on every thread, no second barrier.
  // Two sum buffers by step parity: a thread writing step s + 1's sums cannot
  // disturb a slower one still reading step s's, and it cannot reach step
  // s + 2 before every thread has passed the barrier of step s + 1.
  const int max_threads = omp_get_max_threads();
  const size_t buffer = static_cast<size_t>(kMaskLossPartSums) * max_threads;
  std::vector<double> sums(2 * buffer);
  double* const all_sums = sums.data();
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), num_threads = omp_get_num_threads();
    // ref: Mask_Weights: nn.Parameter(torch.ones(2, 1) / 3).
    float w[2] = {1.0f / 3.0f, 1.0f / 3.0f};
    AdamW optimizer(2, options.beta1, options.beta2, options.eps, options.weight_decay);
    CosineAnnealingLr scheduler(options.lr, std::max(options.steps, 1));
    for (int step = 0; step < options.steps; ++step) {
      double* const step_sums = all_sums + (step & 1) * buffer;
      MaskLossPartSums(problem, w[0], w[1], t, num_threads, step_sums + kMaskLossPartSums * t);
#pragma omp barrier
      const MaskLossValue value = CombineMaskLossSums(problem, step_sums, num_threads);
      const float grad[2] = {static_cast<float>(value.grad[0]), static_cast<float>(value.grad[1])};
      optimizer.Step(w, grad, scheduler.lr());
      scheduler.Step();
      if (t == 0) {
        result.final_dice = value.dice;
        result.final_focal = value.focal;
        if (options.log_every > 0 && step % options.log_every == 0) {
          result.log.push_back({step, scheduler.lr(), value.dice, value.focal});
        }
      }
    }
    // ref: weights = torch.cat((1 - weights.sum(0), weights)) in float32.
    if (t == 0) result.weights = {1.0f - (w[0] + w[1]), w[0], w[1]};
  }
  return result;
}

MaskWeightsResult TrainMaskWeights(const float* logits, const uint8_t* target,
                                   int64_t num_pixels, const MaskWeightsOptions& options) {
  const MaskMixtureProblem problem(logits, target, num_pixels);
  return TrainMaskWeights(problem, options);
}

}  // namespace persam
