// SHA-256 of a file, streamed (checkpoints are up to 2.6 GB).
#ifndef PERSAM_DOWNLOAD_SHA256_FILE_H_
#define PERSAM_DOWNLOAD_SHA256_FILE_H_

#include <string>

namespace persam {

// Lower-case hex digest; throws persam::Error naming the file when it cannot
// be read.
std::string Sha256OfFile(const std::string& path);

}  // namespace persam

#endif  // PERSAM_DOWNLOAD_SHA256_FILE_H_
