// POST /api/personalize: PerSAM / PerSAM-F from a reference image and mask
// to any number of target images, all uploaded before (their embeddings come
// from the encoder queue and the cache, so a target is never encoded twice).
#include <optional>
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

void Personalize(Server::State* s, const HttpRequest& req, HttpResponse& res) {
  const PersonalizeRequest request = ParsePersonalizeRequest(req.body.data(), req.body.size());
  std::optional<ResolvedReference> reference;
  std::shared_ptr<const Concept> learned;
  if (request.reference) {
    reference = ResolveReference(s, *request.reference);
  } else {
    learned = s->FindConcept(request.concept_id);
  }
  std::vector<std::shared_ptr<StoredImage>> targets;
  for (const std::string& id : request.targets) targets.push_back(s->FindImage(id));
  const ImageEmbedding* reference_embedding = reference ? &s->WaitForEmbedding(*reference->image) : nullptr;
  for (const auto& t : targets) s->WaitForEmbedding(*t);

  kernels::SetNumThreads(s->options.threads);
  PersonalizeOptions options;
  options.finetune = learned ? learned->finetune : request.finetune;
  if (learned) options.training = learned->training;
  Personalizer personalizer(s->model, options);
  if (reference) {
    personalizer.SetReference(*reference_embedding, reference->mask, "reference mask");
  } else {
    const ConceptReference& first = learned->references.at(0);
    personalizer.SetLearned(learned->target, learned->mask_weights, first.height, first.width);
  }

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
  std::vector<std::pair<std::string, JsonValue>> ref = {{"warnings", Strings(summary.warnings)}};
  if (reference) {
    ref.emplace_back("image", JsonValue::String(reference->image->id));
    ref.emplace_back("selected_cells", JsonValue::Integer(summary.selected_cells));
  } else {
    ref.emplace_back("concept", JsonValue::String(request.concept_id));
  }
  if (options.finetune) {
    const auto& w = personalizer.mask_weights();
    ref.emplace_back("mask_weights", JsonValue::Array({JsonValue::Number(w[0]), JsonValue::Number(w[1]),
                                                       JsonValue::Number(w[2])}));
  }
  const std::string id = s->StoreResult(std::move(result));
  SendJson(res, JsonValue::Object({{"result", JsonValue::String(id)},
                                   {"method", JsonValue::String(options.finetune ? "persam_f" : "persam")},
                                   {"reference", JsonValue::Object(std::move(ref))},
                                   {"targets", JsonValue::Array(std::move(items))}}));
}

}  // namespace

void AddPersonalizeRoutes(Server::State* s) {
  s->http->Post("/api/personalize",
               [s](const HttpRequest& req, HttpResponse& res) { Personalize(s, req, res); });
}

}  // namespace persam::server
