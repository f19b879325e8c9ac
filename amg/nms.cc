#include "amg/nms.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include "base/error.h"

namespace persam::amg {
namespace {

// torchvision switches to its per-class path when boxes.numel() > 4000 on the
// CPU (ops/boxes.py batched_nms), i.e. more than 1000 boxes.
constexpr size_t kVanillaPathMinBoxes = 1001;

// PyTorch's descending comparator (aten/src/ATen/native/cpu/SortingKernel.cpp
// KeyValueCompDesc): NaN sorts before every number.
inline bool ScoreBefore(float a, float b) { return (std::isnan(a) && !std::isnan(b)) || (a > b); }

// torchvision csrc/ops/cpu/nms_kernel.cpp nms_kernel_impl: kept indices in
// the walk order (stable descending score order). All arithmetic in f32 as
// the kernel's scalar_t, the comparison with the double threshold in f64.
std::vector<int> GreedyNms(const std::vector<BoxF>& boxes, const std::vector<float>& scores,
                           double iou_threshold) {
  const int n = static_cast<int>(boxes.size());
  // areas_t = (x2_t - x1_t) * (y2_t - y1_t): elementwise f32 tensor ops.
  std::vector<float> areas(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const float w = boxes[i][2] - boxes[i][0];
    const float h = boxes[i][3] - boxes[i][1];
    areas[i] = w * h;
  }
  // scores.sort(stable=true, dim=0, descending=true).
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return ScoreBefore(scores[a], scores[b]); });

  std::vector<uint8_t> suppressed(static_cast<size_t>(n), 0);
  std::vector<int> keep;
  for (int oi = 0; oi < n; ++oi) {
    const int i = order[oi];
    if (suppressed[i]) continue;
    keep.push_back(i);
    const float ix1 = boxes[i][0], iy1 = boxes[i][1], ix2 = boxes[i][2], iy2 = boxes[i][3];
    const float iarea = areas[i];
    for (int oj = oi + 1; oj < n; ++oj) {
      const int j = order[oj];
      if (suppressed[j]) continue;
      // std::max / std::min with the kernel's argument order, so that even
      // NaN coordinates pick the same operand.
      const float xx1 = std::max(ix1, boxes[j][0]);
      const float yy1 = std::max(iy1, boxes[j][1]);
      const float xx2 = std::min(ix2, boxes[j][2]);
      const float yy2 = std::min(iy2, boxes[j][3]);
      const float w = std::max(0.0f, xx2 - xx1);
      const float h = std::max(0.0f, yy2 - yy1);
      const float inter = w * h;
      const float sum = iarea + areas[j];
      const float uni = sum - inter;
      const float ovr = inter / uni;
      // NaN (0 / 0 for two empty boxes) compares false: never suppresses.
      if (static_cast<double>(ovr) > iou_threshold) suppressed[j] = 1;
    }
  }
  return keep;
}

}  // namespace

// ref: torchvision/ops/boxes.py batched_nms with idxs all zero
std::vector<int> BatchedNms(const std::vector<BoxF>& boxes, const std::vector<float>& scores,
                            double iou_threshold) {
  if (boxes.size() != scores.size()) {
    throw Error("BatchedNms: boxes (" + std::to_string(boxes.size()) + ") and scores (" +
                std::to_string(scores.size()) + ") must have the same length");
  }
  if (boxes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    throw Error("BatchedNms: more than 2^31 - 1 boxes");
  }
  if (boxes.empty()) return {};

  if (boxes.size() < kVanillaPathMinBoxes) {
    // _batched_nms_coordinate_trick: boxes + idxs * (boxes.max() + 1). With
    // one class the offset is 0 * (max + 1), which is 0 unless the maximum
    // is inf or NaN: then every coordinate becomes NaN and nothing is
    // suppressed. Reproduce that rather than special-case it.
    // torch.max propagates NaN.
    bool any_nan = false;
    float max_coordinate = -std::numeric_limits<float>::infinity();
    for (const BoxF& b : boxes) {
      for (const float v : b) {
        if (std::isnan(v))
          any_nan = true;
        else if (v > max_coordinate)
          max_coordinate = v;
      }
    }
    if (any_nan) max_coordinate = std::numeric_limits<float>::quiet_NaN();
    const float offset = 0.0f * (max_coordinate + 1.0f);
    if (offset == 0.0f) return GreedyNms(boxes, scores, iou_threshold);
    std::vector<BoxF> shifted = boxes;
    for (BoxF& b : shifted) {
      for (float& v : b) v += offset;
    }
    return GreedyNms(shifted, scores, iou_threshold);
  }

  // _batched_nms_vanilla: keep_mask from nms(), keep_indices =
  // where(keep_mask) (ascending), then
  // keep_indices[scores[keep_indices].sort(descending=True)[1]], an unstable
  // sort that PyTorch's CPU kernel runs as std::sort over (value, index)
  // pairs. Calling std::sort with the same comparator on the same sequence
  // reproduces its order of ties with libstdc++.
  std::vector<int> kept = GreedyNms(boxes, scores, iou_threshold);
  std::sort(kept.begin(), kept.end());
  std::vector<std::pair<float, int>> pairs;
  pairs.reserve(kept.size());
  for (size_t k = 0; k < kept.size(); ++k) pairs.emplace_back(scores[kept[k]], kept[k]);
  std::sort(pairs.begin(), pairs.end(),
            [](const std::pair<float, int>& a, const std::pair<float, int>& b) {
              return ScoreBefore(a.first, b.first);
            });
  std::vector<int> out;
  out.reserve(pairs.size());
  for (const auto& p : pairs) out.push_back(p.second);
  return out;
}

}  // namespace persam::amg
