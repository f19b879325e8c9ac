// libFuzzer: concept file bytes must give a concept or a persam::Error,
// never a crash, an out-of-bounds read or a huge allocation.
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "concepts/concept_file.h"

static volatile float g_sink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const persam::Concept c = persam::ReadConceptFromBytes(persam::BytesFromMemory("fuzz.concept", data, size));
    for (float v : c.target.feat) g_sink = g_sink + v;
    for (float v : c.target.embedding) g_sink = g_sink + v;
    g_sink = g_sink + c.ReferencePeak();
  } catch (const persam::Error&) {
  }
  return 0;
}
