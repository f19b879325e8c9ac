// What the API handlers share (server/server.cc, server/api_*.cc); not a
// public header.
#ifndef PERSAM_SERVER_SERVER_STATE_H_
#define PERSAM_SERVER_SERVER_STATE_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "concepts/concept_file.h"
#include "server/encoder_queue.h"
#include "server/http_server_module.h"
#include "server/lru_cache.h"
#include "server/request.h"
#include "server/server.h"
#include "weights/json.h"

namespace persam::server {

// A predict or personalise result: its masks stay downloadable (and usable
// as a next mask input or a reference) while the cache keeps them.
struct StoredMask {
  std::string image_id;  // the image it segments
  int height = 0, width = 0;
  std::vector<uint8_t> pixels;  // [height * width] 0/1
};

struct StoredResult {
  std::vector<StoredMask> masks;
  std::vector<float> scores;                // predict: per mask
  std::vector<float> low_res;               // predict: [masks, low_size, low_size] logits
  int low_size = 0;
};

// Uploads beyond this many waiting for the encoder get 503: pinned in the
// cache until encoded, they would otherwise grow memory without bound.
constexpr size_t kMaxQueuedImages = 32;

// Uploaded concepts are a few KB each (two C-vectors and the metadata): a
// fixed cache beside --cache-mb keeps thousands.
constexpr size_t kConceptCacheBytes = size_t{16} << 20;

// Decoder outputs (a 1024 x 768 image's three high-res planes are 9 MB)
// kept between requests and handed to whichever HTTP worker predicts next:
// a fresh buffer per request, or one per worker thread (16 of them, most
// cold because a client's requests land on any worker), costs page faults
// and zero-filling on every click. At most one per concurrent predict.
class PredictionPool {
 public:
  struct Return {
    PredictionPool* pool;
    void operator()(Prediction* p) const { pool->Release(p); }
  };
  using Lease = std::unique_ptr<Prediction, Return>;

  Lease Acquire() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) return Lease(new Prediction(), Return{this});
    Prediction* p = free_.back().release();
    free_.pop_back();
    return Lease(p, Return{this});
  }

 private:
  void Release(Prediction* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.emplace_back(p);
  }

  std::mutex mutex_;
  std::vector<std::unique_ptr<Prediction>> free_;  // most recently used last
};

struct Server::State {
  State(const SamModel& m, ServerOptions o);

  const SamModel& model;
  const ServerOptions options;
  EncoderQueue encoder;
  LruCache<StoredImage> images;
  LruCache<StoredResult> results;
  LruCache<Concept> concepts;
  PredictionPool predictions;
  std::unique_ptr<HttpServer> http;  // the HTTP server module's (server/http_server_module.h)

  std::shared_ptr<StoredImage> FindImage(const std::string& id);
  std::shared_ptr<StoredResult> FindResult(const std::string& id);
  std::shared_ptr<Concept> FindConcept(const std::string& id);
  // Waits for the image's embedding; RequestError 409 when encoding failed,
  // 503 when it is not ready within options.wait_seconds.
  const ImageEmbedding& WaitForEmbedding(const StoredImage& image);
  std::string StoreResult(std::shared_ptr<StoredResult> result);
};

std::string NewId();  // 128 random bits as 32 hex digits

void SendJson(HttpResponse& res, const JsonValue& value, int status = 200);
// A base64 PNG (0/255) or {"size": [H, W], "counts": [...]} (SAM's
// column-major uncompressed RLE).
JsonValue MaskJson(const StoredMask& mask, MaskFormat format);
std::vector<uint8_t> MaskPng(const StoredMask& mask);
// An upload's bytes: the raw body (curl --data-binary @FILE) or a multipart
// form's first file (curl -F file=@FILE), whose file name goes to *name.
// RequestError 400 naming `what` ("image") when empty.
const std::string& UploadedFile(const HttpRequest& req, const std::string& what, std::string* name);

// A reference of /api/personalize or /api/concept: its image and its mask,
// of the image's size (RequestError 400 otherwise).
struct ResolvedReference {
  std::shared_ptr<StoredImage> image;
  RgbImage mask;
};
ResolvedReference ResolveReference(Server::State* state, const ReferenceRequest& request);

void AddImageRoutes(Server::State* state);
void AddPersonalizeRoutes(Server::State* state);
void AddConceptRoutes(Server::State* state);

}  // namespace persam::server

#endif  // PERSAM_SERVER_SERVER_STATE_H_
