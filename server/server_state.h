// What the API handlers share (server/server.cc, server/api_*.cc); not a
// public header.
#ifndef PERSAM_SERVER_SERVER_STATE_H_
#define PERSAM_SERVER_SERVER_STATE_H_

#include <httplib.h>

#include <memory>
#include <string>
#include <vector>

#include "server/encoder_queue.h"
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

struct Server::State {
  State(const SamModel& m, ServerOptions o);

  const SamModel& model;
  const ServerOptions options;
  EncoderQueue encoder;
  LruCache<StoredImage> images;
  LruCache<StoredResult> results;
  httplib::Server http;

  std::shared_ptr<StoredImage> FindImage(const std::string& id);
  std::shared_ptr<StoredResult> FindResult(const std::string& id);
  // Waits for the image's embedding; RequestError 409 when encoding failed,
  // 503 when it is not ready within options.wait_seconds.
  const ImageEmbedding& WaitForEmbedding(const StoredImage& image);
  std::string StoreResult(std::shared_ptr<StoredResult> result);
};

std::string NewId();  // 128 random bits as 32 hex digits

void SendJson(httplib::Response& res, const JsonValue& value, int status = 200);
// A base64 PNG (0/255) or {"size": [H, W], "counts": [...]} (SAM's
// column-major uncompressed RLE).
JsonValue MaskJson(const StoredMask& mask, MaskFormat format);
std::vector<uint8_t> MaskPng(const StoredMask& mask);

void AddImageRoutes(Server::State* state);
void AddPersonalizeRoutes(Server::State* state);

}  // namespace persam::server

#endif  // PERSAM_SERVER_SERVER_STATE_H_
