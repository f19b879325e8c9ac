// Run-length encodings of binary masks as SamAutomaticMaskGenerator keeps
// them: uncompressed RLE in column-major (Fortran) order, runs alternating
// false / true starting with false (REFERENCE-AMG.md step 4h), and COCO's
// compressed string form of the same counts (pycocotools rleToString).
// ref: segment_anything/utils/amg.py mask_to_rle_pytorch, rle_to_mask,
//      area_from_rle, coco_encode_rle
#ifndef PERSAM_AMG_RLE_H_
#define PERSAM_AMG_RLE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace persam::amg {

struct Rle {
  int height = 0, width = 0;      // the reference's "size": [H, W]
  std::vector<uint32_t> counts;   // sum == height * width
};

// `mask`: row-major [height, width], nonzero = true. Throws persam::Error for
// negative sizes or more than 2^32 - 1 pixels; a 0-pixel mask gives {0}.
Rle MaskToRle(const uint8_t* mask, int height, int width);
// The RLE of an H x W mask that is all false except `crop` ([crop_h,
// crop_w] row-major, nonzero = true) placed with its top-left pixel at
// (x0, y0): the reference's uncrop_masks then mask_to_rle_pytorch, without
// materialising the H x W mask. Throws persam::Error when the crop does not
// lie inside the H x W mask.
Rle CropMaskToRle(const uint8_t* crop, int crop_height, int crop_width, int x0, int y0, int height,
                  int width);
// Row-major [height, width] 0/1. Throws persam::Error when the counts do not
// sum to height * width.
std::vector<uint8_t> RleToMask(const Rle& rle);
// Sum of the true runs (the odd-indexed counts).
int64_t RleArea(const Rle& rle);

// pycocotools' compressed string of the same counts (its rleToString: each
// count, from the fourth on (maskApi.c `if(i>2)`) as the difference to the
// count two before, in 5-bit groups with a continuation bit, offset by 48).
std::string RleToCocoString(const Rle& rle);
// The inverse; throws persam::Error on a malformed string or counts that
// do not sum to height * width.
Rle CocoStringToRle(const std::string& counts, int height, int width);

}  // namespace persam::amg

#endif  // PERSAM_AMG_RLE_H_
