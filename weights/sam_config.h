// SAM model configuration, inferred from tensor shapes (REFERENCE.md section 2),
// and the one list of tensors each architecture needs: it drives validation,
// loading and conversion.
#ifndef PERSAM_WEIGHTS_SAM_CONFIG_H_
#define PERSAM_WEIGHTS_SAM_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "weights/json.h"
#include "weights/tensor.h"

namespace persam {

enum class EncoderKind { kVit, kTinyVit };
const char* ArchitectureName(EncoderKind kind);  // "sam-vit", "sam-tinyvit"

struct VitConfig {
  int embed_dim = 0;    // C
  int depth = 0;
  int num_heads = 0;
  int head_dim = 0;     // C / num_heads
  int window_size = 0;  // 14 in SAM (0 when every block is global)
  std::vector<int> global_blocks;
  int mlp_dim = 0;      // 4C
  int patch_size = 16;
  int grid = 64;        // img_size / patch_size
};

struct TinyVitConfig {
  std::vector<int> embed_dims;    // 64, 128, 160, 320
  std::vector<int> depths;        // 2, 2, 6, 2
  std::vector<int> num_heads;     // 2, 4, 5, 10 (a convolutional stage has 0)
  std::vector<int> window_sizes;  // 7, 7, 14, 7 (a convolutional stage has no
                                  // tensor telling its unused window: 0 when inferred)
  float mlp_ratio = 4.0f;
  float mbconv_expand_ratio = 4.0f;
};

struct SamConfig {
  EncoderKind encoder = EncoderKind::kVit;
  VitConfig vit;
  TinyVitConfig tinyvit;
  int image_size = 1024;
  int embed_grid = 64;       // image embedding is prompt_dim x 64 x 64
  int prompt_dim = 256;      // transformer_dim
  int decoder_depth = 2;
  int decoder_heads = 8;
  int decoder_mlp_dim = 2048;
  int num_mask_tokens = 4;   // num_multimask_outputs + 1
  int iou_head_hidden = 256;
  int iou_head_depth = 3;
};

// Throws persam::Error naming `source` when a needed tensor is missing or a
// shape is inconsistent.
SamConfig InferSamConfig(const TensorMap& tensors, const std::string& source);

// The structure every SAM has (patch 16, 1024-pixel input, 64 x 64 grid, the
// 256-wide two-layer decoder with 4 mask tokens) and an encoder no larger
// than ViT-H (width, depth, heads) or MobileSAM's TinyViT (4 stages):
// widths and depths below those stay allowed (the tests' small random
// models). Anything else is refused naming `source` and the value, unless
// the caller opts in: an inferred config otherwise sets memory and time
// (a 256 x 256 grid makes every decoder call 16x slower).
void CheckSamArchitecture(const SamConfig& config, const std::string& source);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};
std::vector<TensorSpec> RequiredTensors(const SamConfig& config);

// Every required tensor present with its expected shape; extra tensors (e.g.
// TinyViT's classifier head) are ignored. Throws naming tensor and both shapes.
void ValidateTensors(const TensorMap& tensors, const SamConfig& config,
                     const std::string& source);

// Key/value form stored in safetensors __metadata__, and back.
std::map<std::string, std::string> ConfigToMetadata(const SamConfig& config);
// ConfigToMetadata's values as typed JSON (safetensors metadata can only hold
// strings): integers, numbers, lists of integers (even of one element), and
// strings for the rest. For `persam inspect --json`.
JsonValue ConfigToJson(const SamConfig& config);
// Throws persam::Error naming `source` when a key is missing or malformed.
SamConfig ConfigFromMetadata(const std::map<std::string, std::string>& metadata,
                             const std::string& source);

// True when the tensors look like SAM of either architecture (the encoder's
// first tensor is present); InferSamConfig says what is wrong otherwise.
bool LooksLikeSam(const TensorMap& tensors);

// Tensors of the architecture that the engine does not use (TinyViT's
// classifier head, BatchNorm's num_batches_tracked, buffers): everything not
// in RequiredTensors(config).
std::vector<std::string> UnusedTensors(const TensorMap& tensors, const SamConfig& config);

// The official configurations (segment_anything/build_sam.py and MobileSAM's
// build of "vit_t"), and the small ViT of the test fixtures.
SamConfig SamVitBConfig();
SamConfig SamVitLConfig();
SamConfig SamVitHConfig();
SamConfig SamVitTinyTestConfig();  // embed 96, depth 4, 3 heads, global [1, 3]
SamConfig MobileSamConfig();

// One line per part, for `persam inspect` and logs, e.g.
// "ViT: embed 768, depth 12, 12 heads x 64, window 14, global blocks [2, 5, 8, 11], MLP 3072".
std::string EncoderSummary(const SamConfig& config);
std::string DecoderSummary(const SamConfig& config);

// Total elements of RequiredTensors(config).
int64_t ParameterCount(const SamConfig& config);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_SAM_CONFIG_H_
