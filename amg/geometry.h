// Where SamAutomaticMaskGenerator looks: the point grid of each crop layer
// and the crop boxes (REFERENCE-AMG.md sections 1 and 2).
// ref: segment_anything/utils/amg.py build_point_grid,
//      build_all_layer_point_grids, generate_crop_boxes
#ifndef PERSAM_AMG_GEOMETRY_H_
#define PERSAM_AMG_GEOMETRY_H_

#include <array>
#include <vector>

namespace persam::amg {

// Normalised (x, y) in [0, 1], f64, row by row: point r * n + c is
// (coordinate c, coordinate r), the coordinates numpy's
// linspace(1/(2n), 1 - 1/(2n), n) computes (bit-exact).
using PointGrid = std::vector<std::array<double, 2>>;
PointGrid BuildPointGrid(int n_per_side);

// One grid per layer 0..n_layers: int(n_per_side / scale^i) points per side.
// Throws persam::Error naming the layer when a layer would get 0 points per
// side (the reference divides by zero there), or when n_per_side < 1,
// n_layers < 0 or scale < 1.
std::vector<PointGrid> BuildAllLayerPointGrids(int n_per_side, int n_layers, int scale);

// [x0, y0, x1, y1), x1 / y1 exclusive, in image pixels; `layer` 0 is the
// whole image.
struct CropBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int layer = 0;
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
};
// The whole image, then for layers 1..n_layers 2^layer x 2^layer crops in
// the reference's order (x0 outer, y0 inner). Throws persam::Error for
// n_layers < 0 (or > 15), a negative or non-finite overlap ratio, an empty
// image, and parameters that would make a crop box empty or negative (more
// crops per side than pixels, or an overlap wider than the image), where
// the reference would fail later on an empty crop.
std::vector<CropBox> GenerateCropBoxes(int height, int width, int n_layers, double overlap_ratio);

}  // namespace persam::amg

#endif  // PERSAM_AMG_GEOMETRY_H_
