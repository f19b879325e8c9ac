// Images (upload, status, delete), predict, and results (summary, mask and
// cut-out PNGs). docs/serve.md is the reference for every route.
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include "amg/rle.h"
#include "base/error.h"
#include "engine/image.h"
#include "kernels/parallel.h"
#include "server/server_state.h"

namespace persam::server {

std::vector<uint8_t> MaskPng(const StoredMask& mask) {
  std::vector<uint8_t> gray(mask.pixels.size());
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = mask.pixels[i] ? 255 : 0;
  return EncodeGrayPng(mask.height, mask.width, gray.data());
}

JsonValue MaskJson(const StoredMask& mask, MaskFormat format) {
  if (format == MaskFormat::kPng) {
    const std::vector<uint8_t> png = MaskPng(mask);
    return JsonValue::String(Base64Encode(png.data(), png.size()));
  }
  const amg::Rle rle = amg::MaskToRle(mask.pixels.data(), mask.height, mask.width);
  std::vector<JsonValue> counts;
  counts.reserve(rle.counts.size());
  for (uint32_t c : rle.counts) counts.push_back(JsonValue::Integer(c));
  return JsonValue::Object({{"size", JsonValue::Array({JsonValue::Integer(rle.height), JsonValue::Integer(rle.width)})},
                            {"counts", JsonValue::Array(std::move(counts))}});
}

namespace {

double Millis(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

JsonValue ImageJson(Server::State* s, const StoredImage& image) {
  std::string error;
  int position = 0;
  const ImageState state = s->encoder.State(image, &error, &position);
  std::vector<std::pair<std::string, JsonValue>> m = {
      {"id", JsonValue::String(image.id)},
      {"width", JsonValue::Integer(image.image.width)},
      {"height", JsonValue::Integer(image.image.height)},
      {"status", JsonValue::String(ImageStateName(state))},
  };
  if (state == ImageState::kQueued) m.emplace_back("queue_position", JsonValue::Integer(position));
  if (state == ImageState::kFailed) m.emplace_back("error", JsonValue::String(error));
  if (state == ImageState::kReady) m.emplace_back("encode_seconds", JsonValue::Number(image.encode_seconds));
  return JsonValue::Object(std::move(m));
}

void Upload(Server::State* s, const HttpRequest& req, HttpResponse& res) {
  std::string name = "upload";
  const std::string* bytes = &UploadedFile(req, "image", &name);
  if (s->encoder.Queued() >= kMaxQueuedImages) {
    throw RequestError(503, std::to_string(kMaxQueuedImages) + " images are waiting for the encoder; try again later");
  }
  auto image = std::make_shared<StoredImage>();
  image->id = NewId();
  image->image = DecodeImage(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(), name);
  const SamConfig& c = s->model.config();
  const size_t cost = image->image.pixels.size() +
                      static_cast<size_t>(c.prompt_dim) * c.embed_grid * c.embed_grid * sizeof(float);
  if (!s->images.Put(image->id, image, cost)) {
    throw RequestError(413, "the image and its embedding (" + std::to_string(cost >> 20) +
                                " MB) exceed the image cache (" + std::to_string(s->images.capacity() >> 20) +
                                " MB; raise --cache-mb)");
  }
  s->encoder.Submit(image);
  SendJson(res, ImageJson(s, *image), 201);
}

// The prompt's mask input: a previous result's low-res logits of the same image.
const float* MaskInput(Server::State* s, const MaskInputRef& ref, const std::string& image_id,
                       std::shared_ptr<StoredResult>* keep) {
  *keep = s->FindResult(ref.result);
  const StoredResult& r = **keep;
  if (r.low_res.empty()) throw RequestError(400, "mask_input: result '" + ref.result + "' has no low-res logits (not a predict result)");
  if (ref.index < 0 || static_cast<size_t>(ref.index) >= r.masks.size()) {
    throw RequestError(400, "mask_input.index " + std::to_string(ref.index) + ": result '" + ref.result + "' has " +
                                std::to_string(r.masks.size()) + " mask(s)");
  }
  if (r.masks[ref.index].image_id != image_id) {
    throw RequestError(400, "mask_input: result '" + ref.result + "' belongs to another image");
  }
  return r.low_res.data() + static_cast<size_t>(ref.index) * r.low_size * r.low_size;
}

void Predict(Server::State* s, const HttpRequest& req, HttpResponse& res) {
  const auto start = std::chrono::steady_clock::now();
  const std::shared_ptr<StoredImage> image = s->FindImage(req.matches[1]);
  const PredictRequest request =
      ParsePredictRequest(req.body.data(), req.body.size(), image->image.height, image->image.width);
  std::shared_ptr<StoredResult> mask_source;
  Prompt prompt;
  prompt.points = request.points;
  prompt.box = request.box;
  prompt.multimask = request.multimask;
  if (request.mask_input) prompt.mask_input = MaskInput(s, *request.mask_input, image->id, &mask_source);
  const ImageEmbedding& embedding = s->WaitForEmbedding(*image);
  const double wait_ms = Millis(start);

  // The OpenMP thread count is per thread; this HTTP worker may be new.
  kernels::SetNumThreads(s->options.threads);
  const PredictionPool::Lease lease = s->predictions.Acquire();
  Prediction& pred = *lease;
  const auto decode_start = std::chrono::steady_clock::now();
  s->model.PredictInto(embedding, prompt, &pred);
  const double decode_ms = Millis(decode_start);

  auto result = std::make_shared<StoredResult>();
  result->scores = pred.scores;
  result->low_res = pred.low_res;
  result->low_size = 4 * s->model.config().embed_grid;
  const size_t plane = static_cast<size_t>(pred.height) * pred.width;
  for (int m = 0; m < pred.num_masks; ++m) {
    const float* logits = pred.high_res.data() + m * plane;
    StoredMask mask{image->id, pred.height, pred.width, std::vector<uint8_t>(plane)};
    for (size_t i = 0; i < plane; ++i) mask.pixels[i] = logits[i] > 0.0f;
    result->masks.push_back(std::move(mask));
  }
  const auto encode_start = std::chrono::steady_clock::now();
  // SAM's three candidates encode in parallel (one PNG per thread).
  // An exception must not leave an OpenMP region: kept and rethrown after.
  std::vector<JsonValue> mask_items(result->masks.size());
  std::vector<std::exception_ptr> errors(mask_items.size());
  kernels::ParallelFor(static_cast<int64_t>(mask_items.size()), true, [&](int64_t m) {
    try {
      mask_items[m] = MaskJson(result->masks[m], request.format);
    } catch (...) {
      errors[m] = std::current_exception();
    }
  });
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  JsonValue masks = JsonValue::Array(std::move(mask_items));
  const double encode_ms = Millis(encode_start);

  std::vector<JsonValue> scores;
  for (float v : pred.scores) scores.push_back(JsonValue::Number(v));
  std::vector<std::pair<std::string, JsonValue>> m = {
      {"image", JsonValue::String(image->id)},
      {"width", JsonValue::Integer(pred.width)},
      {"height", JsonValue::Integer(pred.height)},
      {"num_masks", JsonValue::Integer(pred.num_masks)},
      {"scores", JsonValue::Array(std::move(scores))},
      {request.format == MaskFormat::kPng ? "masks" : "rle", std::move(masks)},
  };
  if (request.return_logits) {
    std::vector<JsonValue> maps;
    const size_t low = static_cast<size_t>(result->low_size) * result->low_size;
    for (int k = 0; k < pred.num_masks; ++k) {
      std::vector<JsonValue> values;
      values.reserve(low);
      for (size_t i = 0; i < low; ++i) values.push_back(JsonValue::Number(pred.low_res[k * low + i]));
      maps.push_back(JsonValue::Array(std::move(values)));
    }
    m.emplace_back("low_res_size", JsonValue::Integer(result->low_size));
    m.emplace_back("low_res_logits", JsonValue::Array(std::move(maps)));
  }
  m.emplace_back("result", JsonValue::String(s->StoreResult(std::move(result))));
  m.emplace_back("timings_ms", JsonValue::Object({{"wait_embedding", JsonValue::Number(wait_ms)},
                                                  {"decoder", JsonValue::Number(decode_ms)},
                                                  {"encode_masks", JsonValue::Number(encode_ms)},
                                                  {"total", JsonValue::Number(Millis(start))}}));
  SendJson(res, JsonValue::Object(std::move(m)));
}

size_t MaskIndex(const StoredResult& r, const std::string& text) {
  if (text.empty() || text.size() > 3 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(text) >= r.masks.size()) {
    throw RequestError(404, "mask index '" + text + "': the result has " + std::to_string(r.masks.size()) +
                                " mask(s), 0 .. " + std::to_string(r.masks.size() - 1));
  }
  return std::stoul(text);
}

void GetMaskPng(Server::State* s, const HttpRequest& req, HttpResponse& res) {
  const std::shared_ptr<StoredResult> r = s->FindResult(req.matches[1]);
  const std::vector<uint8_t> png = MaskPng(r->masks[MaskIndex(*r, req.matches[2])]);
  res.set_content(reinterpret_cast<const char*>(png.data()), png.size(), "image/png");
}

// The image's pixels where the mask is set, transparent elsewhere.
void CutoutPng(Server::State* s, const HttpRequest& req, HttpResponse& res) {
  const std::shared_ptr<StoredResult> r = s->FindResult(req.matches[1]);
  const StoredMask& stored = r->masks[MaskIndex(*r, req.matches[2])];
  const std::shared_ptr<StoredImage> image = s->FindImage(stored.image_id);
  const std::vector<uint8_t>& mask = stored.pixels;
  std::vector<uint8_t> rgba(mask.size() * 4);
  for (size_t i = 0; i < mask.size(); ++i) {
    for (int c = 0; c < 3; ++c) rgba[4 * i + c] = mask[i] ? image->image.pixels[3 * i + c] : 0;
    rgba[4 * i + 3] = mask[i] ? 255 : 0;
  }
  const std::vector<uint8_t> png = EncodeRgbaPng(stored.height, stored.width, rgba.data());
  res.set_content(reinterpret_cast<const char*>(png.data()), png.size(), "image/png");
}

void ResultSummary(Server::State* s, const HttpRequest& req, HttpResponse& res) {
  const std::shared_ptr<StoredResult> r = s->FindResult(req.matches[1]);
  std::vector<JsonValue> scores, masks;
  for (float v : r->scores) scores.push_back(JsonValue::Number(v));
  for (const StoredMask& m : r->masks) {
    masks.push_back(JsonValue::Object({{"image", JsonValue::String(m.image_id)},
                                       {"width", JsonValue::Integer(m.width)},
                                       {"height", JsonValue::Integer(m.height)}}));
  }
  SendJson(res, JsonValue::Object({{"result", JsonValue::String(req.matches[1])},
                                   {"masks", JsonValue::Array(std::move(masks))},
                                   {"scores", JsonValue::Array(std::move(scores))}}));
}

}  // namespace

void AddImageRoutes(Server::State* s) {
  HttpServer& http = *s->http;
  http.Post("/api/images", [s](const HttpRequest& req, HttpResponse& res) { Upload(s, req, res); });
  http.Get(R"(/api/images/([^/]+))", [s](const HttpRequest& req, HttpResponse& res) {
    SendJson(res, ImageJson(s, *s->FindImage(req.matches[1])));
  });
  http.Delete(R"(/api/images/([^/]+))", [s](const HttpRequest& req, HttpResponse& res) {
    s->FindImage(req.matches[1]);
    s->images.Erase(req.matches[1]);
    SendJson(res, JsonValue::Object({{"deleted", JsonValue::String(req.matches[1])}}));
  });
  http.Post(R"(/api/images/([^/]+)/predict)",
            [s](const HttpRequest& req, HttpResponse& res) { Predict(s, req, res); });
  http.Get(R"(/api/results/([^/]+))",
           [s](const HttpRequest& req, HttpResponse& res) { ResultSummary(s, req, res); });
  http.Get(R"(/api/results/([^/]+)/masks/([^/]+)\.png)",
           [s](const HttpRequest& req, HttpResponse& res) { GetMaskPng(s, req, res); });
  http.Get(R"(/api/results/([^/]+)/cutouts/([^/]+)\.png)",
           [s](const HttpRequest& req, HttpResponse& res) { CutoutPng(s, req, res); });
}

}  // namespace persam::server
