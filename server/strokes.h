// A scribbled reference (the official PerSAM demo's "sketch" tab): the
// strokes painted with their round brush are the reference mask itself, as
// the demo takes its sketch layer as the mask; SAM is not asked.
#ifndef PERSAM_SERVER_STROKES_H_
#define PERSAM_SERVER_STROKES_H_

#include <vector>

#include "engine/image.h"
#include "server/request.h"

namespace persam::server {

// The mask (R = 255 where painted, as a mask PNG decodes) of `strokes` on a
// height x width image: every pixel whose centre lies within width / 2 of a
// stroke's polyline. Throws RequestError(400) naming the stroke point that
// lies outside the image.
RgbImage RasterizeStrokes(const std::vector<Stroke>& strokes, int height, int width);

}  // namespace persam::server

#endif  // PERSAM_SERVER_STROKES_H_
