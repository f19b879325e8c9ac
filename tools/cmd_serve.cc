// `persam serve`: the model in memory behind a local web page and JSON API
// (server/, docs/serve.md).
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "base/error.h"
#include "engine/sam_model.h"
#include "server/server.h"
#include "tools/cli.h"
#include "tools/precision_option.h"

namespace persam::cli {
namespace {

size_t Megabytes(const Args& args, const char* name, int fallback, int max) {
  const int mb = args.Int(name, fallback);
  if (mb < 1 || mb > max) {
    throw UsageError{std::string("--") + name + " expects megabytes in 1 .. " + std::to_string(max)};
  }
  return static_cast<size_t>(mb) << 20;
}

int RunServe(const Args& args) {
  server::ServerOptions options;
  const std::string model_path = args.Required("model");
  options.model_name = model_path;
  options.host = args.Value("host").value_or("127.0.0.1");
  options.port = args.Int("port", 8080);
  if (options.port < 0 || options.port > 65535) throw UsageError{"--port expects 0 .. 65535 (0: any free port)"};
  options.threads = args.Int("threads", 0);
  options.max_body_bytes = Megabytes(args, "max-body-mb", 50, 4096);
  options.cache_bytes = Megabytes(args, "cache-mb", 2048, 1 << 20);
  if (options.cache_bytes < (size_t{64} << 20)) throw UsageError{"--cache-mb must be at least 64"};
  const LoadOptions load_options = ModelLoadOptions(args);

  // A long-running server whose big buffers (images, 4 MB embeddings,
  // masks) come and go with the cache: a fixed 1 MB mmap threshold (glibc
  // otherwise raises it up to 32 MB after the first frees) returns each of
  // them to the system when freed, and a few arenas instead of one per
  // HTTP thread keep fragmentation from growing the footprint over time.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_ARENA_MAX, 4);

  // SIGINT / SIGTERM are blocked in every thread (threads inherit the mask)
  // and taken by one watcher thread with sigwait, which stops the server:
  // no work in a signal handler, and Run returns normally.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const auto start = std::chrono::steady_clock::now();
  const std::unique_ptr<SamModel> model = SamModel::Load(model_path, load_options);
  Say(args, "loaded %s in %.1f s\n", model_path.c_str(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  server::Server server(*model, options);
  const int port = server.Bind();
  if (server::IsLoopbackHost(options.host)) {
    Say(args, "serving on http://%s:%d/ (loopback only: other machines cannot connect; --host to change)\n",
        options.host.c_str(), port);
  } else {
    std::fprintf(stderr,
                 "persam serve: warning: listening on %s:%d, reachable from other machines; the server has no "
                 "authentication and no TLS\n",
                 options.host.c_str(), port);
    Say(args, "serving on http://%s:%d/\n", options.host.c_str(), port);
  }
  std::fflush(stdout);

  std::atomic<int> caught{0};
  std::atomic<bool> running{true};
  std::thread watcher([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    caught = signal;
    // httplib's stop() does nothing before Run() is listening, so a signal
    // that early would be lost: repeat until Run() has returned.
    while (running) {
      server.Stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  server.Run();
  running = false;
  const bool by_signal = caught != 0;
  // Run returned without a signal (the socket failed): release the watcher.
  if (!by_signal) pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  if (!by_signal) throw Error("the server stopped: its listening socket failed");
  Say(args, "persam serve: %s, stopped\n", caught.load() == SIGINT ? "interrupted" : "terminated");
  return 0;
}

}  // namespace

extern const Command kServeCommand = {
    "serve",
    "a local web page and JSON API for interactive segmentation",
    "usage: persam serve --model MODEL [--host 127.0.0.1] [--port 8080] [--threads N]\n"
    "                    [--precision P] [--max-body-mb 50] [--cache-mb 2048]\n"
    "\n"
    "Keeps the model in memory and serves a web page (open the printed URL) to\n"
    "segment images by clicking and to personalise (PerSAM / PerSAM-F), and the\n"
    "JSON API behind it (docs/serve.md). Each uploaded image is encoded once, in\n"
    "the background, one image at a time; clicks run the decoder only.\n"
    "\n"
    "  --host H         address to listen on (default 127.0.0.1: this machine\n"
    "                   only). Anything else warns: there is no authentication\n"
    "  --port P         TCP port (default 8080; 0 picks a free port and prints it)\n"
    "  --max-body-mb N  largest request body (default 50); larger ones get 413\n"
    "  --cache-mb N     memory for images, embeddings and results (default 2048);\n"
    "                   least recently used ones are dropped first\n"
    PERSAM_PRECISION_HELP
    "\n"
    "Ctrl-C (SIGINT) or SIGTERM stops the server.\n",
    {"model", "host", "port", "max-body-mb", "cache-mb", kPrecisionOptionName},
    {},
    RunServe,
};

}  // namespace persam::cli
