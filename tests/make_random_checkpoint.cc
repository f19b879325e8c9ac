// Writes a seeded random SAM checkpoint (official names and shapes) as
// safetensors, for benchmarks and demos at real model sizes:
//   make_random_checkpoint vit_b|vit_l|vit_h|vit_tiny|mobile_sam OUT.safetensors [seed] [f32|f16|bf16]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

int main(int argc, char** argv) {
  using namespace persam;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s vit_b|vit_l|vit_h|vit_tiny|mobile_sam OUT.safetensors [seed] [f32|f16|bf16]\n",
                 argv[0]);
    return 2;
  }
  const std::string model = argv[1];
  SamConfig config;
  if (model == "vit_b") config = SamVitBConfig();
  else if (model == "vit_l") config = SamVitLConfig();
  else if (model == "vit_h") config = SamVitHConfig();
  else if (model == "vit_tiny") config = SamVitTinyTestConfig();
  else if (model == "mobile_sam") config = MobileSamConfig();
  else {
    std::fprintf(stderr, "unknown model '%s'\n", model.c_str());
    return 2;
  }
  const uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 0;
  const std::string type = argc > 4 ? argv[4] : "f32";
  const DType dtype = type == "f16" ? DType::kF16 : type == "bf16" ? DType::kBF16 : DType::kF32;
  try {
    const auto start = std::chrono::steady_clock::now();
    WriteRandomSamCheckpoint(argv[2], config, seed, dtype);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %s, %lld parameters, %s, %.2f s\n", argv[2], model.c_str(),
                static_cast<long long>(ParameterCount(config)), DTypeName(dtype), s);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
