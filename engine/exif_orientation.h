// EXIF orientation of JPEG files, applied the way OpenCV's imread does
// (modules/imgcodecs/src/loadsave.cpp ExifTransform), so that images load
// upright exactly as the reference (cv2.imread) sees them.
#ifndef PERSAM_ENGINE_EXIF_ORIENTATION_H_
#define PERSAM_ENGINE_EXIF_ORIENTATION_H_

#include <cstddef>
#include <cstdint>

#include "engine/image.h"

namespace persam {

// The orientation tag (0x0112) of IFD0 in the first APP1 "Exif" segment of a
// JPEG stream: 1..8, or 1 when absent, malformed or not a JPEG. Never reads
// past `size`.
int JpegExifOrientation(const uint8_t* data, size_t size);

// Returns the image transformed for orientation 1..8 (values 1 and anything
// out of range leave it unchanged):
// 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom, 5 transpose,
// 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
RgbImage ApplyExifOrientation(const RgbImage& image, int orientation);

}  // namespace persam

#endif  // PERSAM_ENGINE_EXIF_ORIENTATION_H_
