#include "video/davis_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace persam {
namespace {

// ref: numpy/core/src/umath/loops_utils.h.src pairwise_sum: below 8 values a
// plain loop; up to 128 eight running sums combined as a tree; above, halves
// (rounded down to a multiple of 8) summed recursively.
double PairwiseSum(const double* a, int64_t n) {
  if (n < 8) {
    double res = 0.;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return PairwiseSum(a, n2) + PairwiseSum(a + n2, n - n2);
}

// np.nanmean of values[begin, end) (Python slice bounds, clamped).
double NanMean(const std::vector<double>& values, int64_t begin, int64_t end) {
  const int64_t n = static_cast<int64_t>(values.size());
  begin = std::clamp<int64_t>(begin, 0, n);
  end = std::clamp<int64_t>(end, 0, n);
  std::vector<double> kept;
  int64_t count = 0;
  for (int64_t i = begin; i < end; ++i) {
    const bool nan = std::isnan(values[i]);
    kept.push_back(nan ? 0.0 : values[i]);  // _replace_nan(a, 0)
    count += !nan;
  }
  if (count == 0) return std::numeric_limits<double>::quiet_NaN();
  return NumpySum(kept.data(), static_cast<int64_t>(kept.size())) / static_cast<double>(count);
}

// Dilation of a 0/1 map by the disk x^2 + y^2 <= r^2: row offset dy widens
// each row by the disk's half-width at dy, so each source row is dilated
// horizontally once per distinct half-width (running counts), then ORed into
// the rows it reaches.
std::vector<uint8_t> DilateDisk(const std::vector<uint8_t>& map, int height, int width, int radius) {
  std::vector<uint8_t> out(map.size(), 0);
  std::vector<int> half(radius + 1);
  for (int dy = 0; dy <= radius; ++dy) {
    int k = 0;
    while (static_cast<int64_t>(k + 1) * (k + 1) + static_cast<int64_t>(dy) * dy <=
           static_cast<int64_t>(radius) * radius) {
      ++k;
    }
    half[dy] = k;
  }
  std::vector<int> prefix(width + 1);
  std::vector<uint8_t> widened(static_cast<size_t>(radius + 1) * width);
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = map.data() + static_cast<size_t>(y) * width;
    prefix[0] = 0;
    for (int x = 0; x < width; ++x) prefix[x + 1] = prefix[x] + (row[x] != 0);
    if (prefix[width] == 0) continue;
    // widened[k] = the row dilated by half-width k (only the k that occur).
    for (int dy = 0; dy <= radius; ++dy) {
      const int k = half[dy];
      if (dy > 0 && half[dy - 1] == k) continue;
      uint8_t* w = widened.data() + static_cast<size_t>(k) * width;
      for (int x = 0; x < width; ++x) {
        const int lo = std::max(0, x - k), hi = std::min(width, x + k + 1);
        w[x] = prefix[hi] - prefix[lo] > 0;
      }
    }
    for (int dy = -radius; dy <= radius; ++dy) {
      const int ty = y + dy;
      if (ty < 0 || ty >= height) continue;
      const uint8_t* w = widened.data() + static_cast<size_t>(half[std::abs(dy)]) * width;
      uint8_t* o = out.data() + static_cast<size_t>(ty) * width;
      for (int x = 0; x < width; ++x) o[x] |= w[x];
    }
  }
  return out;
}

}  // namespace

double NumpySum(const double* values, int64_t count) { return 0.0 + PairwiseSum(values, count); }

double NumpyMean(const std::vector<double>& values) {
  return NumpySum(values.data(), static_cast<int64_t>(values.size())) / static_cast<double>(values.size());
}

double JaccardIndex(const uint8_t* result, const uint8_t* truth, int64_t count) {
  int64_t inter = 0, uni = 0;
  for (int64_t i = 0; i < count; ++i) {
    const bool r = result[i] != 0, g = truth[i] != 0;
    inter += r && g;
    uni += r || g;
  }
  if (uni == 0) return 1.0;
  return static_cast<double>(inter) / static_cast<double>(uni);
}

int BoundaryRadius(int height, int width) {
  // ref: np.ceil(bound_th * np.linalg.norm(foreground_mask.shape)); norm is
  // sqrt of the float64 sum of squares.
  const double norm = std::sqrt(static_cast<double>(height) * height + static_cast<double>(width) * width);
  return static_cast<int>(std::ceil(0.008 * norm));
}

std::vector<uint8_t> BoundaryMap(const uint8_t* mask, int height, int width) {
  std::vector<uint8_t> b(static_cast<size_t>(height) * width, 0);
  auto at = [&](int y, int x) -> uint8_t {
    return (y < height && x < width) ? static_cast<uint8_t>(mask[static_cast<size_t>(y) * width + x] != 0) : 0;
  };
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const uint8_t s = at(y, x);
      uint8_t v;
      if (y == height - 1 && x == width - 1) {
        v = 0;  // b[-1, -1] = 0
      } else if (x == width - 1) {
        v = s ^ at(y + 1, x);  // b[:, -1] = seg ^ s (written after the last row)
      } else if (y == height - 1) {
        v = s ^ at(y, x + 1);  // b[-1, :] = seg ^ e
      } else {
        v = (s ^ at(y, x + 1)) | (s ^ at(y + 1, x)) | (s ^ at(y + 1, x + 1));
      }
      b[static_cast<size_t>(y) * width + x] = v;
    }
  }
  return b;
}

double BoundaryF(const uint8_t* result, const uint8_t* truth, int height, int width) {
  const int radius = BoundaryRadius(height, width);
  const std::vector<uint8_t> fg = BoundaryMap(result, height, width);
  const std::vector<uint8_t> gt = BoundaryMap(truth, height, width);
  const std::vector<uint8_t> fg_dil = DilateDisk(fg, height, width, radius);
  const std::vector<uint8_t> gt_dil = DilateDisk(gt, height, width, radius);
  int64_t n_fg = 0, n_gt = 0, fg_match = 0, gt_match = 0;
  for (size_t i = 0; i < fg.size(); ++i) {
    n_fg += fg[i];
    n_gt += gt[i];
    fg_match += fg[i] & gt_dil[i];
    gt_match += gt[i] & fg_dil[i];
  }
  double precision, recall;
  if (n_fg == 0 && n_gt > 0) {
    precision = 1, recall = 0;
  } else if (n_fg > 0 && n_gt == 0) {
    precision = 0, recall = 1;
  } else if (n_fg == 0 && n_gt == 0) {
    precision = 1, recall = 1;
  } else {
    precision = static_cast<double>(fg_match) / static_cast<double>(n_fg);
    recall = static_cast<double>(gt_match) / static_cast<double>(n_gt);
  }
  if (precision + recall == 0) return 0.0;
  return 2 * precision * recall / (precision + recall);
}

MeasureStatistics DavisStatistics(const std::vector<double>& v) {
  MeasureStatistics s;
  const int64_t m = static_cast<int64_t>(v.size());
  s.mean = NanMean(v, 0, m);
  std::vector<double> above(v.size());
  for (size_t i = 0; i < v.size(); ++i) above[i] = v[i] > 0.5 ? 1.0 : 0.0;
  s.recall = m == 0 ? std::numeric_limits<double>::quiet_NaN() : NumpyMean(above);
  // ref: ids = np.round(np.linspace(1, m, 5) + 1e-10) - 1, cast to uint8
  // (wraps above 256 frames, as the reference's does).
  int64_t ids[5];
  const double step = static_cast<double>(m - 1) / 4.0;
  for (int i = 0; i < 5; ++i) {
    double y;
    if (step == 0) {
      y = static_cast<double>(i) / 4.0 * static_cast<double>(m - 1) + 1.0;
    } else {
      const volatile double scaled = static_cast<double>(i) * step;  // no fused multiply-add
      y = scaled + 1.0;
    }
    if (i == 4) y = static_cast<double>(m);  // linspace sets the endpoint exactly
    const double rounded = std::nearbyint(y + 1e-10) - 1.0;
    ids[i] = static_cast<uint8_t>(static_cast<int64_t>(rounded));
  }
  s.decay = NanMean(v, ids[0], ids[1] + 1) - NanMean(v, ids[3], ids[4] + 1);
  return s;
}

}  // namespace persam
