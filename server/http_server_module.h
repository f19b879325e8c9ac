// The HTTP transport of `persam serve` as a plugin module
// (libpersam_http.so, built by modules/meson.build from
// server/httplib_http_server.cc): Debian's cpp-httplib, with libssl,
// libcrypto and brotli, is loaded only by `persam serve`
// (base/module_loader.h says why and where modules are found). The API's
// handlers (server/server.cc, api_*.cc) see only the types below;
// server/server.cc loads the module.
#ifndef PERSAM_SERVER_HTTP_SERVER_MODULE_H_
#define PERSAM_SERVER_HTTP_SERVER_MODULE_H_

#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace persam::server {

// Raised whenever a type below changes, so that a module of another build
// is refused instead of called through the wrong layout.
constexpr int kHttpServerModuleVersion = 1;

// One request, as the transport parsed it; valid during the handler call.
struct HttpRequest {
  HttpRequest(const std::string& m, const std::string& p, const std::string& b) : method(m), path(p), body(b) {}

  const std::string& method;
  const std::string& path;
  const std::string& body;            // the raw body (a multipart form's parts: below)
  std::vector<std::string> matches;   // the route pattern's groups; [0] is the whole path
  std::string content_type;           // its Content-Type header ("" when absent)
  bool multipart = false;             // a multipart/form-data body
  const std::string* file_content = nullptr;  // a multipart form's first file part, if any
  std::string file_name;                      // and its file name
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type

  void set_content(const char* data, size_t size, const std::string& type) {
    body.assign(data, size);
    content_type = type;
  }
  void set_content(std::string bytes, const std::string& type) {
    body = std::move(bytes);
    content_type = type;
  }
  void set_header(const std::string& name, const std::string& value) { headers.emplace_back(name, value); }
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Routes: `pattern` is an ECMAScript regex matched against the whole path.
  virtual void Get(const std::string& pattern, HttpHandler handler) = 0;
  virtual void Post(const std::string& pattern, HttpHandler handler) = 0;
  virtual void Delete(const std::string& pattern, HttpHandler handler) = 0;
  // Called when a handler throws; it fills the response.
  virtual void SetExceptionHandler(std::function<void(HttpResponse&, std::exception_ptr)> handler) = 0;
  // Called for an error status with an empty body, among them those the
  // transport sets itself (404 no route, 413 body too large, 400 a request
  // it cannot parse); it fills the body.
  virtual void SetErrorHandler(HttpHandler handler) = 0;
  // Binds the listening socket (port 0: any free port); the port, or <= 0
  // when that fails.
  virtual int Bind(const std::string& host, int port) = 0;
  // Serves until Stop() (from any thread).
  virtual void Run() = 0;
  virtual void Stop() = 0;
};

struct HttpServerModule {
  int version;  // kHttpServerModuleVersion of the build that made the module
  // A server taking bodies of at most `max_body_bytes`, handling requests
  // on `threads` threads, binding with SO_REUSEADDR only. The caller owns
  // the result (delete).
  HttpServer* (*create)(size_t max_body_bytes, int threads);
};

}  // namespace persam::server

// The module's one export.
extern "C" const persam::server::HttpServerModule* persam_http_server_module();

#endif  // PERSAM_SERVER_HTTP_SERVER_MODULE_H_
