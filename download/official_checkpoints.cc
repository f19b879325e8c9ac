#include "download/official_checkpoints.h"

namespace persam {

// Where the sizes and SHA-256s come from. Meta publishes neither (its README
// only links the files), nor does MobileSAM's README, so the values are the
// ones independent public projects pin after downloading the same URLs,
// found with an exact-string search over public GitHub code and accepted
// only where several unrelated projects agree:
// - SAM ViT-B/L/H: the three digests appear together in several projects'
//   download manifests (url, file name, sha256 side by side), one of which
//   also records the sizes 375042383 / 1249524607 / 2564550879 bytes; the
//   ViT-L digest is also the "SHA256:..." checksum a 3D Slicer extension
//   passes to SampleData.downloadFileIntoCache for the same URL, and the
//   ViT-H size is stated by two more projects (a Hugging Face mirror
//   manifest, an experiment log) with the same digest.
// - MobileSAM: the digest and size 40728226 are recorded by projects that
//   fetch raw.githubusercontent.com/ChaoningZhang/MobileSAM/<commit>/
//   weights/mobile_sam.pt pinned at commit f706ad9c4eb7, and the same digest
//   by others that fetch the master branch's file (a Dockerfile checks it
//   with sha256sum -c).
// Nothing here was computed by us from a download (the build machine has no
// internet access): a file whose digest differs is refused, not trusted.
const std::vector<OfficialCheckpoint>& OfficialCheckpoints() {
  static const std::vector<OfficialCheckpoint> table = {
      {"vit_b", "SAM ViT-B (Meta, 91M parameters)", "sam_vit_b_01ec64.pth",
       "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth", 375042383,
       "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"},
      {"vit_l", "SAM ViT-L (Meta, 308M parameters)", "sam_vit_l_0b3195.pth",
       "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth", 1249524607,
       "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"},
      {"vit_h", "SAM ViT-H (Meta, 636M parameters)", "sam_vit_h_4b8939.pth",
       "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth", 2564550879,
       "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e"},
      // Pinned to the commit whose file the digest was recorded for, so a
      // later push to master cannot turn a good download into a mismatch.
      {"vit_t", "MobileSAM (TinyViT encoder, 10M parameters)", "mobile_sam.pt",
       "https://raw.githubusercontent.com/ChaoningZhang/MobileSAM/f706ad9c4eb7f219c00d9050e46328518ffb65d2/"
       "weights/mobile_sam.pt",
       40728226, "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f"},
  };
  return table;
}

const OfficialCheckpoint* FindOfficialCheckpoint(const std::string& name) {
  for (const OfficialCheckpoint& c : OfficialCheckpoints()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

}  // namespace persam
