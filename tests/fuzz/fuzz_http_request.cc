// libFuzzer: a request body for `persam serve` (server/request.h) must parse
// into a checked request or throw RequestError with a 4xx status, never crash,
// read out of bounds, or let a non-finite or out-of-image coordinate through.
// The first byte picks the parser and the image size; the rest is the body.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "server/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int selector = data[0];
  const char* body = reinterpret_cast<const char*>(data + 1);
  const size_t length = size - 1;
  using persam::server::RequestError;
  try {
    if (selector & 1) {
      const persam::server::PersonalizeRequest r = persam::server::ParsePersonalizeRequest(body, length);
      if (r.targets.empty() || !persam::server::IsWellFormedId(r.reference_image)) std::abort();
      if (r.reference_mask_png.empty() == !r.reference_result.has_value()) std::abort();
    } else {
      const int height = 1 + (selector >> 1) * 7, width = 1 + (selector >> 1) * 11;
      const persam::server::PredictRequest r = persam::server::ParsePredictRequest(body, length, height, width);
      for (const auto& p : r.points) {
        if (!std::isfinite(p.x) || !std::isfinite(p.y) || p.x < 0 || p.y < 0 || p.x >= width || p.y >= height) {
          std::abort();
        }
        if (p.label != 0 && p.label != 1) std::abort();
      }
      if (r.box && (r.box->x0 > r.box->x1 || r.box->y0 > r.box->y1 || r.box->x1 > width || r.box->y1 > height)) {
        std::abort();
      }
      if (r.points.empty() && !r.box && !r.mask_input) std::abort();
    }
  } catch (const RequestError& e) {
    if (e.status() < 400 || e.status() > 499) std::abort();
  }
  // The base64 codec round-trips whatever it accepts.
  try {
    const std::string text(body, length);
    const std::vector<uint8_t> bytes = persam::server::Base64Decode(text, "fuzz");
    if (persam::server::Base64Encode(bytes.data(), bytes.size()).size() != text.size() &&
        text.compare(0, 5, "data:") != 0) {
      std::abort();
    }
  } catch (const RequestError&) {
  }
  return 0;
}
