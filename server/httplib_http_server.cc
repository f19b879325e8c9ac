// The HTTP transport of `persam serve` through Debian's cpp-httplib: the
// code of the HTTP server module (server/http_server_module.h).
#include <httplib.h>
#include <sys/socket.h>

#include <memory>

#include "server/http_server_module.h"

namespace persam::server {
namespace {

HttpRequest View(const httplib::Request& req) {
  HttpRequest out(req.method, req.path, req.body);
  out.matches.reserve(req.matches.size());
  for (const auto& m : req.matches) out.matches.push_back(m.str());
  out.content_type = req.get_header_value("Content-Type");
  out.multipart = req.is_multipart_form_data();
  if (out.multipart && !req.files.empty()) {
    out.file_content = &req.files.begin()->second.content;
    out.file_name = req.files.begin()->second.filename;
  }
  return out;
}

void Write(HttpResponse&& from, httplib::Response& res) {
  res.status = from.status;
  res.body = std::move(from.body);
  if (!from.content_type.empty()) {
    res.headers.erase("Content-Type");
    res.set_header("Content-Type", from.content_type);
  }
  for (const auto& [name, value] : from.headers) res.set_header(name, value);
}

httplib::Server::Handler Adapt(HttpHandler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    HttpResponse out;
    handler(View(req), out);
    Write(std::move(out), res);
  };
}

class HttplibServer final : public HttpServer {
 public:
  HttplibServer(size_t max_body_bytes, int threads) {
    http_.set_payload_max_length(max_body_bytes);
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
    // second server on the same port starts fine and takes half of the
    // connections, whose ids the first one never issued.
    http_.set_socket_options([](socket_t sock) {
      const int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  }

  void Get(const std::string& pattern, HttpHandler handler) override { http_.Get(pattern, Adapt(std::move(handler))); }
  void Post(const std::string& pattern, HttpHandler handler) override {
    http_.Post(pattern, Adapt(std::move(handler)));
  }
  void Delete(const std::string& pattern, HttpHandler handler) override {
    http_.Delete(pattern, Adapt(std::move(handler)));
  }

  void SetExceptionHandler(std::function<void(HttpResponse&, std::exception_ptr)> handler) override {
    http_.set_exception_handler(
        [handler = std::move(handler)](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          HttpResponse out;
          handler(out, ep);
          Write(std::move(out), res);
        });
  }

  void SetErrorHandler(HttpHandler handler) override {
    http_.set_error_handler(httplib::Server::HandlerWithResponse(
        [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          HttpResponse out;
          out.status = res.status;
          handler(View(req), out);
          Write(std::move(out), res);
          return httplib::Server::HandlerResponse::Handled;
        }));
  }

  int Bind(const std::string& host, int port) override {
    if (port == 0) return http_.bind_to_any_port(host);
    return http_.bind_to_port(host, port) ? port : 0;
  }
  void Run() override { http_.listen_after_bind(); }
  void Stop() override { http_.stop(); }

 private:
  httplib::Server http_;
};

HttpServer* Create(size_t max_body_bytes, int threads) { return new HttplibServer(max_body_bytes, threads); }

constexpr HttpServerModule kModule = {kHttpServerModuleVersion, &Create};

}  // namespace
}  // namespace persam::server

extern "C" __attribute__((visibility("default"))) const persam::server::HttpServerModule*
persam_http_server_module() {
  return &persam::server::kModule;
}
