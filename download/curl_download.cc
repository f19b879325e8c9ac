// DownloadToPartFile (download/http_download.h) in the download module
// (download/download_module.h) through libcurl (Debian's
// libcurl4-openssl-dev): redirects (GitHub raw), HTTPS with the system's CA
// store, Range resume, proxies from the environment, all maintained
// upstream rather than written here.
#include "download/download_module.h"

#include <curl/curl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "base/error.h"

namespace persam {
namespace {

struct Transfer {
  const DownloadRequest* request = nullptr;
  CURL* curl = nullptr;
  FILE* file = nullptr;
  uint64_t start = 0;    // bytes in the .part before this attempt
  uint64_t written = 0;  // bytes appended by this attempt
  bool checked = false;  // the announced size was compared with the expected one
  std::string refusal;   // why the write callback stopped the transfer
};

size_t Write(char* data, size_t size, size_t count, void* user) {
  Transfer& t = *static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (!t.checked) {
    t.checked = true;
    curl_off_t remaining = -1;
    curl_easy_getinfo(t.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &remaining);
    const uint64_t expected = t.request->expected_size;
    if (expected > 0 && remaining >= 0 && t.start + static_cast<uint64_t>(remaining) != expected) {
      t.refusal = "the server sends " + std::to_string(t.start + static_cast<uint64_t>(remaining)) +
                  " bytes, but the recorded size is " + std::to_string(expected) +
                  " bytes: a different file (or a wrong mirror)";
      return 0;
    }
  }
  if (t.request->expected_size > 0 && t.start + t.written + n > t.request->expected_size) {
    t.refusal = "the server sends more than the recorded size of " +
                std::to_string(t.request->expected_size) + " bytes: a different file (or a wrong mirror)";
    return 0;
  }
  if (std::fwrite(data, 1, n, t.file) != n) {
    t.refusal = "cannot write '" + t.request->part_path + "': " + std::strerror(errno);
    return 0;
  }
  t.written += n;
  return n;
}

int Progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  const Transfer& t = *static_cast<const Transfer*>(user);
  if (t.request->progress) {
    const uint64_t whole = t.request->expected_size > 0 ? t.request->expected_size
                           : total > 0                  ? t.start + static_cast<uint64_t>(total)
                                                        : 0;
    t.request->progress(t.start + static_cast<uint64_t>(now), whole);
  }
  return 0;
}

uint64_t FileSize(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(size);
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

// One attempt from the .part's current size. Returns the libcurl code and
// the HTTP status; fills `error` with libcurl's message.
CURLcode Attempt(const DownloadRequest& request, Transfer* t, long* status, std::string* error) {
  static CurlGlobal global;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) throw Error("cannot initialise libcurl");
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(request.part_path.c_str(), "ab"), &std::fclose);
  if (!file) throw Error("cannot write '" + request.part_path + "': " + std::strerror(errno));
  t->curl = curl.get();
  t->file = file.get();
  t->start = FileSize(request.part_path);
  t->written = 0;
  t->checked = false;
  t->refusal.clear();
  char message[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);  // 4xx / 5xx are errors, not file content
  curl_easy_setopt(c, CURLOPT_USERAGENT, "persam-download");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, message);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled connection (under 1 byte/s for a minute) ends the attempt
  // instead of hanging; the .part keeps what arrived.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(t->start));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
  const CURLcode code = curl_easy_perform(c);
  *status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  *error = message[0] ? message : curl_easy_strerror(code);
  if (std::fflush(file.get()) != 0 && code == CURLE_OK) {
    throw Error("cannot write '" + request.part_path + "': " + std::strerror(errno));
  }
  return code;
}

}  // namespace

DownloadOutcome CurlDownloadToPartFile(const DownloadRequest& request) {
  DownloadOutcome outcome;
  outcome.resumed_from = FileSize(request.part_path);
  if (request.expected_size > 0 && outcome.resumed_from > request.expected_size) {
    // Longer than the file can be: not a prefix of it.
    std::filesystem::remove(request.part_path);
    outcome.resumed_from = 0;
  }
  if (request.expected_size > 0 && outcome.resumed_from == request.expected_size) {
    outcome.bytes = outcome.resumed_from;  // complete from an earlier run; the caller verifies it
    return outcome;
  }
  Transfer t;
  t.request = &request;
  for (int attempt = 0;; ++attempt) {
    long status = 0;
    std::string error;
    const CURLcode code = Attempt(request, &t, &status, &error);
    if (code == CURLE_OK) break;
    // A server without Range support (200 instead of 206), or a .part that is
    // not a prefix of what it now serves (416): start over, once.
    const bool restart = t.start > 0 && (code == CURLE_RANGE_ERROR || status == 416);
    if (restart && attempt == 0) {
      std::filesystem::remove(request.part_path);
      continue;
    }
    if (!t.refusal.empty()) throw Error(request.url + ": " + t.refusal);
    const uint64_t have = FileSize(request.part_path);
    if (code == CURLE_PARTIAL_FILE || code == CURLE_RECV_ERROR || code == CURLE_OPERATION_TIMEDOUT ||
        code == CURLE_GOT_NOTHING || (have > t.start && code != CURLE_HTTP_RETURNED_ERROR)) {
      throw Error("download of " + request.url + " interrupted after " + std::to_string(have) + " bytes (curl: " +
                  error + "); run the same command again to resume from '" + request.part_path + "'");
    }
    throw Error("cannot download " + request.url + " (curl: " + error + ")");
  }
  outcome.bytes = FileSize(request.part_path);
  if (request.progress) request.progress(outcome.bytes, request.expected_size > 0 ? request.expected_size : outcome.bytes);
  return outcome;
}

}  // namespace persam
