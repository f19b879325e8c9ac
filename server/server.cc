#include "server/server.h"

#include <arpa/inet.h>

#include <cstdio>
#include <exception>
#include <new>
#include <random>

#include "base/error.h"
#include "base/module_loader.h"
#include "server/server_state.h"
#include "server/web_assets.h"

namespace persam::server {

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

std::string NewId() {
  // std::random_device reads the kernel's CSPRNG (getrandom / /dev/urandom)
  // on Linux with libstdc++: ids cannot be guessed from earlier ones.
  static thread_local std::random_device device;
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (int word = 0; word < kIdLength / 8; ++word) {
    uint32_t v = device();
    for (int k = 0; k < 8; ++k, v >>= 4) id += kHex[v & 15];
  }
  return id;
}

namespace {

// The HTTP server module's interface, loaded by the first server; throws
// when it does not load or is of another build.
const HttpServerModule& LoadHttpServerModule() {
  return LoadModule<HttpServerModule>("libpersam_http.so", "persam_http_server_module",
                                      "the HTTP server, cpp-httplib", kHttpServerModuleVersion, "");
}

}  // namespace

void SendJson(HttpResponse& res, const JsonValue& value, int status) {
  res.status = status;
  res.set_content(WriteJson(value), "application/json");
}

Server::State::State(const SamModel& m, ServerOptions o)
    : model(m),
      options(std::move(o)),
      // A freshly encoded image becomes the most recently used: it was
      // pinned while waiting (below), and its client is about to use it.
      encoder(m, options.threads, [this](const StoredImage& image) { images.Get(image.id); }),
      // Results are small next to embeddings; a quarter of the cap keeps a
      // few hundred masks of large images.
      // An image waiting for the encoder stays: its client has not used it yet.
      images(options.cache_bytes - options.cache_bytes / 4,
             [](const StoredImage& image) {
               const ImageState state = image.state;
               return state == ImageState::kQueued || state == ImageState::kEncoding;
             }),
      results(options.cache_bytes / 4),
      concepts(kConceptCacheBytes),
      http(LoadHttpServerModule().create(options.max_body_bytes, options.http_threads)) {}

std::shared_ptr<StoredImage> Server::State::FindImage(const std::string& id) {
  std::shared_ptr<StoredImage> image = IsWellFormedId(id) ? images.Get(id) : nullptr;
  if (!image) throw RequestError(404, "no image '" + id + "' (never uploaded, deleted, or evicted from the cache)");
  return image;
}

std::shared_ptr<StoredResult> Server::State::FindResult(const std::string& id) {
  std::shared_ptr<StoredResult> result = IsWellFormedId(id) ? results.Get(id) : nullptr;
  if (!result) throw RequestError(404, "no result '" + id + "' (unknown, or evicted from the cache)");
  return result;
}

const ImageEmbedding& Server::State::WaitForEmbedding(const StoredImage& image) {
  std::string error;
  const ImageState state = encoder.Wait(image, std::chrono::seconds(options.wait_seconds), &error);
  if (state == ImageState::kFailed) throw RequestError(409, "image '" + image.id + "': " + error);
  if (state != ImageState::kReady) {
    throw RequestError(503, "image '" + image.id + "' is still " + ImageStateName(state) + " after " +
                                std::to_string(options.wait_seconds) + " s; try again later");
  }
  return image.embedding;
}

std::shared_ptr<Concept> Server::State::FindConcept(const std::string& id) {
  std::shared_ptr<Concept> found = IsWellFormedId(id) ? concepts.Get(id) : nullptr;
  if (!found) throw RequestError(404, "no concept '" + id + "' (never uploaded, or evicted from the cache)");
  return found;
}

std::string Server::State::StoreResult(std::shared_ptr<StoredResult> result) {
  size_t bytes = sizeof(StoredResult) + result->low_res.size() * sizeof(float);
  for (const StoredMask& m : result->masks) bytes += sizeof(StoredMask) + m.pixels.size();
  const std::string id = NewId();
  if (!results.Put(id, std::move(result), bytes)) {
    throw RequestError(413, "the result (" + std::to_string(bytes >> 20) + " MB) exceeds the result cache (" +
                                std::to_string(results.capacity() >> 20) + " MB; raise --cache-mb)");
  }
  return id;
}

const std::string& UploadedFile(const HttpRequest& req, const std::string& what, std::string* name) {
  const std::string* bytes = &req.body;
  if (req.multipart) {
    if (req.file_content == nullptr) throw RequestError(400, "multipart upload without a file part");
    bytes = req.file_content;
    *name = req.file_name;
  }
  if (bytes->empty()) throw RequestError(400, "empty upload: send the " + what + " file as the request body");
  return *bytes;
}

namespace {

JsonValue ErrorJson(const std::string& message) {
  return JsonValue::Object({{"error", JsonValue::String(message)}});
}

void AddStaticRoutes(Server::State* state) {
  for (size_t i = 0; i < kWebAssetCount; ++i) {
    const WebAsset& asset = kWebAssets[i];
    auto serve = [&asset](const HttpRequest&, HttpResponse& res) {
      res.set_content(reinterpret_cast<const char*>(asset.data), asset.size, asset.content_type);
      res.set_header("Cache-Control", "no-cache");
    };
    state->http->Get(asset.path, serve);
    if (std::string(asset.path) == "/index.html") state->http->Get("/", serve);
  }
}

}  // namespace

Server::Server(const SamModel& model, ServerOptions options)
    : state_(std::make_unique<State>(model, std::move(options))) {
  State* s = state_.get();
  HttpServer& http = *s->http;
  // A request that throws answers with its status and {"error": message}:
  // RequestError carries a 4xx; persam::Error comes from the engine on
  // input it refuses (an undecodable image, an empty mask): 400.
  http.SetExceptionHandler([](HttpResponse& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const RequestError& e) {
      SendJson(res, ErrorJson(e.what()), e.status());
    } catch (const Error& e) {
      SendJson(res, ErrorJson(e.what()), 400);
    } catch (const std::bad_alloc&) {
      SendJson(res, ErrorJson("out of memory"), 503);
    } catch (const std::exception& e) {
      SendJson(res, ErrorJson(std::string("internal error: ") + e.what()), 500);
    } catch (...) {
      SendJson(res, ErrorJson("internal error"), 500);
    }
  });
  // Statuses the transport sets itself (404 no route, 413 body too large,
  // 400 unparsable request) get a JSON body too.
  const size_t max_body = s->options.max_body_bytes;
  http.SetErrorHandler([max_body](const HttpRequest& req, HttpResponse& res) {
    std::string message;
    if (res.status == 404) {
      message = "no such endpoint: " + req.method + " " + req.path + " (see docs/serve.md)";
    } else if (res.status == 413 && req.content_type == "application/x-www-form-urlencoded") {
      // httplib caps form bodies at 8 KB; curl --data-binary sends that type.
      message = "an upload needs Content-Type application/octet-stream (curl: -H 'Content-Type: "
                "application/octet-stream' --data-binary @FILE) or a multipart form (curl -F image=@FILE)";
    } else if (res.status == 413) {
      message = "request body exceeds the " + std::to_string(max_body >> 20) + " MB limit (--max-body-mb)";
    } else {
      message = "HTTP " + std::to_string(res.status) + " for " + req.method + " " + req.path;
    }
    SendJson(res, ErrorJson(message), res.status);
  });
  AddStaticRoutes(s);
  http.Get("/api/info", [s](const HttpRequest&, HttpResponse& res) {
    const SamConfig& c = s->model.config();
    SendJson(res, JsonValue::Object({
                      {"model", JsonValue::String(s->options.model_name)},
                      {"embed_grid", JsonValue::Integer(c.embed_grid)},
                      {"mask_size", JsonValue::Integer(4 * c.embed_grid)},
                      {"images", JsonValue::Integer(static_cast<int64_t>(s->images.size()))},
                      {"results", JsonValue::Integer(static_cast<int64_t>(s->results.size()))},
                      {"cache_bytes", JsonValue::Integer(static_cast<int64_t>(s->images.bytes() + s->results.bytes()))},
                      {"cache_capacity", JsonValue::Integer(static_cast<int64_t>(s->options.cache_bytes))},
                      {"max_body_bytes", JsonValue::Integer(static_cast<int64_t>(s->options.max_body_bytes))},
                  }));
  });
  AddImageRoutes(s);
  AddPersonalizeRoutes(s);
  AddConceptRoutes(s);
}

Server::~Server() {
  Stop();
  state_->encoder.Stop();
}

int Server::Bind() {
  State& s = *state_;
  const int port = s.http->Bind(s.options.host, s.options.port);
  if (port <= 0) {
    throw Error("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                " (address in use, or not an address of this machine)");
  }
  return port;
}

void Server::Run() { state_->http->Run(); }

void Server::Stop() { state_->http->Stop(); }

}  // namespace persam::server
