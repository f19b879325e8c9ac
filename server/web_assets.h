// The web page's files (server/web/), compiled into the binary by
// server/embed_files.py so the server needs no files and no network.
#ifndef PERSAM_SERVER_WEB_ASSETS_H_
#define PERSAM_SERVER_WEB_ASSETS_H_

#include <cstddef>

namespace persam::server {

struct WebAsset {
  const char* path;          // URL path, "/index.html"
  const char* content_type;
  const unsigned char* data;
  size_t size;
};

extern const WebAsset kWebAssets[];
extern const size_t kWebAssetCount;

}  // namespace persam::server

#endif  // PERSAM_SERVER_WEB_ASSETS_H_
