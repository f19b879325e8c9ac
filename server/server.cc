#include "server/server.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdio>
#include <exception>
#include <new>
#include <random>

#include "base/error.h"
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

void SendJson(httplib::Response& res, const JsonValue& value, int status) {
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
      results(options.cache_bytes / 4) {}

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

namespace {

JsonValue ErrorJson(const std::string& message) {
  return JsonValue::Object({{"error", JsonValue::String(message)}});
}

void AddStaticRoutes(Server::State* state) {
  for (size_t i = 0; i < kWebAssetCount; ++i) {
    const WebAsset& asset = kWebAssets[i];
    auto serve = [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_content(reinterpret_cast<const char*>(asset.data), asset.size, asset.content_type);
      res.set_header("Cache-Control", "no-cache");
    };
    state->http.Get(asset.path, serve);
    if (std::string(asset.path) == "/index.html") state->http.Get("/", serve);
  }
}

}  // namespace

Server::Server(const SamModel& model, ServerOptions options)
    : state_(std::make_unique<State>(model, std::move(options))) {
  State* s = state_.get();
  httplib::Server& http = s->http;
  http.set_payload_max_length(s->options.max_body_bytes);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
  // second server on the same port starts fine and takes half of the
  // connections, whose ids the first one never issued.
  http.set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const int pool = s->options.http_threads;
  http.new_task_queue = [pool] { return new httplib::ThreadPool(static_cast<size_t>(pool)); };
  // A request that throws answers with its status and {"error": message}:
  // RequestError carries a 4xx; persam::Error comes from the engine on
  // input it refuses (an undecodable image, an empty mask): 400.
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
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
  // Statuses httplib sets itself (404 no route, 413 body too large, 400
  // unparsable request) get a JSON body too.
  const size_t max_body = s->options.max_body_bytes;
  http.set_error_handler(httplib::Server::HandlerWithResponse([max_body](const httplib::Request& req,
                                                                         httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    if (res.status == 404) {
      message = "no such endpoint: " + req.method + " " + req.path + " (see docs/serve.md)";
    } else if (res.status == 413 && req.get_header_value("Content-Type") == "application/x-www-form-urlencoded") {
      // httplib caps form bodies at 8 KB; curl --data-binary sends that type.
      message = "an upload needs Content-Type application/octet-stream (curl: -H 'Content-Type: "
                "application/octet-stream' --data-binary @FILE) or a multipart form (curl -F image=@FILE)";
    } else if (res.status == 413) {
      message = "request body exceeds the " + std::to_string(max_body >> 20) + " MB limit (--max-body-mb)";
    } else {
      message = "HTTP " + std::to_string(res.status) + " for " + req.method + " " + req.path;
    }
    SendJson(res, ErrorJson(message), res.status);
    return httplib::Server::HandlerResponse::Handled;
  }));
  AddStaticRoutes(s);
  http.Get("/api/info", [s](const httplib::Request&, httplib::Response& res) {
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
}

Server::~Server() {
  Stop();
  state_->encoder.Stop();
}

int Server::Bind() {
  State& s = *state_;
  int port = s.options.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(s.options.host);
    if (port < 0) port = 0;
  } else if (!s.http.bind_to_port(s.options.host, port)) {
    port = 0;
  }
  if (port <= 0) {
    throw Error("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                " (address in use, or not an address of this machine)");
  }
  return port;
}

void Server::Run() { state_->http.listen_after_bind(); }

void Server::Stop() { state_->http.stop(); }

}  // namespace persam::server
