// The reference mask as PerSAM consumes it (REFERENCE.md section 7.1).
// ref: Personalize-SAM/persam.py persam(): predictor.set_image(ref_image,
// ref_mask); F.interpolate(ref_mask, size=(64, 64)); ref_mask.squeeze()[0] > 0.
#ifndef PERSAM_PERSAM_REFERENCE_MASK_H_
#define PERSAM_PERSAM_REFERENCE_MASK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/image.h"

namespace persam {

// Any non-zero pixel (any channel) is foreground; returns the reference's
// form: (128, 0, 0) on the foreground, 0 elsewhere. Throws persam::Error
// naming `source` when the mask is empty.
RgbImage NormalizeReferenceMask(const RgbImage& mask, const std::string& source);

// Foreground at the original resolution (channel 0 > 0 of the normalised
// mask): PerSAM-F's training target. [height * width] of 0/1.
std::vector<uint8_t> ForegroundPixels(const RgbImage& mask128);

struct MaskCells {
  std::vector<uint8_t> selected;  // [64 * 64] row-major, 0/1
  int count = 0;
  // The reference's selection was empty (it would produce NaN features);
  // the cells of highest mask coverage were used instead.
  bool fallback = false;
};

// The reference's cell selection for a (128, 0, 0) mask: the mask as a
// 3-channel image through the image preprocessing (Pillow resize, image
// mean/std normalisation, zero padding), channel 0 bilinear to grid x grid,
// cells > 0. That erodes the mask (a cell needs its 2x2 sample pixels inside).
MaskCells SelectReferenceCells(const RgbImage& mask128, int grid = 64);

}  // namespace persam

#endif  // PERSAM_PERSAM_REFERENCE_MASK_H_
