// The official SAM / MobileSAM checkpoints `persam download` knows: where
// each file is published, its size and its SHA-256, recorded here once.
#ifndef PERSAM_DOWNLOAD_OFFICIAL_CHECKPOINTS_H_
#define PERSAM_DOWNLOAD_OFFICIAL_CHECKPOINTS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace persam {

struct OfficialCheckpoint {
  const char* name;       // vit_b, vit_l, vit_h, vit_t (the registry names of the reference code)
  const char* what;       // one line for the help text
  const char* file_name;  // as published, e.g. sam_vit_b_01ec64.pth
  const char* url;        // the publisher's own URL
  uint64_t size;          // bytes; 0 when not recorded
  const char* sha256;     // lower-case hex; "" when not recorded (then never "verified")
};

const std::vector<OfficialCheckpoint>& OfficialCheckpoints();
// nullptr when `name` is not one of them.
const OfficialCheckpoint* FindOfficialCheckpoint(const std::string& name);

}  // namespace persam

#endif  // PERSAM_DOWNLOAD_OFFICIAL_CHECKPOINTS_H_
