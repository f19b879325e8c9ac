// libFuzzer: .npy bytes must give a tensor whose data is exactly what its
// shape needs, or a persam::Error; never a crash or a huge allocation.
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "weights/npy.h"

static volatile uint8_t g_sink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const persam::Tensor t = persam::ReadNpyBytes(persam::BytesFromMemory("fuzz.npy", data, size));
    // The reader promised NumBytes() bytes inside the input: read them all.
    const size_t bytes = t.NumBytes();
    if (bytes > size) __builtin_trap();
    for (size_t i = 0; i < bytes; ++i) g_sink ^= t.data[i];
    (void)t.ToFloat32();
  } catch (const persam::Error&) {
  }
  return 0;
}
