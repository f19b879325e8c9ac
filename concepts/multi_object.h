// Several instances per image the way the official multi-object script
// finds them (REFERENCE-VIDEO.md section 5): per PerSeg object, PerSAM-F
// trained on the first part of its images, then on every image up to
// max_objects rounds of "encode, PerSAM-F cascade, black the mask out of the
// image", stopping when a mask overlaps an earlier one by the IoU threshold.
// `persam personalize --dataset DATA --multi-object MODE` runs it.
// ref: Personalize-SAM/persam_f_multi_obj.py main, persam_f.
#ifndef PERSAM_CONCEPTS_MULTI_OBJECT_H_
#define PERSAM_CONCEPTS_MULTI_OBJECT_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/image.h"
#include "engine/sam_model.h"
#include "engine/timing.h"
#include "persam/mask_weights.h"
#include "persam/personalizer.h"

namespace persam {

enum class MultiObjectMode {
  kReference,  // the script's results, its bugs included; its crashes are MultiObjectCrash
  kCorrected   // section 6's fixes (MultiObjectDeviations); each one that fires is reported
};

// The deviations corrected mode always makes (the report lists them, then
// each fallback that fired).
std::vector<std::string> MultiObjectDeviations();

struct MultiObjectOptions {
  MultiObjectMode mode = MultiObjectMode::kReference;
  double training_percentage = 0.5;  // --training_percentage
  int max_objects = 10;              // --max_objects
  double iou_threshold = 0.8;        // --iou_threshold
  // --train_epoch_inside 200, lr 1e-3 (the script's --lr cannot be changed:
  // it is declared int), AdamW eps 1e-4.
  MaskWeightsOptions training = {200, 1e-3, 0.9, 0.999, 1e-4, 0.01, 200};
  std::string out_dir;  // empty: write nothing
  bool write_visualization = true;
};

// Where the reference crashes (an empty mask whose box it takes, or no
// training image): the run stops with this error naming object, image,
// iteration and decoder call.
struct MultiObjectCrash : Error {
  using Error::Error;
};

// What the images are tested with: the last training image's target feature
// and weights (reference), or all training images fused (corrected).
struct MultiObjectTraining {
  std::vector<std::string> images, masks;   // the training images, in order
  std::vector<ReferenceSummary> summaries;  // per training image (reference: each trained alone)
  TargetFeatures target;
  std::array<float, 3> weights{};
  int ref_height = 0, ref_width = 0;
};

struct MultiObjectIteration {
  ImageOutcome outcome;                // prior point, the three calls, the final mask
  std::vector<double> iou_vs_history;  // against the accepted masks, up to the one that stopped (NaN: both empty)
};

struct MultiObjectImage {
  std::string name, path;  // "NN", the image file
  int height = 0, width = 0;
  std::vector<MultiObjectIteration> iterations;
  int objects_found = 0;  // the accepted masks (the reference's "objects:<k>")
  bool stopped_by_iou = false;
  std::vector<uint8_t> output;  // [height * width] 0/1: NN.png's mask (reference: the last iteration's)
  std::vector<std::string> deviations;
  StageTimings timings;
};

struct MultiObjectObject {
  std::string name;
  MultiObjectTraining training;
  std::vector<MultiObjectImage> images;
};

struct MultiObjectReport {
  MultiObjectOptions options;
  std::vector<MultiObjectObject> objects;
  std::vector<std::string> deviations;  // every one that fired, in order
  StageTimings totals;
};

// Training on `images` (paths with their masks), the first n_train of an
// object's images. Reference: each trained from scratch, the last one kept;
// corrected: fused as `persam learn` fuses several references.
MultiObjectTraining TrainMultiObject(const SamModel& model, const std::vector<std::string>& images,
                                     const std::vector<std::string>& masks, const MultiObjectOptions& options);

// The instance rounds on one image. `where` names it in errors and deviations.
MultiObjectImage FindInstancesByBlackout(const SamModel& model, const Personalizer& personalizer,
                                         const RgbImage& image, const MultiObjectOptions& options,
                                         const std::string& where);

// IoU of two 0/1 masks as the script computes it (float64; NaN when both are empty).
double MaskIoU(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

// Called before each step: (object, done, total, what).
using MultiObjectProgress = std::function<void(const std::string&, int, int, const std::string&)>;

// Every object of a PerSeg-layout folder: DIR/<object>/NN.png (foreground
// (128, 0, 0)) and vis_mask_NN_objects:<k>.jpg. Throws persam::Error for a
// bad layout or option before anything is written.
MultiObjectReport RunMultiObject(const SamModel& model, const std::string& data_root,
                                 const MultiObjectOptions& options, const MultiObjectProgress& progress = nullptr);

// --report FILE.json.
std::string MultiObjectReportJson(const MultiObjectReport& report);

}  // namespace persam

#endif  // PERSAM_CONCEPTS_MULTI_OBJECT_H_
