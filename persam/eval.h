// PerSeg evaluation as the reference's eval_miou.py computes it
// (REFERENCE.md section 9): per object, IoU = sum of intersections / sum of
// unions and accuracy = sum of intersections / sum of ground-truth areas over
// its non-reference images; mIoU / mAcc are the means over objects.
#ifndef PERSAM_PERSAM_EVAL_H_
#define PERSAM_PERSAM_EVAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/image.h"

namespace persam {

// cv2.cvtColor(BGR2GRAY) > 0 on an 8-bit image: OpenCV's fixed point
// Y = (4899 R + 9617 G + 1868 B + 2^13) >> 14, so e.g. (0, 0, 1) is background.
std::vector<uint8_t> GrayForeground(const RgbImage& image);

struct MaskPairCounts {
  int64_t intersection = 0, union_ = 0, target = 0;
};
// intersectionAndUnion(pred, gt) of eval_miou.py on two foreground maps.
MaskPairCounts CountMaskPair(const std::vector<uint8_t>& pred, const std::vector<uint8_t>& gt);

struct ObjectScore {
  std::string name;
  int images = 0;  // (prediction, ground truth) pairs counted
  MaskPairCounts counts;
  double iou = 0, accuracy = 0;  // fractions, as the reference (with its 1e-10)
};

struct EvalResult {
  std::vector<ObjectScore> objects;
  std::vector<std::string> warnings;  // objects without predictions (scored 0)
  double mean_iou = 0, mean_accuracy = 0;
};

// Walks gt_dir/<object>/**.png and pred_dir/<object>/**.png as eval_miou.py
// does: objects are the sorted sub-directories of gt_dir (names containing
// ".DS" skipped); each side's PNGs sorted by path and paired in that order
// (zip: the shorter list wins); a pair is skipped when ref_idx occurs in the
// ground-truth path below gt_dir ("<object>/<file>"). Throws persam::Error on
// a missing directory, an unreadable image or two masks of different sizes,
// and on the layouts that would score every object 0: gt_dir at a dataset
// root (holding Annotations/) or without any PNG below its object folders,
// pred_dir without any of gt_dir's object folders.
EvalResult EvaluatePredictions(const std::string& pred_dir, const std::string& gt_dir,
                               const std::string& ref_idx = "00");

// "cat, IoU: 12.34, Acc: 56.78\n\n" per object, then "\nmIoU: ..\nmAcc: ..\n\n".
std::string FormatEvalText(const EvalResult& result);
std::string FormatEvalJson(const EvalResult& result);

}  // namespace persam

#endif  // PERSAM_PERSAM_EVAL_H_
