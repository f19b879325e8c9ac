// One HTTP(S) download into a `.part` file that survives interruptions: a
// second call continues where the first stopped (an HTTP Range request), so
// a 2.6 GB checkpoint need not start over after a dropped connection.
#ifndef PERSAM_DOWNLOAD_HTTP_DOWNLOAD_H_
#define PERSAM_DOWNLOAD_HTTP_DOWNLOAD_H_

#include <cstdint>
#include <functional>
#include <string>

namespace persam {

struct DownloadRequest {
  std::string url;
  std::string part_path;       // appended to; created when absent
  uint64_t expected_size = 0;  // bytes; 0: unknown. A server announcing another size is refused.
  // Called as bytes arrive (done includes what the .part held before), and
  // once more at the end.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct DownloadOutcome {
  uint64_t bytes = 0;         // size of the .part file when done
  uint64_t resumed_from = 0;  // bytes already there before this call
};

// Fetches request.url into request.part_path, resuming from its current
// size. Throws persam::Error naming the URL and libcurl's message when the
// server cannot be reached or answers with an error, and saying that the
// command can be run again when the transfer was cut (the .part is kept).
DownloadOutcome DownloadToPartFile(const DownloadRequest& request);

}  // namespace persam

#endif  // PERSAM_DOWNLOAD_HTTP_DOWNLOAD_H_
