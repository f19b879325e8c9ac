// Writing PerSAM's results as the reference does: the mask PNG with the
// foreground in (128, 0, 0) RGB, and a visualisation JPEG (image, mask
// overlay, prior points), through base/output_file.h.
// ref: Personalize-SAM/persam.py (mask_colors[final_mask] = [0, 0, 128] BGR,
//      cv2.imwrite; show_mask / show_points for vis_mask_NN.jpg).
#ifndef PERSAM_PERSAM_OUTPUTS_H_
#define PERSAM_PERSAM_OUTPUTS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/output_file.h"
#include "engine/image.h"
#include "engine/sam_model.h"

namespace persam {

RgbImage MaskToRgb128(const std::vector<uint8_t>& mask, int height, int width);

// The image with the mask blended in (0.6 x (30, 144, 255), matplotlib's
// show_mask colour) and the points as stars (green positive, red negative).
RgbImage RenderVisualization(const RgbImage& image, const std::vector<uint8_t>& mask,
                             const std::vector<PointPrompt>& points);

void WriteMaskPng(const std::string& path, const std::vector<uint8_t>& mask, int height, int width);
void WriteVisualizationJpeg(const std::string& path, const RgbImage& image, const std::vector<uint8_t>& mask,
                            const std::vector<PointPrompt>& points);

}  // namespace persam

#endif  // PERSAM_PERSAM_OUTPUTS_H_
