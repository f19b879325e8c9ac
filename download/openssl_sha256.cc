// Sha256OfFile (download/sha256_file.h) in the download module
// (download/download_module.h) through OpenSSL's EVP interface (libcrypto):
// a maintained, hardware-accelerated (SHA-NI / AVX2) SHA-256 that every
// Debian system already has, rather than a hand-written one.
#include "download/download_module.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "base/error.h"

namespace persam {

std::string OpenSslSha256OfFile(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw Error("cannot read '" + path + "': " + std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw Error("cannot start a SHA-256 digest (OpenSSL)");
  }
  std::vector<unsigned char> buffer(1 << 20);
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
    EVP_DigestUpdate(ctx.get(), buffer.data(), n);
  }
  if (std::ferror(file.get())) throw Error("error reading '" + path + "': " + std::strerror(errno));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

namespace {
constexpr DownloadModule kModule = {kDownloadModuleVersion, &CurlDownloadToPartFile, &OpenSslSha256OfFile};
}  // namespace

}  // namespace persam

extern "C" __attribute__((visibility("default"))) const persam::DownloadModule* persam_download_module() {
  return &persam::kModule;
}
