// DownloadToPartFile and Sha256OfFile through the download module
// (download/download_module.h), loaded on the first call.
#include "base/error.h"
#include "base/module_loader.h"
#include "download/download_module.h"
#include "download/http_download.h"
#include "download/sha256_file.h"

namespace persam {
namespace {

// Throws prefixed with `context` when the module does not load.
const DownloadModule& Module(const std::string& context) {
  return LoadModule<DownloadModule>("libpersam_download.so", "persam_download_module",
                                    "the downloader, libcurl and libcrypto", kDownloadModuleVersion, context);
}

}  // namespace

DownloadOutcome DownloadToPartFile(const DownloadRequest& request) {
  return Module("cannot download " + request.url).download_to_part_file(request);
}

std::string Sha256OfFile(const std::string& path) {
  return Module("cannot compute the SHA-256 of '" + path + "'").sha256_of_file(path);
}

}  // namespace persam
