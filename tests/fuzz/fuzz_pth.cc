// libFuzzer: PyTorch .pth bytes (zip or legacy) must give tensors or a
// persam::Error, never a crash, an out-of-bounds read or a huge allocation.
#include <cstddef>
#include <cstdint>

#include "weights/checkpoint.h"
#include "base/error.h"
#include "weights/sam_config.h"

static volatile uint8_t g_sink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const persam::Checkpoint ckpt = persam::ReadPth(persam::BytesFromMemory("fuzz.pth", data, size));
    // Touch every byte of every tensor: AddressSanitizer flags a view that
    // points outside its storage.
    for (const auto& entry : ckpt.tensors) {
      const size_t bytes = entry.second.NumBytes();
      for (size_t i = 0; i < bytes; ++i) g_sink ^= entry.second.data[i];
    }
    (void)persam::InferSamConfig(ckpt.tensors, "fuzz.pth");
  } catch (const persam::Error&) {
  }
  return 0;
}
