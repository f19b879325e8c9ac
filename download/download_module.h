// The download module (libpersam_download.so, built by modules/meson.build
// from download/curl_download.cc and openssl_sha256.cc): libcurl, with its
// TLS, HTTP/2, SSH, LDAP and Kerberos libraries, and libcrypto are loaded
// only by `persam download` (base/module_loader.h says why and where
// modules are found). download/download_via_module.cc loads it.
#ifndef PERSAM_DOWNLOAD_DOWNLOAD_MODULE_H_
#define PERSAM_DOWNLOAD_DOWNLOAD_MODULE_H_

#include <string>

#include "download/http_download.h"

namespace persam {

// Raised whenever DownloadModule or the types it passes change, so that a
// module of another build is refused instead of called through the wrong
// layout.
constexpr int kDownloadModuleVersion = 1;

struct DownloadModule {
  int version;  // kDownloadModuleVersion of the build that made the module
  // DownloadToPartFile (download/http_download.h) and Sha256OfFile
  // (download/sha256_file.h); errors are thrown as persam::Error.
  DownloadOutcome (*download_to_part_file)(const DownloadRequest& request);
  std::string (*sha256_of_file)(const std::string& path);
};

// The module's code behind those two (curl_download.cc, openssl_sha256.cc).
DownloadOutcome CurlDownloadToPartFile(const DownloadRequest& request);
std::string OpenSslSha256OfFile(const std::string& path);

}  // namespace persam

// The module's one export.
extern "C" const persam::DownloadModule* persam_download_module();

#endif  // PERSAM_DOWNLOAD_DOWNLOAD_MODULE_H_
