// `persam serve`: one SAM model kept in memory behind an HTTP server (Debian's
// cpp-httplib, in a plugin module: server/http_server_module.h) with a web
// page and a JSON API (docs/serve.md). Embeddings
// are computed once per upload on a background encoder queue and kept in a
// memory-capped LRU cache; decoder calls of concurrent requests run on the
// HTTP worker threads.
#ifndef PERSAM_SERVER_SERVER_H_
#define PERSAM_SERVER_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "concepts/model_identity.h"
#include "engine/sam_model.h"

namespace persam::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (Bind returns it)
  int threads = 0;                       // engine threads per call; <= 0: all cores
  size_t max_body_bytes = 50u << 20;     // larger requests get 413
  size_t cache_bytes = size_t{2048} << 20;  // images + embeddings + results
  int http_threads = 16;                 // concurrent connections served
  int wait_seconds = 120;                // a request waits this long for an embedding
  std::string model_name;                // shown by GET /api/info
  ConceptModelIdentity identity;         // written into learned concepts, checked on uploaded ones
};

class Server {
 public:
  Server(const SamModel& model, ServerOptions options);
  ~Server();
  // Binds the listening socket; returns the port. Throws persam::Error
  // naming host:port when that fails.
  int Bind();
  // Serves until Stop() (from any thread, e.g. a signal watcher).
  void Run();
  void Stop();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace persam::server

#endif  // PERSAM_SERVER_SERVER_H_
