// libFuzzer: label PNG bytes (DAVIS annotations and results) must decode to
// ids or raise persam::Error, never crash, over-read or allocate without
// bound; what decodes must survive an encode / decode round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "base/error.h"
#include "video/label_png.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  persam::LabelMap map;
  try {
    map = persam::DecodeLabelPng(data, size, "fuzz.png");
  } catch (const persam::Error&) {
    return 0;
  }
  if (map.ids.size() != static_cast<size_t>(map.height) * map.width) std::abort();
  if (map.palette.size() > 256) std::abort();
  const std::vector<uint8_t> png = persam::EncodeLabelPng(map);
  const persam::LabelMap back = persam::DecodeLabelPng(png.data(), png.size(), "round-trip.png");
  if (back.ids != map.ids || back.palette != map.palette) std::abort();
  return 0;
}
