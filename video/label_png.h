// Label maps as DAVIS stores them: indexed (palette) PNGs whose pixel values
// are object ids. engine/image.h decodes to RGB and loses the indices, so
// this reader and writer use libpng directly.
// ref: davis2017/davis.py, results.py: np.array(Image.open(path)) (the
// palette indices of a "P" image, the values of an "L" image);
// persam_video.py: Image.fromarray(label).putpalette(palette).save(path).
#ifndef PERSAM_VIDEO_LABEL_PNG_H_
#define PERSAM_VIDEO_LABEL_PNG_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace persam {

using PaletteEntry = std::array<uint8_t, 3>;

struct LabelMap {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> ids;            // height * width, row-major
  std::vector<PaletteEntry> palette;  // empty for a greyscale PNG
};

// Largest side accepted when decoding (a DAVIS full-resolution frame is
// 3840 x 2160); bounds the allocation for hostile files.
inline constexpr int kMaxLabelSide = 16384;

// Reads an indexed PNG (any bit depth: the indices) or a greyscale PNG of bit
// depth <= 8 (the values, as Pillow's "L" / "1" modes give them). Any other
// colour type, 16-bit samples, or a damaged file: persam::Error naming the
// file and what was expected.
LabelMap ReadLabelPng(const std::string& path);
LabelMap DecodeLabelPng(const uint8_t* data, size_t size, const std::string& name);

// An 8-bit indexed PNG with `palette` (at most 256 entries; ids beyond it are
// still written: PNG readers show them black).
std::vector<uint8_t> EncodeLabelPng(const LabelMap& map);
void WriteLabelPng(const std::string& path, const LabelMap& map);

// The 256-entry PASCAL VOC colour map DAVIS annotations carry (index i: bits
// 0, 3, 6 to red bits 7, 6, 5; bits 1, 4, 7 to green; bits 2, 5 to blue).
std::vector<PaletteEntry> DavisPalette();

}  // namespace persam

#endif  // PERSAM_VIDEO_LABEL_PNG_H_
