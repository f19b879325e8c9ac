// overlay.png of `persam segment`: the image with every mask tinted, the
// prompts drawn, and a legend in the top-left corner saying which colour is
// which mask and its score (docs/outputs.md). `persam everything` draws the
// same legend on its overlay (DrawLegend).
#ifndef PERSAM_TOOLS_SEGMENT_OVERLAY_H_
#define PERSAM_TOOLS_SEGMENT_OVERLAY_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/image.h"
#include "engine/sam_model.h"

namespace persam::cli {

// The colour of the i-th mask drawn (in file order: mask_0, mask_1, ... or
// mask_0_0, mask_0_1, ..., mask_1_0, ...), repeating after 8.
std::array<uint8_t, 3> MaskTint(int index);

// `persam everything`'s colour of mask i (of dozens): hues spread by the
// golden angle, full saturation.
std::array<uint8_t, 3> MaskHue(int index);

// One legend row per mask: its tint as a swatch, then `label` and the score
// ("0 0.934", "1/2 0.871": box 1, mask 2) in a 3 x 5 pixel digit font
// scaled to the image.
struct LegendRow {
  std::string label;  // digits, '.', '-' and '/' only
  float score = 0;
};

// Draws the masks of `predictions` (all of one image; each with its own box,
// if any) blended 50 % with their tints, the boxes in blue, the points
// (green foreground, red background, white rim) and the legend, on `image`
// (taken by value: a caller done with its image moves it in and saves a copy
// of the photo).
RgbImage RenderSegmentOverlay(RgbImage image, const std::vector<Prediction>& predictions,
                              const std::vector<std::optional<BoxPrompt>>& boxes,
                              const std::vector<PointPrompt>& points, const std::vector<LegendRow>& legend);

// Draws the legend: row i with a swatch of tint(i), on a black band so it
// reads on any photo. Rows below the image's bottom edge are left out (the
// masks' scores are in the command's JSON too).
void DrawLegend(RgbImage* image, const std::vector<LegendRow>& legend,
                const std::function<std::array<uint8_t, 3>(int)>& tint);

// Where the legend's swatch for row `row` starts and its side, for tests.
struct SwatchPlace {
  int x = 0, y = 0, size = 0;
};
SwatchPlace LegendSwatch(int image_height, int image_width, int row);

}  // namespace persam::cli

#endif  // PERSAM_TOOLS_SEGMENT_OVERLAY_H_
