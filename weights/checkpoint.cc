#include "weights/checkpoint.h"

#include <cstdio>
#include <cstring>

#include "base/error.h"

namespace persam {

Checkpoint ReadCheckpointFromBytes(const FileBytes& bytes) {
  if (bytes.size == 0) throw Error(bytes.path + ": empty file, expected a .pth or .safetensors checkpoint");
  const uint8_t* d = bytes.data;
  if (bytes.size >= 4 && d[0] == 'P' && d[1] == 'K') return ReadPth(bytes);
  if (d[0] == 0x80) return ReadPth(bytes);  // pickle: legacy torch.save
  if (bytes.size >= 9 && d[8] == '{') return ReadSafetensors(bytes);
  if (bytes.size >= 262 && std::memcmp(d + 257, "ustar", 5) == 0) return ReadPth(bytes);
  char head[40] = {0};
  for (size_t i = 0; i < 8 && i < bytes.size; ++i) std::snprintf(head + 3 * i, 4, "%02x ", d[i]);
  throw Error(bytes.path + ": unrecognised file format (first bytes " + std::string(head) +
              "); expected a PyTorch .pth (zip or legacy pickle) or a .safetensors file");
}

Checkpoint ReadCheckpoint(const std::string& path) { return ReadCheckpointFromBytes(MapFile(path)); }

}  // namespace persam
