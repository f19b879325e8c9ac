#include "persam/reference_mask.h"

#include <algorithm>

#include "engine/preprocess.h"
#include "kernels/resize.h"
#include "base/error.h"

namespace persam {

RgbImage NormalizeReferenceMask(const RgbImage& mask, const std::string& source) {
  RgbImage out;
  out.height = mask.height;
  out.width = mask.width;
  out.pixels.assign(mask.pixels.size(), 0);
  bool any = false;
  for (size_t i = 0; i + 2 < mask.pixels.size(); i += 3) {
    if (mask.pixels[i] | mask.pixels[i + 1] | mask.pixels[i + 2]) {
      out.pixels[i] = 128;
      any = true;
    }
  }
  if (!any) throw Error("reference mask '" + source + "' is empty (no non-zero pixel)");
  return out;
}

std::vector<uint8_t> ForegroundPixels(const RgbImage& mask128) {
  std::vector<uint8_t> out(static_cast<size_t>(mask128.height) * mask128.width);
  for (size_t i = 0; i < out.size(); ++i) out[i] = mask128.pixels[3 * i] > 0;
  return out;
}

MaskCells SelectReferenceCells(const RgbImage& mask128, int grid) {
  const int side = 1024;
  // ref: SamPredictor.set_image(image, mask): transform.apply_image(mask),
  // model.preprocess (normalise with the pixel mean/std, pad to 1024).
  const std::vector<float> input = PreprocessImage(mask128, side);
  std::vector<float> cells(static_cast<size_t>(grid) * grid);
  // ref: F.interpolate(ref_mask, size=(64, 64), mode="bilinear"), channel 0.
  kernels::ResizeBilinear(input.data(), 1, side, side, cells.data(), grid, grid);
  MaskCells result;
  result.selected.assign(cells.size(), 0);
  for (size_t i = 0; i < cells.size(); ++i) {
    result.selected[i] = cells[i] > 0.0f;
    result.count += result.selected[i];
  }
  if (result.count > 0) return result;

  // Fallback: coverage of each cell by the resized mask (channel 0, 128 =
  // full), the cells of maximal coverage.
  result.fallback = true;
  const RgbImage resized = ResizeForModel(mask128, side);
  const int cell = side / grid;
  std::vector<double> coverage(cells.size(), 0.0);
  for (int y = 0; y < resized.height; ++y) {
    for (int x = 0; x < resized.width; ++x) {
      coverage[static_cast<size_t>(y / cell) * grid + x / cell] +=
          resized.pixels[(static_cast<size_t>(y) * resized.width + x) * 3];
    }
  }
  const double best = *std::max_element(coverage.begin(), coverage.end());
  if (best > 0) {
    for (size_t i = 0; i < coverage.size(); ++i) {
      result.selected[i] = coverage[i] == best;
      result.count += result.selected[i];
    }
    return result;
  }
  // The resize wiped the mask out entirely (a few pixels in a huge image):
  // the cell under the first foreground pixel of the original mask.
  const double scale = static_cast<double>(resized.height) / mask128.height;
  for (int y = 0; y < mask128.height; ++y) {
    for (int x = 0; x < mask128.width; ++x) {
      if (mask128.pixels[(static_cast<size_t>(y) * mask128.width + x) * 3] == 0) continue;
      const int cy = std::min(grid - 1, static_cast<int>(y * scale) / cell);
      const int cx = std::min(grid - 1, static_cast<int>(x * scale) / cell);
      result.selected[static_cast<size_t>(cy) * grid + cx] = 1;
      result.count = 1;
      return result;
    }
  }
  return result;  // unreachable for a normalised (non-empty) mask
}

}  // namespace persam
