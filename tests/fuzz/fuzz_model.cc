// libFuzzer: model construction from an inferred config
// (SamModel::FromTensors) on fuzzed shapes. The input edits the tensor list
// of a miniature SAM (ViT or TinyViT, 32-wide decoder: small enough for
// hundreds of constructions a second): 5-byte records {op, tensor index (2
// bytes), dim, value} change a dimension, double it, drop a tensor or add a
// dimension. Every tensor reads one shared zero buffer. The result must be a
// model or a persam::Error, never a crash, and memory stays bounded: the
// harness skips edits above kMaxElements in total. The miniature is not an
// architecture SAM defines, so inputs whose first byte has bit 1 clear run
// with the architecture check on (refused there), the others opt out and
// reach construction.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "base/error.h"
#include "engine/sam_model.h"
#include "weights/sam_config.h"

namespace {

constexpr int64_t kMaxElements = int64_t{16} << 20;

persam::SamConfig MiniatureConfig(bool tinyvit) {
  persam::SamConfig c = tinyvit ? persam::MobileSamConfig() : persam::SamVitTinyTestConfig();
  c.prompt_dim = 32;
  c.decoder_mlp_dim = 64;
  c.iou_head_hidden = 32;
  if (tinyvit) {
    c.tinyvit.embed_dims = {16, 32, 32, 320};  // 320: the stride-1 last merge (TinyViT)
    c.tinyvit.depths = {1, 1, 1, 1};
    c.tinyvit.num_heads = {0, 2, 2, 2};
  } else {
    c.vit.embed_dim = 16;
    c.vit.depth = 2;
    c.vit.num_heads = 2;
    c.vit.head_dim = 8;
    c.vit.mlp_dim = 64;
    c.vit.global_blocks = {1};
  }
  return c;
}

struct Spec {
  std::string name;
  std::vector<int64_t> shape;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool tinyvit = data[0] & 1;
  persam::LoadOptions options;
  options.allow_unusual_architecture = data[0] & 2;
  std::vector<Spec> specs;
  for (const persam::TensorSpec& s : persam::RequiredTensors(MiniatureConfig(tinyvit))) {
    specs.push_back({s.name, s.shape});
  }
  for (size_t at = 1; at + 5 <= size; at += 5) {
    if (specs.empty()) break;
    Spec& spec = specs[(data[at + 1] | data[at + 2] << 8) % specs.size()];
    const size_t dim = spec.shape.empty() ? 0 : data[at + 3] % spec.shape.size();
    switch (data[at] % 4) {
      case 0:
        if (!spec.shape.empty()) spec.shape[dim] = data[at + 4];
        break;
      case 1:
        if (!spec.shape.empty()) spec.shape[dim] *= 2;
        break;
      case 2:
        specs.erase(specs.begin() + static_cast<std::ptrdiff_t>(&spec - specs.data()));
        break;
      default:
        if (spec.shape.size() < 6) spec.shape.push_back(1 + data[at + 4] % 4);
    }
  }
  int64_t total = 0, largest = 0;
  for (const Spec& s : specs) {
    int64_t n = 1;
    for (int64_t d : s.shape) n = d > 0 && n > kMaxElements / d ? kMaxElements + 1 : n * d;
    total += n;
    if (total > kMaxElements) return 0;
    largest = n > largest ? n : largest;
  }
  const auto zeros = std::make_shared<std::vector<float>>(static_cast<size_t>(largest) + 1, 0.0f);
  persam::TensorMap tensors;
  for (const Spec& s : specs) {
    persam::Tensor t;
    t.shape = s.shape;
    t.data = reinterpret_cast<const uint8_t*>(zeros->data());
    t.owner = zeros;
    tensors[s.name] = t;
  }
  try {
    (void)persam::SamModel::FromTensors(tensors, "fuzz", options);
  } catch (const persam::Error& e) {
    if (std::getenv("FUZZ_MODEL_VERBOSE") != nullptr) std::fprintf(stderr, "refused: %s\n", e.what());
  }
  return 0;
}
