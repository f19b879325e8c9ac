// Driver of PerSAM-F's loss pass: data preparation, the dispatched per-target
// block loop (OpenMP), and the double-precision reference.
#include "persam/mask_loss.h"

#include <algorithm>
#include <cmath>

#include <omp.h>
#include <vector>

#include "base/error.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "persam/mask_loss.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "persam/mask_loss-inl.h"

HWY_BEFORE_NAMESPACE();
namespace persam {
namespace HWY_NAMESPACE {

// Blocks part, part + num_parts, ... of the list (group 0's blocks, then
// group 1's), each block's float sums widened to double and added in order.
void MaskLossPart(const MaskMixtureProblem& problem, float w1, float w2, int part,
                  int num_parts, double* out) {
  const hn::ScalableTag<float> d;
  const int64_t blocks0 = problem.group(0).padded / kMaskLossBlock;
  const int64_t total = blocks0 + problem.group(1).padded / kMaskLossBlock;
  for (int k = 0; k < kMaskLossPartSums; ++k) out[k] = 0.0;
  for (int64_t b = part; b < total; b += num_parts) {
    const int g = b < blocks0 ? 0 : 1;
    const MaskMixtureProblem::Group& group = problem.group(g);
    const int64_t offset = (g == 0 ? b : b - blocks0) * kMaskLossBlock;
    double block[6];
    MaskLossBlockSums(d, group.c.get() + offset, group.e1.get() + offset,
                      group.e2.get() + offset, kMaskLossBlock, w1, w2, block);
    for (int k = 0; k < 6; ++k) out[6 * g + k] += block[k];
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace persam
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam {
HWY_EXPORT(MaskLossPart);

namespace {

constexpr float kPadLogit = -200.0f;  // exp(-200) underflows: contributes 0
constexpr double kAlphaPositive = 0.25, kAlphaNegative = 0.75;
constexpr double kLog2e = 1.44269504088896340736;  // 1 / ln 2
constexpr double kLn2 = 0.69314718055994530942;

}  // namespace

MaskMixtureProblem::MaskMixtureProblem(const float* logits, const uint8_t* target,
                                       int64_t num_pixels)
    : num_pixels_(num_pixels) {
  if (num_pixels <= 0) throw Error("PerSAM-F training: the target mask has no pixels");
  for (int64_t i = 0; i < num_pixels; ++i) num_positive_ += target[i] != 0;
  const int64_t counts[2] = {num_pixels - num_positive_, num_positive_};
  for (int g = 0; g < 2; ++g) {
    Group& group = groups_[g];
    group.count = counts[g];
    group.padded = (counts[g] + kMaskLossBlock - 1) / kMaskLossBlock * kMaskLossBlock;
    const size_t size = static_cast<size_t>(std::max<int64_t>(group.padded, 1));
    group.c = hwy::AllocateAligned<float>(size);
    group.e1 = hwy::AllocateAligned<float>(size);
    group.e2 = hwy::AllocateAligned<float>(size);
  }
  const float* l0 = logits;
  const float* l1 = logits + num_pixels;
  const float* l2 = logits + 2 * num_pixels;
  int64_t fill[2] = {0, 0};
  for (int64_t i = 0; i < num_pixels; ++i) {
    const int g = target[i] != 0 ? 1 : 0;
    // y = -x on the foreground; base-2 units (one rounding, from double).
    const double scale = g == 1 ? -kLog2e : kLog2e;
    Group& group = groups_[g];
    const int64_t j = fill[g]++;
    group.c[j] = static_cast<float>(scale * l0[i]);
    group.e1[j] = static_cast<float>(scale * (static_cast<double>(l1[i]) - l0[i]));
    group.e2[j] = static_cast<float>(scale * (static_cast<double>(l2[i]) - l0[i]));
  }
  for (int g = 0; g < 2; ++g) {
    Group& group = groups_[g];
    std::fill(group.c.get() + group.count, group.c.get() + group.padded, kPadLogit);
    std::fill(group.e1.get() + group.count, group.e1.get() + group.padded, 0.0f);
    std::fill(group.e2.get() + group.count, group.e2.get() + group.padded, 0.0f);
  }
}

void MaskLossPartSums(const MaskMixtureProblem& problem, float w1, float w2, int part,
                      int num_parts, double* out) {
  HWY_DYNAMIC_DISPATCH(MaskLossPart)(problem, w1, w2, part, num_parts, out);
}

MaskLossValue EvaluateMaskLoss(const MaskMixtureProblem& problem, float w1, float w2) {
  // Reused across calls on this thread.
  thread_local std::vector<double> sums;
  sums.assign(static_cast<size_t>(kMaskLossPartSums) * omp_get_max_threads(), 0.0);
  // A plain pointer: inside the region `sums` would name each thread's own copy.
  double* const all_sums = sums.data();
  int parts = 1;
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), num_threads = omp_get_num_threads();
    if (t == 0) parts = num_threads;
    MaskLossPartSums(problem, w1, w2, t, num_threads, all_sums + kMaskLossPartSums * t);
  }
  return CombineMaskLossSums(problem, sums.data(), parts);
}

MaskLossValue CombineMaskLossSums(const MaskMixtureProblem& problem, const double* part_sums,
                                  int num_parts) {
  MaskLossSums group_sums[2];
  for (int p = 0; p < num_parts; ++p) {
    for (int g = 0; g < 2; ++g) {
      MaskLossSums& s = group_sums[g];
      const double* sums = part_sums + kMaskLossPartSums * p + 6 * g;
      s.sum_q += sums[0];
      s.sum_focal += sums[1];
      s.dice_grad[0] += sums[2];
      s.dice_grad[1] += sums[3];
      s.focal_grad[0] += sums[4];
      s.focal_grad[1] += sums[5];
    }
  }
  const MaskLossSums& neg = group_sums[0];
  const MaskLossSums& pos = group_sums[1];
  const double n = static_cast<double>(problem.num_pixels());
  const double n_pos = static_cast<double>(problem.num_positive());

  // dice = 1 - (2 sum(p t) + 1) / (sum p + sum t + 1); on the foreground
  // p = 1 - q, on the background p = q.
  const double sum_pt = n_pos - pos.sum_q;
  const double sum_p = sum_pt + neg.sum_q;
  const double num = 2.0 * sum_pt + 1.0;
  const double den = sum_p + n_pos + 1.0;
  MaskLossValue value;
  value.dice = 1.0 - num / den;
  value.focal = (kAlphaPositive * pos.sum_focal + kAlphaNegative * neg.sum_focal) / n;
  // d dice / dp_j = (num - 2 t_j den) / den^2; dp/dx = q (1 - q); dx/dy = -1 on
  // the foreground, so d dice / dy = (2 den - num) / den^2 q (1 - q) there and
  // num / den^2 q (1 - q) on the background.
  const double coef_pos = (2.0 * den - num) / (den * den);
  const double coef_neg = num / (den * den);
  // The sums hold e_k in base-2 units: d y / d w_k = ln2 e_k.
  for (int k = 0; k < 2; ++k) {
    value.grad[k] = kLn2 * (coef_pos * pos.dice_grad[k] + coef_neg * neg.dice_grad[k] +
                            (kAlphaPositive * pos.focal_grad[k] + kAlphaNegative * neg.focal_grad[k]) / n);
  }
  return value;
}

MaskLossValue EvaluateMaskLossReference(const float* logits, const uint8_t* target,
                                        int64_t num_pixels, double w1, double w2) {
  // Straight from persam_f.py: x = sum_i m_i L_i, p = sigmoid(x).
  const double m[3] = {1.0 - w1 - w2, w1, w2};
  double sum_p = 0, sum_pt = 0, sum_t = 0, focal = 0;
  // Derivatives of each sum with respect to w1, w2.
  double d_sum_p[2] = {0, 0}, d_sum_pt[2] = {0, 0}, d_focal[2] = {0, 0};
  for (int64_t i = 0; i < num_pixels; ++i) {
    const double l[3] = {logits[i], logits[num_pixels + i], logits[2 * num_pixels + i]};
    const double x = m[0] * l[0] + m[1] * l[1] + m[2] * l[2];
    const double dx[2] = {l[1] - l[0], l[2] - l[0]};
    const double t = target[i] != 0 ? 1.0 : 0.0;
    const double p = 1.0 / (1.0 + std::exp(-x));
    const double dp = p * (1.0 - p);
    // BCE with logits: max(x, 0) - x t + log1p(exp(-|x|)).
    const double ce = std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::fabs(x)));
    const double dce = p - t;
    const double pt = p * t + (1 - p) * (1 - t);
    const double dpt = (2 * t - 1) * dp;
    const double alpha = 0.25 * t + 0.75 * (1 - t);
    const double mod = (1 - pt) * (1 - pt);
    const double dmod = -2 * (1 - pt) * dpt;
    sum_p += p;
    sum_pt += p * t;
    sum_t += t;
    focal += alpha * ce * mod;
    for (int k = 0; k < 2; ++k) {
      d_sum_p[k] += dp * dx[k];
      d_sum_pt[k] += dp * t * dx[k];
      d_focal[k] += alpha * (dce * mod + ce * dmod) * dx[k];
    }
  }
  const double num = 2 * sum_pt + 1, den = sum_p + sum_t + 1;
  MaskLossValue value;
  value.dice = 1 - num / den;
  value.focal = focal / static_cast<double>(num_pixels);
  for (int k = 0; k < 2; ++k) {
    const double d_num = 2 * d_sum_pt[k], d_den = d_sum_p[k];
    value.grad[k] = -(d_num * den - num * d_den) / (den * den) +
                    d_focal[k] / static_cast<double>(num_pixels);
  }
  return value;
}

}  // namespace persam
#endif  // HWY_ONCE
