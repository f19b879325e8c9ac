// libFuzzer: the JSON reader on its own (safetensors headers, embedding side
// files, --mask-input metadata): a value or a persam::Error, and what it
// accepted must serialise to JSON it accepts again, unchanged.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "weights/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  persam::JsonValue value;
  try {
    value = persam::ParseJson(reinterpret_cast<const char*>(data), size, "fuzz.json");
  } catch (const persam::Error&) {
    return 0;
  }
  const std::string once = persam::WriteJson(value);
  try {
    const std::string twice = persam::WriteJson(persam::ParseJson(once.data(), once.size(), "round trip"));
    if (twice != once) __builtin_trap();
  } catch (const persam::Error&) {
    __builtin_trap();  // WriteJson wrote something ParseJson refuses
  }
  return 0;
}
