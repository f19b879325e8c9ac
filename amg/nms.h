// Greedy box non-maximum suppression exactly as torchvision's batched_nms
// (one category) on the CPU computes it, including the order of its
// output (REFERENCE-AMG.md step 5).
// ref: torchvision/ops/boxes.py batched_nms, csrc/ops/cpu/nms_kernel.cpp
#ifndef PERSAM_AMG_NMS_H_
#define PERSAM_AMG_NMS_H_

#include <array>
#include <vector>

namespace persam::amg {

// x0, y0, x1, y1 as float32 (the reference converts its integer boxes
// with .float()).
using BoxF = std::array<float, 4>;

// Kept indices in output order. Up to 1000 boxes: stable descending order
// of score, then greedy suppression of every later box with IoU >
// threshold (IoU in f32, compared in f64; NaN never suppresses). More than
// 1000 boxes: the same kept set, listed in ascending index order and then
// re-sorted with std::sort on (score, index) pairs, "a before b iff
// score_a > score_b" (NaN first), which is what PyTorch's unstable CPU sort
// does with libstdc++.
std::vector<int> BatchedNms(const std::vector<BoxF>& boxes, const std::vector<float>& scores,
                            double iou_threshold);

}  // namespace persam::amg

#endif  // PERSAM_AMG_NMS_H_
