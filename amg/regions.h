// Small-region removal of SamAutomaticMaskGenerator's postprocessing
// (REFERENCE-AMG.md step 7) and the mask -> box of its batches (step 4f).
// ref: segment_anything/utils/amg.py remove_small_regions,
//      batched_mask_to_box; OpenCV connectedComponentsWithStats (8-conn.)
#ifndef PERSAM_AMG_REGIONS_H_
#define PERSAM_AMG_REGIONS_H_

#include <array>
#include <cstdint>
#include <vector>

namespace persam::amg {

// Inclusive [x_min, y_min, x_max, y_max] of the nonzero pixels of a
// row-major [height, width] mask; [0, 0, 0, 0] when it has none.
std::array<int, 4> MaskToBox(const uint8_t* mask, int height, int width);

// 8-connected components of the pixels equal to `value` (0 or 1) in a
// row-major 0/1 mask (any nonzero byte counts as 1), numbered 1..count in
// OpenCV's order: by the first 2 x 2 block (block rows top to bottom, then
// block columns left to right) holding a pixel of the component.
// labels[i] = 0 for the other pixels. Returns the component sizes, index
// label - 1. Throws persam::Error for a value other than 0 / 1, a null
// `labels` or more than 2^31 - 1 pixels.
std::vector<int64_t> LabelComponents8(const uint8_t* mask, int height, int width, uint8_t value,
                                      std::vector<int32_t>* labels);

enum class RegionMode { kHoles, kIslands };
// remove_small_regions on a 0/1 mask, in place. kHoles: false components
// with fewer than min_area pixels become true. kIslands: true components
// with fewer than min_area pixels become false, keeping the largest (first
// by label) if none would remain. Nonzero bytes count as true; when
// something changes the mask is rewritten as 0/1. Throws persam::Error when
// mask->size() != height * width. Returns "changed" as the reference
// defines it (any component was small, even if the mask ends up equal).
bool RemoveSmallRegions(std::vector<uint8_t>* mask, int height, int width, int64_t min_area,
                        RegionMode mode);

}  // namespace persam::amg

#endif  // PERSAM_AMG_REGIONS_H_
