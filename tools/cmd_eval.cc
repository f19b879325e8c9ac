// `persam eval`: mIoU / mAcc of predicted masks against PerSEG annotations,
// printed as the reference's eval_miou.py prints them; with --davis, the
// DAVIS 2017 J&F of a video results folder as eval_video.py computes it.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/error.h"
#include "persam/eval.h"
#include "tools/cli.h"
#include "video/davis_eval.h"

namespace persam::cli {
namespace {

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out.flush()) throw Error("cannot write '" + path + "'");
}

// ref: eval_video.py eval_davis_result: the CSVs, then the two tables.
int RunDavisEval(const Args& args, const std::string& root) {
  for (const char* perseg : {"pred", "gt", "ref-idx"}) {
    if (args.Value(perseg)) throw UsageError{std::string("--") + perseg + " is for PerSeg; --davis takes --results"};
  }
  if (args.Flag("json")) throw UsageError{"--davis writes its JSON with --json-out FILE"};
  const std::string results = args.Required("results");
  const std::string set = args.Value("set").value_or("val");
  const DavisEvaluation e = EvaluateDavis(root, results, set);
  const std::string csv_dir = args.Value("csv-dir").value_or(DavisCsvDir(results));
  std::filesystem::create_directories(csv_dir);
  const std::string global = csv_dir + "/global_results-" + set + ".csv";
  const std::string per_seq = csv_dir + "/per-sequence_results-" + set + ".csv";
  WriteText(global, DavisGlobalCsv(e));
  WriteText(per_seq, DavisPerSequenceCsv(e));
  if (auto json = args.Value("json-out")) WriteText(*json, DavisEvaluationJson(e));
  Say(args, "Global results saved in %s\nPer-sequence results saved in %s\n", global.c_str(), per_seq.c_str());
  // The scores are the command's output: printed even with --quiet.
  std::fputs(DavisTables(e).c_str(), stdout);
  return 0;
}

int RunEval(const Args& args) {
  if (!args.positionals().empty()) throw UsageError{"unexpected argument '" + args.positionals()[0] + "'"};
  if (auto root = args.Value("davis")) return RunDavisEval(args, *root);
  for (const char* davis : {"results", "set", "csv-dir", "json-out"}) {
    if (args.Value(davis)) throw UsageError{std::string("--") + davis + " needs --davis ROOT"};
  }
  const std::string pred = args.Required("pred");
  const std::string gt = args.Required("gt");
  const std::string ref_idx = args.Value("ref-idx").value_or("00");
  const EvalResult result = EvaluatePredictions(pred, gt, ref_idx);
  const std::string text = args.Flag("json") ? FormatEvalJson(result) : FormatEvalText(result);
  // The scores are the command's output: printed even with --quiet.
  std::fputs(text.c_str(), stdout);
  for (const std::string& warning : result.warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
  return 0;
}

}  // namespace

extern const Command kEvalCommand = {
    "eval",
    "PerSeg mIoU / mAcc of predicted masks (as eval_miou.py)",
    "usage: persam eval --pred DIR --gt DATA/Annotations [--ref-idx 00] [--json]\n"
    "       persam eval --davis ROOT --results DIR [--set val] [--csv-dir D] [--json-out F]\n\n"
    "Compares DIR/<object>/*.png with DATA/Annotations/<object>/*.png (any\n"
    "non-black pixel is foreground, as cv2 BGR2GRAY > 0), pairing each side's\n"
    "sorted PNGs in order and skipping the reference image. Per object:\n"
    "IoU = sum of intersections / sum of unions, Acc = sum of intersections /\n"
    "sum of ground-truth areas; then their means over objects, in percent.\n\n"
    "  --pred DIR      predictions (persam personalize --out DIR)\n"
    "  --gt DIR        ground-truth annotations (DATA/Annotations)\n"
    "  --ref-idx NN    reference image index, excluded (default 00)\n"
    "  --json          print JSON instead of text\n\n"
    "DAVIS 2017 semi-supervised (as eval_video.py + the official toolkit):\n"
    "DIR/<seq>/<frame>.png label maps (indexed PNG, ids as in the first\n"
    "annotation) for every annotated frame but the first and the last of each\n"
    "sequence folder in DIR (each must be in ROOT/ImageSets/2017/<set>.txt).\n"
    "Per object J (region IoU) and F (boundary F-measure), mean / recall /\n"
    "decay, then means over all objects. Writes global_results-<set>.csv and\n"
    "per-sequence_results-<set>.csv (values %.3f) and prints both tables.\n\n"
    "  --davis ROOT    DAVIS root (ImageSets/, Annotations/480p/, JPEGImages/480p/)\n"
    "  --results DIR   one folder per sequence (persam video --out DIR)\n"
    "  --set NAME      image set (default val)\n"
    "  --csv-dir D     where the CSVs go (default: DIR with every 'result'\n"
    "                  replaced by 'result_csv', as the reference does)\n"
    "  --json-out F    per sequence, object and frame J and F as JSON\n",
    {"pred", "gt", "ref-idx", "davis", "results", "set", "csv-dir", "json-out"},
    {"json"},
    RunEval,
};

}  // namespace persam::cli
