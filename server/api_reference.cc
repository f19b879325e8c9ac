// The reference of /api/personalize and /api/concept: its stored image and
// its mask, from an uploaded PNG, a predict result's mask or strokes.
#include <string>

#include "server/server_state.h"
#include "server/strokes.h"

namespace persam::server {
namespace {

RgbImage MaskOfResult(Server::State* s, const MaskInputRef& ref, const StoredImage& reference) {
  const std::shared_ptr<StoredResult> r = s->FindResult(ref.result);
  if (static_cast<size_t>(ref.index) >= r->masks.size()) {
    throw RequestError(400, "reference.index " + std::to_string(ref.index) + ": result '" + ref.result + "' has " +
                                std::to_string(r->masks.size()) + " mask(s)");
  }
  const StoredMask& stored = r->masks[ref.index];
  if (stored.image_id != reference.id) {
    throw RequestError(400, "reference: mask " + std::to_string(ref.index) + " of result '" + ref.result +
                                "' segments another image than reference.image");
  }
  RgbImage mask;
  mask.height = stored.height;
  mask.width = stored.width;
  mask.pixels.resize(stored.pixels.size() * 3);
  for (size_t i = 0; i < stored.pixels.size(); ++i) mask.pixels[3 * i] = stored.pixels[i] ? 255 : 0;
  return mask;
}

}  // namespace

ResolvedReference ResolveReference(Server::State* s, const ReferenceRequest& request) {
  ResolvedReference r;
  r.image = s->FindImage(request.image);
  const RgbImage& image = r.image->image;
  if (!request.mask_png.empty()) {
    r.mask = DecodeImage(request.mask_png.data(), request.mask_png.size(), "reference.mask_png");
  } else if (request.result) {
    r.mask = MaskOfResult(s, *request.result, *r.image);
  } else {
    r.mask = RasterizeStrokes(request.strokes, image.height, image.width);
  }
  if (r.mask.height != image.height || r.mask.width != image.width) {
    throw RequestError(400, "reference mask is " + std::to_string(r.mask.width) + " x " +
                                std::to_string(r.mask.height) + ", the reference image " +
                                std::to_string(image.width) + " x " + std::to_string(image.height));
  }
  return r;
}

}  // namespace persam::server
