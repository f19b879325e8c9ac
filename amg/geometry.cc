#include "amg/geometry.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "base/error.h"

namespace persam::amg {
namespace {

// numpy.linspace(start, stop, n) as numpy 1.24 computes it in f64:
// step = (stop - start) / (n - 1); y_j = j * step + start; y[-1] = stop.
// The product and the sum are two separate roundings. The product goes
// through a volatile so that no -ffp-contract=fast build can fuse it into an
// FMA (which would round once and change the last bit of some points).
std::vector<double> Linspace(double start, double stop, int n) {
  std::vector<double> out(static_cast<size_t>(n));
  if (n == 1) {
    // numpy: div = 0, so y = 0 * delta + start.
    out[0] = start;
    return out;
  }
  const double delta = stop - start;
  const double step = delta / static_cast<double>(n - 1);
  for (int j = 0; j < n - 1; ++j) {
    volatile double product = static_cast<double>(j) * step;
    out[static_cast<size_t>(j)] = product + start;
  }
  out[static_cast<size_t>(n - 1)] = stop;
  return out;
}

}  // namespace

// ref: segment_anything/utils/amg.py build_point_grid
PointGrid BuildPointGrid(int n_per_side) {
  if (n_per_side < 1) {
    throw Error("BuildPointGrid: n_per_side must be >= 1, got " + std::to_string(n_per_side));
  }
  const double offset = 1.0 / (2.0 * n_per_side);
  const std::vector<double> side = Linspace(offset, 1.0 - offset, n_per_side);
  PointGrid grid;
  grid.reserve(static_cast<size_t>(n_per_side) * n_per_side);
  for (int r = 0; r < n_per_side; ++r) {
    for (int c = 0; c < n_per_side; ++c) grid.push_back({side[c], side[r]});
  }
  return grid;
}

// ref: segment_anything/utils/amg.py build_all_layer_point_grids
std::vector<PointGrid> BuildAllLayerPointGrids(int n_per_side, int n_layers, int scale) {
  if (n_per_side < 1) {
    throw Error("BuildAllLayerPointGrids: n_per_side must be >= 1, got " +
                std::to_string(n_per_side));
  }
  if (n_layers < 0) {
    throw Error("BuildAllLayerPointGrids: n_layers must be >= 0, got " + std::to_string(n_layers));
  }
  if (scale < 1) {
    throw Error(
        "BuildAllLayerPointGrids: scale (crop_n_points_downscale_factor) must be >= 1, got " +
        std::to_string(scale));
  }
  std::vector<PointGrid> grids;
  // int(n / scale**i) in Python: for positive integers far below 2^53 the
  // correctly rounded true division truncates to the integer quotient.
  int64_t divisor = 1;
  for (int i = 0; i <= n_layers; ++i) {
    const int64_t n_i = n_per_side / divisor;
    if (n_i == 0) {
      throw Error("BuildAllLayerPointGrids: layer " + std::to_string(i) + " gets int(" +
                  std::to_string(n_per_side) + " / " + std::to_string(scale) + "^" +
                  std::to_string(i) +
                  ") = 0 points per side (the reference divides by zero); lower n_layers or "
                  "scale");
    }
    grids.push_back(BuildPointGrid(static_cast<int>(n_i)));
    // Once divisor > n_per_side every later layer is 0 and throws above, so
    // this product never needs more than ~2^62.
    divisor *= scale;
  }
  return grids;
}

// ref: segment_anything/utils/amg.py generate_crop_boxes
std::vector<CropBox> GenerateCropBoxes(int height, int width, int n_layers, double overlap_ratio) {
  if (height < 1 || width < 1) {
    throw Error("GenerateCropBoxes: image size must be positive, got " + std::to_string(height) +
                " x " + std::to_string(width));
  }
  if (n_layers < 0) {
    throw Error("GenerateCropBoxes: n_layers must be >= 0, got " + std::to_string(n_layers));
  }
  // 4^n_layers crops in the last layer: beyond 15 layers that is more than a
  // billion boxes, which no image can use (and 2^(n+1) must fit an int).
  if (n_layers > 15) {
    throw Error("GenerateCropBoxes: n_layers must be <= 15, got " + std::to_string(n_layers));
  }
  if (!(overlap_ratio >= 0.0) || !std::isfinite(overlap_ratio)) {
    throw Error("GenerateCropBoxes: overlap_ratio must be finite and >= 0, got " +
                std::to_string(overlap_ratio));
  }
  std::vector<CropBox> boxes;
  boxes.push_back({0, 0, width, height, 0});
  const int short_side = height < width ? height : width;
  for (int l = 0; l < n_layers; ++l) {
    const int n = 1 << (l + 1);
    // Python: int(overlap_ratio * short_side * (2 / n_crops_per_side)),
    // evaluated left to right with 2 / n as its own f64 division.
    const double overlap_f = (overlap_ratio * short_side) * (2.0 / n);
    if (overlap_f >= static_cast<double>(std::numeric_limits<int>::max())) {
      throw Error("GenerateCropBoxes: overlap_ratio " + std::to_string(overlap_ratio) +
                  " gives an overlap beyond the int range");
    }
    const int64_t overlap = static_cast<int64_t>(overlap_f);  // truncation toward zero
    // crop_len: int(math.ceil((overlap * (n - 1) + orig_len) / n)); the
    // numerator is an exact integer, the division f64.
    auto crop_len = [&](int orig_len) {
      const int64_t num = overlap * (n - 1) + orig_len;
      return static_cast<int64_t>(std::ceil(static_cast<double>(num) / n));
    };
    const int64_t crop_w = crop_len(width);
    const int64_t crop_h = crop_len(height);
    for (int i = 0; i < n; ++i) {
      const int64_t x0 = (crop_w - overlap) * i;
      for (int j = 0; j < n; ++j) {
        const int64_t y0 = (crop_h - overlap) * j;
        const int64_t x1 = x0 + crop_w < width ? x0 + crop_w : width;
        const int64_t y1 = y0 + crop_h < height ? y0 + crop_h : height;
        // With an overlap larger than the image, or more crops per side than
        // pixels, the reference produces negative or empty boxes and fails
        // later on an empty crop; say why here instead.
        if (x0 < 0 || y0 < 0 || x1 <= x0 || y1 <= y0) {
          throw Error("GenerateCropBoxes: layer " + std::to_string(l + 1) + " of a " +
                      std::to_string(height) + " x " + std::to_string(width) +
                      " image with overlap_ratio " + std::to_string(overlap_ratio) +
                      " gives an empty or negative crop box [" + std::to_string(x0) + ", " +
                      std::to_string(y0) + ", " + std::to_string(x1) + ", " + std::to_string(y1) +
                      "]");
        }
        boxes.push_back({static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1),
                         static_cast<int>(y1), l + 1});
      }
    }
  }
  return boxes;
}

}  // namespace persam::amg
