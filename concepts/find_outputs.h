// What `persam find` writes per image, under the output folder DIR:
//   labels/<name>.png      8-bit grey: 0 background, k on instance k
//   masks/<name>.<k>.png   8-bit grey 0/255: instance k's whole mask
//   overlays/<name>.jpg    the image with every instance blended in, prior points
//   cutouts/<name>.<k>.png (--cutout) RGBA crop of instance k's box, alpha =
//                          255 on the mask, 0 elsewhere (PerSAM's DreamBooth
//                          training data: the background discarded)
// and one line of results.jsonl (FindResultJson). Every file is written
// atomically (persam/outputs.h).
#ifndef PERSAM_CONCEPTS_FIND_OUTPUTS_H_
#define PERSAM_CONCEPTS_FIND_OUTPUTS_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "concepts/finder.h"
#include "concepts/target_list.h"
#include "engine/image.h"

namespace persam {

struct FindOutputOptions {
  bool overlay = true;
  bool cutout = false;
};

// RGBA [box height * box width * 4] of the image inside `instance.bbox`,
// alpha 255 where the mask is set.
std::vector<uint8_t> CutoutRgba(const RgbImage& image, const FoundInstance& instance);

// Writes the files above; returns the results.jsonl line (no newline):
// {"path", "name", "present", "similarity", "labels", "stop",
//  "instances": [{"label", "bbox": [x0, y0, x1, y1] (inclusive), "area",
//  "score", "similarity", "point": [x, y], "mask", "cutout"?}], "warnings"}
// with file names relative to DIR.
std::string WriteFindOutputs(const std::string& dir, const TargetImage& target, const RgbImage& image,
                             const FindResult& result, const FindOutputOptions& options);

// The results.jsonl line of an image that could not be processed
// (--keep-going): {"path", "name", "present": false, "error"}.
std::string FindErrorJson(const TargetImage& target, const std::string& error);

// --resume: the lines of an earlier results file at `path` that finished an
// image of `targets` (parseable, no "error"), kept in their order; the file
// is rewritten with just those lines (a line cut off by an interruption is
// dropped) and their names are returned. A missing file gives none.
std::set<std::string> KeepFinishedResults(const std::string& path, const std::vector<TargetImage>& targets);

}  // namespace persam

#endif  // PERSAM_CONCEPTS_FIND_OUTPUTS_H_
