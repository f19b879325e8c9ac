// POST /api/personalize: PerSAM / PerSAM-F from a reference image and mask
// to any number of target images, all uploaded before (their embeddings come
// from the encoder queue and the cache, so a target is never encoded twice).
#include <string>
#include <vector>

#include "engine/image.h"
#include "kernels/parallel.h"
#include "persam/personalizer.h"
#include "server/server_state.h"

namespace persam::server {
namespace {

JsonValue PointJson(const PointPrompt& p) {
  return JsonValue::Object({{"x", JsonValue::Number(p.x)}, {"y", JsonValue::Number(p.y)},
                            {"label", JsonValue::Integer(p.label)}});
}

JsonValue Strings(const std::vector<std::string>& strings) {
  std::vector<JsonValue> items;
  for (const std::string& s : strings) items.push_back(JsonValue::String(s));
  return JsonValue::Array(std::move(items));
}

// The reference mask as Personalizer takes it: any non-zero pixel is foreground.
RgbImage ReferenceMask(Server::State* s, const PersonalizeRequest& request, const StoredImage& reference) {
  if (!request.reference_mask_png.empty()) {
    return DecodeImage(request.reference_mask_png.data(), request.reference_mask_png.size(), "reference.mask_png");
  }
  const MaskInputRef& ref = *request.reference_result;
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

void Personalize(Server::State* s, const httplib::Request& req, httplib::Response& res) {
  const PersonalizeRequest request = ParsePersonalizeRequest(req.body.data(), req.body.size());
  const std::shared_ptr<StoredImage> reference = s->FindImage(request.reference_image);
  std::vector<std::shared_ptr<StoredImage>> targets;
  for (const std::string& id : request.targets) targets.push_back(s->FindImage(id));
  const RgbImage mask = ReferenceMask(s, request, *reference);
  if (mask.height != reference->image.height || mask.width != reference->image.width) {
    throw RequestError(400, "reference mask is " + std::to_string(mask.width) + " x " + std::to_string(mask.height) +
                                ", the reference image " + std::to_string(reference->image.width) + " x " +
                                std::to_string(reference->image.height));
  }
  const ImageEmbedding& reference_embedding = s->WaitForEmbedding(*reference);
  for (const auto& t : targets) s->WaitForEmbedding(*t);

  kernels::SetNumThreads(s->options.threads);
  PersonalizeOptions options;
  options.finetune = request.finetune;
  Personalizer personalizer(s->model, options);
  personalizer.SetReference(reference_embedding, mask, "reference mask");

  auto result = std::make_shared<StoredResult>();
  std::vector<JsonValue> items;
  for (size_t i = 0; i < targets.size(); ++i) {
    const StoredImage& t = *targets[i];
    ImageOutcome o = personalizer.Segment(t.embedding);
    std::vector<JsonValue> points;
    for (const PointPrompt& p : o.prior_points) points.push_back(PointJson(p));
    StoredMask mask{t.id, o.height, o.width, std::move(o.mask)};
    items.push_back(JsonValue::Object({{"index", JsonValue::Integer(static_cast<int64_t>(i))},
                                       {"image", JsonValue::String(t.id)},
                                       {"width", JsonValue::Integer(o.width)},
                                       {"height", JsonValue::Integer(o.height)},
                                       {"prior_points", JsonValue::Array(std::move(points))},
                                       {"mask_area", JsonValue::Integer(o.mask_area)},
                                       {"warnings", Strings(o.warnings)},
                                       {request.format == MaskFormat::kPng ? "mask" : "rle",
                                        MaskJson(mask, request.format)}}));
    result->masks.push_back(std::move(mask));
  }
  const ReferenceSummary& summary = personalizer.reference();
  std::vector<std::pair<std::string, JsonValue>> ref = {
      {"image", JsonValue::String(reference->id)},
      {"selected_cells", JsonValue::Integer(summary.selected_cells)},
      {"warnings", Strings(summary.warnings)},
  };
  if (summary.training) {
    const auto& w = summary.training->weights;
    ref.emplace_back("mask_weights", JsonValue::Array({JsonValue::Number(w[0]), JsonValue::Number(w[1]),
                                                       JsonValue::Number(w[2])}));
  }
  const std::string id = s->StoreResult(std::move(result));
  SendJson(res, JsonValue::Object({{"result", JsonValue::String(id)},
                                   {"method", JsonValue::String(request.finetune ? "persam_f" : "persam")},
                                   {"reference", JsonValue::Object(std::move(ref))},
                                   {"targets", JsonValue::Array(std::move(items))}}));
}

}  // namespace

void AddPersonalizeRoutes(Server::State* s) {
  s->http.Post("/api/personalize",
               [s](const httplib::Request& req, httplib::Response& res) { Personalize(s, req, res); });
}

}  // namespace persam::server
