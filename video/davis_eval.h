// `persam eval --davis`: the DAVIS 2017 semi-supervised evaluation of a
// results folder as Personalize-SAM's eval_video.py runs the official
// toolkit (REFERENCE-VIDEO.md section 4): per object J and F on every
// annotated frame but the first and the last, their mean / recall / decay,
// the global means over all objects, and the two CSV files.
// ref: Personalize-SAM/eval_video.py eval_davis_result; davis2017/
//      evaluation.py, davis.py get_all_masks, results.py read_masks.
#ifndef PERSAM_VIDEO_DAVIS_EVAL_H_
#define PERSAM_VIDEO_DAVIS_EVAL_H_

#include <string>
#include <vector>

#include "video/davis_metrics.h"

namespace persam {

struct DavisObjectScores {
  int id = 0;                    // 1 .. gt_objects
  std::vector<double> j, f;      // per scored frame
  MeasureStatistics j_stats, f_stats;
};

struct DavisSequenceScores {
  std::string name;
  std::vector<std::string> frames;  // the scored frame ids (file stems)
  int height = 0, width = 0;
  int bound_pix = 0;
  int gt_objects = 0;   // max id of the first annotation
  int res_objects = 0;  // max id over the scored result frames
  std::vector<DavisObjectScores> objects;
};

struct DavisEvaluation {
  std::string set;  // the image set name (val)
  std::vector<DavisSequenceScores> sequences;  // visiting order
  // J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay.
  double global[7] = {};
};

// root: the DAVIS root (ImageSets/2017/<set>.txt, Annotations/480p/<seq>/);
// results: one folder per sequence with <frame id>.png label maps. The
// sequences are the results folder's entries, in name order (the reference
// takes the directory's unspecified order). Where the toolkit exits silently
// (a missing result frame, an id above the object count) or crashes (an
// entry not in the set, a stray file, size mismatches), throws persam::Error
// naming the file.
DavisEvaluation EvaluateDavis(const std::string& root, const std::string& results, const std::string& set = "val");

// The folder eval_video.py writes the CSVs to: every "result" in the path
// replaced by "result_csv" (the path itself when it holds none).
std::string DavisCsvDir(const std::string& results);
// The CSV texts exactly as pandas to_csv(index=False, float_format="%.3f").
std::string DavisGlobalCsv(const DavisEvaluation& e);
std::string DavisPerSequenceCsv(const DavisEvaluation& e);
// The two tables as eval_video.py prints them (pandas to_string(index=False)).
std::string DavisTables(const DavisEvaluation& e);
// Per sequence, object and scored frame: J and F, plus every statistic.
std::string DavisEvaluationJson(const DavisEvaluation& e);

}  // namespace persam

#endif  // PERSAM_VIDEO_DAVIS_EVAL_H_
