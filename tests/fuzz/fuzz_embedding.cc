// libFuzzer: embedding files (`persam embed` output read by `segment
// --embedding` and the C API): EMB.npy plus its EMB.npy.json side file.
// Input layout: u16 height, u16 width, u16 side-file length (0xFFFF: no side
// file), the side file, then the .npy bytes. The model is a small config so
// that valid embeddings stay a few hundred bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "engine/embedding_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 6) return 0;
  const int height = data[0] | data[1] << 8, width = data[2] | data[3] << 8;
  const size_t side_size = data[4] | data[5] << 8;
  data += 6;
  size -= 6;
  const bool has_side = side_size != 0xFFFF;
  if (has_side && side_size > size) return 0;
  const std::string side = has_side ? std::string(reinterpret_cast<const char*>(data), side_size) : "";
  if (has_side) {
    data += side_size;
    size -= side_size;
  }
  persam::SamConfig config;
  config.prompt_dim = 4;
  config.embed_grid = 4;
  config.image_size = 64;
  persam::ModelIdentity expected;
  expected.architecture = "sam-vit (fuzz)";
  expected.encoder_hash = "xxh3-64:0000000000000000";
  std::string unchecked;
  try {
    const persam::ImageEmbedding e = persam::ReadEmbeddingBytes(persam::BytesFromMemory("fuzz.npy", data, size),
                                                                has_side ? &side : nullptr, "fuzz.npy.json", config,
                                                                height, width, expected, &unchecked);
    if (e.data.size() != 4u * 4 * 4) __builtin_trap();
  } catch (const persam::Error&) {
  }
  return 0;
}
