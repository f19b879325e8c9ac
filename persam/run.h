// The library entry points behind `persam personalize`: a whole PerSeg-layout
// dataset, or one reference + a list of target images; outputs written as
// the reference writes them, and a JSON report.
#ifndef PERSAM_PERSAM_RUN_H_
#define PERSAM_PERSAM_RUN_H_

#include <functional>
#include <string>
#include <vector>

#include "engine/sam_model.h"
#include "engine/timing.h"
#include "persam/personalizer.h"

namespace persam {

struct RunOptions {
  PersonalizeOptions personalize;
  std::string out_dir;      // empty: write nothing
  bool write_visualization = true;
  // This run's share of the images (--shard I/N, for splitting a folder over
  // machines or batch jobs): the images at positions i % shard_count ==
  // shard_index of the target list (PersonalizeImages, in the given order)
  // or of all objects' images in scan order (PersonalizeDataset). Objects
  // with no image in the share are skipped entirely.
  int shard_index = 0;
  int shard_count = 1;
  // --keep-going: a target that cannot be read or segmented gets an `error`
  // in its TargetResult (and the report) and the rest is processed; by
  // default every target is decoded before anything is written and the
  // first bad one stops the run naming it.
  bool keep_going = false;
  // --resume: targets whose mask file exists are skipped (the mask is
  // written last, atomically, so it exists only for a finished target); an
  // object whose targets are all done is not even trained.
  bool resume = false;
};

// Parses "I/N" (0 <= I < N); throws persam::Error naming `what` otherwise.
void ParseShard(const std::string& text, const std::string& what, RunOptions* options);

struct TargetResult {
  std::string name;        // output stem ("01")
  std::string image_path;
  std::string mask_path;   // written mask (empty when not written)
  ImageOutcome outcome;
  std::string error;       // --keep-going: why this target failed (no outcome)
  bool skipped = false;    // --resume: done by an earlier run (no outcome)
};

// A target image and the name its outputs are written under ("0042", or
// "trip/0042" for a file found in a folder).
struct NamedTarget {
  std::string name, path;
};

struct ObjectResult {
  std::string name;  // dataset object (empty in single-reference mode)
  std::string ref_image, ref_mask;
  ReferenceSummary reference;
  std::vector<TargetResult> targets;
};

struct RunReport {
  bool finetune = false;
  std::vector<ObjectResult> objects;
  StageTimings totals;  // summed over everything: encoder, prior, decoder, fine-tuning, output
  int images = 0;       // segmented by this run
  int failed = 0;       // --keep-going
  int skipped = 0;      // --resume
};

// Called before each reference / target: (object, images done, images this
// run processes over all objects, what).
using ProgressCallback = std::function<void(const std::string& object, int done, int total, const std::string& what)>;

// Every object of DATA (ScanPerSegDataset): masks to out_dir/<object>/NN.png
// and out_dir/<object>/vis_mask_NN.jpg.
RunReport PersonalizeDataset(const SamModel& model, const std::string& data_root, const std::string& ref_idx,
                             const RunOptions& options, const ProgressCallback& progress = nullptr);

// One reference and its targets: masks to out_dir/<stem>.png and
// out_dir/vis_mask_<stem>.jpg (stem of the target file name).
RunReport PersonalizeImages(const SamModel& model, const std::string& ref_image, const std::string& ref_mask,
                            const std::vector<std::string>& targets, const RunOptions& options,
                            const ProgressCallback& progress = nullptr);
// The same with output names given (folders expanded by the caller); names
// may hold '/', the sub-folders are created.
RunReport PersonalizeImages(const SamModel& model, const std::string& ref_image, const std::string& ref_mask,
                            const std::vector<NamedTarget>& targets, const RunOptions& options,
                            const ProgressCallback& progress = nullptr);

// --report FILE.json: per target the prior points and labels, each decoder
// call's box, scores, chosen index and mask areas, the final mask area and
// warnings; with --finetune the learned weights and the loss log.
std::string ReportToJson(const RunReport& report);

}  // namespace persam

#endif  // PERSAM_PERSAM_RUN_H_
