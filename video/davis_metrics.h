// The DAVIS 2017 region and boundary measures and their per-object
// statistics, computed exactly as the official toolkit does
// (REFERENCE-VIDEO.md section 4.4-4.6).
// ref: davis2017-evaluation/davis2017/metrics.py db_eval_iou, f_measure,
//      _seg2bmap; utils.py db_statistics.
#ifndef PERSAM_VIDEO_DAVIS_METRICS_H_
#define PERSAM_VIDEO_DAVIS_METRICS_H_

#include <cstdint>
#include <vector>

namespace persam {

// J: |R & G| / |R | G| over 0/1 masks of `count` pixels; 1 when both are
// empty.
double JaccardIndex(const uint8_t* result, const uint8_t* truth, int64_t count);

// ceil(0.008 * sqrt(H^2 + W^2)): the boundary match radius in pixels.
int BoundaryRadius(int height, int width);

// The boundary map of a 0/1 mask as _seg2bmap draws it (right, lower and
// lower-right neighbours; last row and column special), 0/1 per pixel.
std::vector<uint8_t> BoundaryMap(const uint8_t* mask, int height, int width);

// F: the boundary F-measure of `result` against `truth` with the matching
// disk of BoundaryRadius (cv2.dilate with skimage disk, pixels outside the
// image ignored), with the toolkit's special cases for empty boundaries.
double BoundaryF(const uint8_t* result, const uint8_t* truth, int height, int width);

struct MeasureStatistics {
  double mean = 0;    // nanmean
  double recall = 0;  // fraction of frames > 0.5
  double decay = 0;   // mean of the first quarter bin - mean of the last
};
MeasureStatistics DavisStatistics(const std::vector<double>& per_frame);

// np.mean / np.sum of a float64 vector in numpy's own order (the first value,
// then pairwise blocks of 8), so the means round as the reference's do.
double NumpySum(const double* values, int64_t count);
double NumpyMean(const std::vector<double>& values);

}  // namespace persam

#endif  // PERSAM_VIDEO_DAVIS_METRICS_H_
