// `persam eval`: mIoU / mAcc of predicted masks against PerSEG annotations,
// printed as the reference's eval_miou.py prints them.
#include <cstdio>
#include <string>

#include "persam/eval.h"
#include "tools/cli.h"

namespace persam::cli {
namespace {

int RunEval(const Args& args) {
  if (!args.positionals().empty()) throw UsageError{"unexpected argument '" + args.positionals()[0] + "'"};
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
    "usage: persam eval --pred DIR --gt DATA/Annotations [--ref-idx 00] [--json]\n\n"
    "Compares DIR/<object>/*.png with DATA/Annotations/<object>/*.png (any\n"
    "non-black pixel is foreground, as cv2 BGR2GRAY > 0), pairing each side's\n"
    "sorted PNGs in order and skipping the reference image. Per object:\n"
    "IoU = sum of intersections / sum of unions, Acc = sum of intersections /\n"
    "sum of ground-truth areas; then their means over objects, in percent.\n\n"
    "  --pred DIR      predictions (persam personalize --out DIR)\n"
    "  --gt DIR        ground-truth annotations (DATA/Annotations)\n"
    "  --ref-idx NN    reference image index, excluded (default 00)\n"
    "  --json          print JSON instead of text\n",
    {"pred", "gt", "ref-idx"},
    {"json"},
    RunEval,
};

}  // namespace persam::cli
