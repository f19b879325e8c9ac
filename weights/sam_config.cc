// The SAM tensor lists and config inference. RequiredTensors is the one list
// per architecture; names and shapes mirror the official modules:
// ref: segment_anything/modeling/{image_encoder,prompt_encoder,mask_decoder,transformer}.py
// ref: MobileSAM mobile_sam/modeling/tiny_vit_sam.py (Conv2d_BN, MBConv, PatchMerging,
//      Attention, TinyViTBlock, TinyViT.neck)
#include "weights/sam_config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <set>
#include <sstream>

#include "base/error.h"

namespace persam {
namespace {

using Shape = std::vector<int64_t>;

const Tensor* Find(const TensorMap& tensors, const std::string& name) {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

// Shape of a tensor that inference needs; throws when absent or of wrong rank.
const Shape& Need(const TensorMap& tensors, const std::string& name, size_t rank, const std::string& source) {
  const Tensor* t = Find(tensors, name);
  if (t == nullptr) throw Error(source + ": missing tensor '" + name + "' (not a SAM checkpoint, or truncated)");
  if (t->shape.size() != rank) {
    throw Error(source + ": tensor '" + name + "' has shape " + ShapeToString(t->shape) + ", expected rank " +
                std::to_string(rank));
  }
  return t->shape;
}

int Count(const TensorMap& tensors, const std::string& prefix, const std::string& suffix) {
  int n = 0;
  while (Find(tensors, prefix + std::to_string(n) + suffix) != nullptr) ++n;
  return n;
}

bool HasPrefix(const TensorMap& tensors, const std::string& prefix) {
  auto it = tensors.lower_bound(prefix);
  return it != tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

int ToInt(int64_t v, const std::string& what, const std::string& source) {
  if (v <= 0 || v > (1 << 24)) throw Error(source + ": implausible " + what + " " + std::to_string(v));
  return static_cast<int>(v);
}

// --- the tensor list -------------------------------------------------------

struct ListBuilder {
  std::vector<TensorSpec> specs;
  void Add(const std::string& name, Shape shape) { specs.push_back({name, std::move(shape)}); }
  void Linear(const std::string& prefix, int64_t out, int64_t in) {
    Add(prefix + ".weight", {out, in});
    Add(prefix + ".bias", {out});
  }
  void Norm(const std::string& prefix, int64_t dim) {
    Add(prefix + ".weight", {dim});
    Add(prefix + ".bias", {dim});
  }
  // ref: tiny_vit_sam.py Conv2d_BN: conv without bias ("c") + BatchNorm ("bn").
  void ConvBN(const std::string& prefix, int64_t out, int64_t in_per_group, int64_t k) {
    Add(prefix + ".c.weight", {out, in_per_group, k, k});
    Add(prefix + ".bn.weight", {out});
    Add(prefix + ".bn.bias", {out});
    Add(prefix + ".bn.running_mean", {out});
    Add(prefix + ".bn.running_var", {out});
  }
  // ref: segment_anything/modeling/image_encoder.py ImageEncoderViT.neck
  void Neck(int64_t in, int64_t dim) {
    Add("image_encoder.neck.0.weight", {dim, in, 1, 1});
    Norm("image_encoder.neck.1", dim);
    Add("image_encoder.neck.2.weight", {dim, dim, 3, 3});
    Norm("image_encoder.neck.3", dim);
  }
  // ref: transformer.py Attention(embedding_dim, num_heads, downsample_rate)
  void Attention(const std::string& prefix, int64_t dim, int64_t inner) {
    Linear(prefix + ".q_proj", inner, dim);
    Linear(prefix + ".k_proj", inner, dim);
    Linear(prefix + ".v_proj", inner, dim);
    Linear(prefix + ".out_proj", dim, inner);
  }
};

void AddVitEncoder(const SamConfig& config, ListBuilder* b) {
  // ref: image_encoder.py ImageEncoderViT, Block, Attention, PatchEmbed
  const VitConfig& v = config.vit;
  const int64_t c = v.embed_dim;
  b->Add("image_encoder.patch_embed.proj.weight", {c, 3, v.patch_size, v.patch_size});
  b->Add("image_encoder.patch_embed.proj.bias", {c});
  b->Add("image_encoder.pos_embed", {1, v.grid, v.grid, c});
  const std::set<int> global(v.global_blocks.begin(), v.global_blocks.end());
  for (int i = 0; i < v.depth; ++i) {
    const std::string p = "image_encoder.blocks." + std::to_string(i);
    const int64_t side = global.count(i) ? v.grid : v.window_size;
    b->Norm(p + ".norm1", c);
    b->Linear(p + ".attn.qkv", 3 * c, c);
    b->Linear(p + ".attn.proj", c, c);
    b->Add(p + ".attn.rel_pos_h", {2 * side - 1, v.head_dim});
    b->Add(p + ".attn.rel_pos_w", {2 * side - 1, v.head_dim});
    b->Norm(p + ".norm2", c);
    b->Linear(p + ".mlp.lin1", v.mlp_dim, c);
    b->Linear(p + ".mlp.lin2", c, v.mlp_dim);
  }
  b->Neck(c, config.prompt_dim);
}

void AddTinyVitEncoder(const SamConfig& config, ListBuilder* b) {
  const TinyVitConfig& t = config.tinyvit;
  const int64_t d0 = t.embed_dims[0];
  // ref: tiny_vit_sam.py PatchEmbed: Conv2d_BN(3, n/2, 3, 2, 1), GELU, Conv2d_BN(n/2, n, 3, 2, 1)
  b->ConvBN("image_encoder.patch_embed.seq.0", d0 / 2, 3, 3);
  b->ConvBN("image_encoder.patch_embed.seq.2", d0, d0 / 2, 3);
  const size_t stages = t.embed_dims.size();
  for (size_t i = 0; i < stages; ++i) {
    const std::string layer = "image_encoder.layers." + std::to_string(i);
    const int64_t dim = t.embed_dims[i];
    for (int j = 0; j < t.depths[i]; ++j) {
      const std::string p = layer + ".blocks." + std::to_string(j);
      if (t.num_heads[i] == 0) {
        // ref: MBConv: 1x1 expand, depthwise 3x3, 1x1 project
        const int64_t hidden = static_cast<int64_t>(dim * t.mbconv_expand_ratio);
        b->ConvBN(p + ".conv1", hidden, dim, 1);
        b->ConvBN(p + ".conv2", hidden, 1, 3);
        b->ConvBN(p + ".conv3", dim, hidden, 1);
      } else {
        // ref: TinyViTBlock: Attention(dim, dim // heads, heads, attn_ratio=1,
        // resolution=(window, window)), Mlp(dim, dim * mlp_ratio), local_conv
        const int64_t ws = t.window_sizes[i];
        const int64_t hidden = static_cast<int64_t>(dim * t.mlp_ratio);
        b->Add(p + ".attn.attention_biases", {t.num_heads[i], ws * ws});
        b->Norm(p + ".attn.norm", dim);
        b->Linear(p + ".attn.qkv", 3 * dim, dim);
        b->Linear(p + ".attn.proj", dim, dim);
        b->Norm(p + ".mlp.norm", dim);
        b->Linear(p + ".mlp.fc1", hidden, dim);
        b->Linear(p + ".mlp.fc2", dim, hidden);
        b->ConvBN(p + ".local_conv", dim, 1, 3);
      }
    }
    if (i + 1 < stages) {
      // ref: PatchMerging(dim, out_dim): 1x1, depthwise 3x3 (stride 2, or 1 for
      // out_dim 320/448/576), 1x1
      const int64_t out = t.embed_dims[i + 1];
      b->ConvBN(layer + ".downsample.conv1", out, dim, 1);
      b->ConvBN(layer + ".downsample.conv2", out, 1, 3);
      b->ConvBN(layer + ".downsample.conv3", out, out, 1);
    }
  }
  b->Neck(t.embed_dims.back(), config.prompt_dim);
}

void AddPromptEncoder(const SamConfig& config, ListBuilder* b) {
  // ref: prompt_encoder.py PromptEncoder.__init__ (mask_in_chans = 16)
  const int64_t d = config.prompt_dim;
  b->Add("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", {2, d / 2});
  for (int i = 0; i < 4; ++i) b->Add("prompt_encoder.point_embeddings." + std::to_string(i) + ".weight", {1, d});
  b->Add("prompt_encoder.not_a_point_embed.weight", {1, d});
  b->Add("prompt_encoder.mask_downscaling.0.weight", {4, 1, 2, 2});
  b->Add("prompt_encoder.mask_downscaling.0.bias", {4});
  b->Norm("prompt_encoder.mask_downscaling.1", 4);
  b->Add("prompt_encoder.mask_downscaling.3.weight", {16, 4, 2, 2});
  b->Add("prompt_encoder.mask_downscaling.3.bias", {16});
  b->Norm("prompt_encoder.mask_downscaling.4", 16);
  b->Add("prompt_encoder.mask_downscaling.6.weight", {d, 16, 1, 1});
  b->Add("prompt_encoder.mask_downscaling.6.bias", {d});
  b->Add("prompt_encoder.no_mask_embed.weight", {1, d});
}

void AddMaskDecoder(const SamConfig& config, ListBuilder* b) {
  // ref: mask_decoder.py MaskDecoder.__init__, transformer.py TwoWayTransformer
  // (attention_downsample_rate = 2 for the cross attentions)
  const int64_t d = config.prompt_dim;
  const std::string t = "mask_decoder.transformer";
  for (int i = 0; i < config.decoder_depth; ++i) {
    const std::string p = t + ".layers." + std::to_string(i);
    b->Attention(p + ".self_attn", d, d);
    b->Norm(p + ".norm1", d);
    b->Attention(p + ".cross_attn_token_to_image", d, d / 2);
    b->Norm(p + ".norm2", d);
    b->Linear(p + ".mlp.lin1", config.decoder_mlp_dim, d);
    b->Linear(p + ".mlp.lin2", d, config.decoder_mlp_dim);
    b->Norm(p + ".norm3", d);
    b->Norm(p + ".norm4", d);
    b->Attention(p + ".cross_attn_image_to_token", d, d / 2);
  }
  b->Attention(t + ".final_attn_token_to_image", d, d / 2);
  b->Norm(t + ".norm_final_attn", d);
  b->Add("mask_decoder.iou_token.weight", {1, d});
  b->Add("mask_decoder.mask_tokens.weight", {config.num_mask_tokens, d});
  b->Add("mask_decoder.output_upscaling.0.weight", {d, d / 4, 2, 2});  // ConvTranspose2d: [in, out, k, k]
  b->Add("mask_decoder.output_upscaling.0.bias", {d / 4});
  b->Norm("mask_decoder.output_upscaling.1", d / 4);
  b->Add("mask_decoder.output_upscaling.3.weight", {d / 4, d / 8, 2, 2});
  b->Add("mask_decoder.output_upscaling.3.bias", {d / 8});
  for (int m = 0; m < config.num_mask_tokens; ++m) {
    const std::string p = "mask_decoder.output_hypernetworks_mlps." + std::to_string(m) + ".layers.";
    b->Linear(p + "0", d, d);
    b->Linear(p + "1", d, d);
    b->Linear(p + "2", d / 8, d);
  }
  const std::string iou = "mask_decoder.iou_prediction_head.layers.";
  for (int l = 0; l < config.iou_head_depth; ++l) {
    const int64_t in = l == 0 ? d : config.iou_head_hidden;
    const int64_t out = l + 1 == config.iou_head_depth ? config.num_mask_tokens : config.iou_head_hidden;
    b->Linear(iou + std::to_string(l), out, in);
  }
}

}  // namespace

// --- the architectures SAM defines ------------------------------------------

void CheckSamArchitecture(const SamConfig& c, const std::string& source) {
  auto require = [&](const char* what, int64_t value, int64_t low, int64_t high, const char* sam) {
    if (value < low || value > high) {
      throw Error(source + ": " + what + " " + std::to_string(value) + " is not an architecture SAM defines (" + sam +
                  "); the CLI loads it with --allow-unusual-model");
    }
  };
  // ref: segment_anything/build_sam.py (_build_sam: image_size 1024, vit_patch_size
  // 16, prompt_embed_dim 256, TwoWayTransformer(depth 2, 2048, 8 heads), 3
  // multimask outputs, IoU head 256 x 3)
  require("image size", c.image_size, 1024, 1024, "1024");
  require("embedding grid", c.embed_grid, 64, 64, "64 x 64");
  require("prompt dim", c.prompt_dim, 256, 256, "256");
  require("decoder depth", c.decoder_depth, 2, 2, "2");
  require("decoder heads", c.decoder_heads, 8, 8, "8");
  require("decoder MLP dim", c.decoder_mlp_dim, 2048, 2048, "2048");
  require("mask tokens", c.num_mask_tokens, 4, 4, "4");
  require("IoU head width", c.iou_head_hidden, 256, 256, "256");
  require("IoU head depth", c.iou_head_depth, 3, 3, "3");
  if (c.encoder == EncoderKind::kVit) {
    const VitConfig& v = c.vit;
    require("patch size", v.patch_size, 16, 16, "16");
    require("ViT grid", v.grid, 64, 64, "64");
    require("ViT embed dim", v.embed_dim, 1, 1280, "at most ViT-H's 1280");
    require("ViT depth", v.depth, 1, 32, "at most ViT-H's 32");
    require("ViT heads", v.num_heads, 1, 16, "at most 16");
    require("ViT MLP dim", v.mlp_dim, 1, 4 * 1280, "at most 4 x 1280");
    require("ViT window", v.window_size, 0, 14, "at most 14");
  } else {
    const TinyVitConfig& t = c.tinyvit;
    require("TinyViT stages", static_cast<int64_t>(t.embed_dims.size()), 1, 4, "at most MobileSAM's 4");
    int64_t depth = 0;
    for (size_t i = 0; i < t.embed_dims.size(); ++i) {
      require("TinyViT stage dim", t.embed_dims[i], 1, 1280, "at most 1280");
      require("TinyViT stage depth", t.depths[i], 1, 32, "at most 32");
      require("TinyViT stage heads", t.num_heads[i], 0, 16, "at most 16");
      require("TinyViT stage window", t.window_sizes[i], 0, 14, "at most 14");
      depth += t.depths[i];
    }
    require("TinyViT depth", depth, 1, 32, "at most 32 blocks");
    if (!(t.mlp_ratio > 0 && t.mlp_ratio <= 4) || !(t.mbconv_expand_ratio > 0 && t.mbconv_expand_ratio <= 4)) {
      throw Error(source + ": TinyViT MLP ratio " + std::to_string(t.mlp_ratio) + " / MBConv expansion " +
                  std::to_string(t.mbconv_expand_ratio) + " is not an architecture SAM defines (at most 4)");
    }
  }
}

namespace {

// --- inference ---------------------------------------------------------------

void InferVit(const TensorMap& tensors, const std::string& source, SamConfig* config) {
  VitConfig& v = config->vit;
  const Shape& proj = Need(tensors, "image_encoder.patch_embed.proj.weight", 4, source);
  v.embed_dim = ToInt(proj[0], "embed dim", source);
  v.patch_size = ToInt(proj[2], "patch size", source);
  const Shape& pos = Need(tensors, "image_encoder.pos_embed", 4, source);
  v.grid = ToInt(pos[1], "grid", source);
  if (int64_t{v.grid} * v.patch_size > (1 << 24)) {
    throw Error(source + ": implausible input size " + std::to_string(v.grid) + " x patch " + std::to_string(v.patch_size));
  }
  config->image_size = v.grid * v.patch_size;
  config->embed_grid = v.grid;
  v.depth = Count(tensors, "image_encoder.blocks.", ".norm1.weight");
  if (v.depth == 0) throw Error(source + ": missing tensor 'image_encoder.blocks.0.norm1.weight' (no encoder blocks)");
  const std::string b0 = "image_encoder.blocks.0.";
  v.head_dim = ToInt(Need(tensors, b0 + "attn.rel_pos_h", 2, source)[1], "head dim", source);
  if (v.embed_dim % v.head_dim != 0) {
    throw Error(source + ": embed dim " + std::to_string(v.embed_dim) + " is not a multiple of the head dim " +
                std::to_string(v.head_dim) + " (width of rel_pos_h)");
  }
  v.num_heads = v.embed_dim / v.head_dim;
  v.mlp_dim = ToInt(Need(tensors, b0 + "mlp.lin1.weight", 2, source)[0], "MLP dim", source);
  v.global_blocks.clear();
  v.window_size = 0;
  for (int i = 0; i < v.depth; ++i) {
    const std::string name = "image_encoder.blocks." + std::to_string(i) + ".attn.rel_pos_h";
    const int64_t rows = Need(tensors, name, 2, source)[0];
    if (rows == 2 * v.grid - 1) {
      v.global_blocks.push_back(i);
      continue;
    }
    if (rows % 2 == 0) throw Error(source + ": tensor '" + name + "' has an even row count " + std::to_string(rows));
    const int window = ToInt((rows + 1) / 2, "window", source);
    if (v.window_size != 0 && window != v.window_size) {
      throw Error(source + ": tensor '" + name + "' implies window " + std::to_string(window) + ", earlier blocks " +
                  std::to_string(v.window_size));
    }
    v.window_size = window;
  }
}

void InferTinyVit(const TensorMap& tensors, const std::string& source, SamConfig* config) {
  TinyVitConfig& t = config->tinyvit;
  t = TinyVitConfig();
  config->image_size = 1024;
  config->embed_grid = 64;
  for (int i = 0; HasPrefix(tensors, "image_encoder.layers." + std::to_string(i) + ".blocks.0."); ++i) {
    const std::string p = "image_encoder.layers." + std::to_string(i) + ".blocks.";
    const int depth = Count(tensors, p, ".conv1.c.weight") + Count(tensors, p, ".attn.qkv.weight");
    if (Find(tensors, p + "0.conv1.c.weight") != nullptr) {
      const Shape& conv1 = Need(tensors, p + "0.conv1.c.weight", 4, source);
      t.embed_dims.push_back(ToInt(conv1[1], "stage dim", source));
      t.num_heads.push_back(0);
      t.window_sizes.push_back(0);
      t.mbconv_expand_ratio = static_cast<float>(conv1[0]) / static_cast<float>(conv1[1]);
    } else {
      const Shape& qkv = Need(tensors, p + "0.attn.qkv.weight", 2, source);
      const int dim = ToInt(qkv[1], "stage dim", source);
      const Shape& biases = Need(tensors, p + "0.attn.attention_biases", 2, source);
      // attention_biases holds one value per (|dy|, |dx|) offset of a window: ws^2.
      const int ws = static_cast<int>(std::lround(std::sqrt(static_cast<double>(biases[1]))));
      if (static_cast<int64_t>(ws) * ws != biases[1]) {
        throw Error(source + ": tensor '" + p + "0.attn.attention_biases' has " + std::to_string(biases[1]) +
                    " offsets, expected a square window count");
      }
      const int heads = ToInt(biases[0], "head count", source);
      if (dim % heads != 0) throw Error(source + ": stage dim " + std::to_string(dim) + " not divisible by heads");
      t.embed_dims.push_back(dim);
      t.num_heads.push_back(heads);
      t.window_sizes.push_back(ws);
      const Shape& fc1 = Need(tensors, p + "0.mlp.fc1.weight", 2, source);
      t.mlp_ratio = static_cast<float>(fc1[0]) / static_cast<float>(dim);
    }
    t.depths.push_back(depth);
  }
  if (t.embed_dims.empty()) throw Error(source + ": missing tensor 'image_encoder.layers.0.blocks.0...' (no TinyViT stages)");
}

void InferPromptAndDecoder(const TensorMap& tensors, const std::string& source, SamConfig* config) {
  config->prompt_dim = ToInt(Need(tensors, "prompt_encoder.no_mask_embed.weight", 2, source)[1], "prompt dim", source);
  config->decoder_depth = Count(tensors, "mask_decoder.transformer.layers.", ".norm1.weight");
  if (config->decoder_depth == 0) throw Error(source + ": missing tensor 'mask_decoder.transformer.layers.0.norm1.weight'");
  config->decoder_mlp_dim =
      ToInt(Need(tensors, "mask_decoder.transformer.layers.0.mlp.lin1.weight", 2, source)[0], "decoder MLP dim", source);
  config->num_mask_tokens = ToInt(Need(tensors, "mask_decoder.mask_tokens.weight", 2, source)[0], "mask tokens", source);
  config->iou_head_depth = Count(tensors, "mask_decoder.iou_prediction_head.layers.", ".weight");
  config->iou_head_hidden = ToInt(
      Need(tensors, "mask_decoder.iou_prediction_head.layers.0.weight", 2, source)[0], "IoU head width", source);
}

std::string JoinInts(const std::vector<int>& values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + std::to_string(values[i]);
  return s;
}

std::string FloatText(float f) {
  std::ostringstream out;
  out << f;
  return out.str();
}

}  // namespace

const char* ArchitectureName(EncoderKind kind) { return kind == EncoderKind::kVit ? "sam-vit" : "sam-tinyvit"; }

bool LooksLikeSam(const TensorMap& tensors) {
  return Find(tensors, "image_encoder.patch_embed.proj.weight") != nullptr ||
         Find(tensors, "image_encoder.patch_embed.seq.0.c.weight") != nullptr;
}

SamConfig InferSamConfig(const TensorMap& tensors, const std::string& source) {
  SamConfig config;
  if (Find(tensors, "image_encoder.patch_embed.proj.weight") != nullptr) {
    config.encoder = EncoderKind::kVit;
    InferVit(tensors, source, &config);
  } else if (Find(tensors, "image_encoder.patch_embed.seq.0.c.weight") != nullptr) {
    config.encoder = EncoderKind::kTinyVit;
    InferTinyVit(tensors, source, &config);
  } else {
    std::string names;
    int n = 0;
    for (const auto& entry : tensors) {
      if (n++ == 3) break;
      names += (names.empty() ? "'" : ", '") + entry.first + "'";
    }
    throw Error(source + ": not a SAM checkpoint: neither 'image_encoder.patch_embed.proj.weight' (ViT) nor "
                "'image_encoder.patch_embed.seq.0.c.weight' (TinyViT) is present (" + std::to_string(tensors.size()) +
                " tensors" + (names.empty() ? "" : ", e.g. " + names) + ")");
  }
  InferPromptAndDecoder(tensors, source, &config);
  ValidateTensors(tensors, config, source);
  return config;
}

std::vector<TensorSpec> RequiredTensors(const SamConfig& config) {
  ListBuilder b;
  if (config.encoder == EncoderKind::kVit) {
    AddVitEncoder(config, &b);
  } else {
    AddTinyVitEncoder(config, &b);
  }
  AddPromptEncoder(config, &b);
  AddMaskDecoder(config, &b);
  return b.specs;
}

void ValidateTensors(const TensorMap& tensors, const SamConfig& config, const std::string& source) {
  for (const TensorSpec& spec : RequiredTensors(config)) {
    const Tensor* t = Find(tensors, spec.name);
    if (t == nullptr) {
      throw Error(source + ": missing tensor '" + spec.name + "' (expected shape " + ShapeToString(spec.shape) +
                  " for " + ArchitectureName(config.encoder) + ")");
    }
    if (t->shape != spec.shape) {
      throw Error(source + ": tensor '" + spec.name + "' has shape " + ShapeToString(t->shape) + ", expected " +
                  ShapeToString(spec.shape));
    }
    if (t->dtype == DType::kBool) throw Error(source + ": tensor '" + spec.name + "' is bool, expected a number type");
  }
}

std::vector<std::string> UnusedTensors(const TensorMap& tensors, const SamConfig& config) {
  std::set<std::string> required;
  for (const TensorSpec& spec : RequiredTensors(config)) required.insert(spec.name);
  std::vector<std::string> unused;
  for (const auto& entry : tensors) {
    if (!required.count(entry.first)) unused.push_back(entry.first);
  }
  return unused;
}

namespace {

std::string ListText(const std::vector<int>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

}  // namespace

std::string EncoderSummary(const SamConfig& c) {
  if (c.encoder == EncoderKind::kVit) {
    const VitConfig& v = c.vit;
    return "ViT: embed " + std::to_string(v.embed_dim) + ", depth " + std::to_string(v.depth) + ", " +
           std::to_string(v.num_heads) + " heads x " + std::to_string(v.head_dim) + ", window " +
           std::to_string(v.window_size) + ", global blocks " + ListText(v.global_blocks) + ", MLP " +
           std::to_string(v.mlp_dim) + ", patch " + std::to_string(v.patch_size) + ", grid " + std::to_string(v.grid);
  }
  const TinyVitConfig& t = c.tinyvit;
  return "TinyViT: dims " + ListText(t.embed_dims) + ", depths " + ListText(t.depths) + ", heads " +
         ListText(t.num_heads) + ", windows " + ListText(t.window_sizes) + ", MLP ratio " + FloatText(t.mlp_ratio) +
         ", MBConv expansion " + FloatText(t.mbconv_expand_ratio);
}

std::string DecoderSummary(const SamConfig& c) {
  return "prompt dim " + std::to_string(c.prompt_dim) + ", decoder depth " + std::to_string(c.decoder_depth) + ", " +
         std::to_string(c.decoder_heads) + " heads, MLP " + std::to_string(c.decoder_mlp_dim) + ", " +
         std::to_string(c.num_mask_tokens) + " mask tokens, IoU head " + std::to_string(c.iou_head_depth) + " x " +
         std::to_string(c.iou_head_hidden) + ", image " + std::to_string(c.image_size) + ", embedding " +
         std::to_string(c.prompt_dim) + " x " + std::to_string(c.embed_grid) + " x " + std::to_string(c.embed_grid);
}

int64_t ParameterCount(const SamConfig& config) {
  int64_t total = 0;
  for (const TensorSpec& spec : RequiredTensors(config)) {
    int64_t n = 1;
    for (int64_t d : spec.shape) n *= d;
    total += n;
  }
  return total;
}

std::map<std::string, std::string> ConfigToMetadata(const SamConfig& c) {
  std::map<std::string, std::string> m;
  m["format"] = "pt";  // the safetensors convention for PyTorch-layout tensors
  m["persam.architecture"] = ArchitectureName(c.encoder);
  if (c.encoder == EncoderKind::kVit) {
    m["vit.embed_dim"] = std::to_string(c.vit.embed_dim);
    m["vit.depth"] = std::to_string(c.vit.depth);
    m["vit.num_heads"] = std::to_string(c.vit.num_heads);
    m["vit.head_dim"] = std::to_string(c.vit.head_dim);
    m["vit.window_size"] = std::to_string(c.vit.window_size);
    m["vit.global_blocks"] = JoinInts(c.vit.global_blocks);
    m["vit.mlp_dim"] = std::to_string(c.vit.mlp_dim);
    m["vit.patch_size"] = std::to_string(c.vit.patch_size);
    m["vit.grid"] = std::to_string(c.vit.grid);
  } else {
    m["tinyvit.embed_dims"] = JoinInts(c.tinyvit.embed_dims);
    m["tinyvit.depths"] = JoinInts(c.tinyvit.depths);
    m["tinyvit.num_heads"] = JoinInts(c.tinyvit.num_heads);
    m["tinyvit.window_sizes"] = JoinInts(c.tinyvit.window_sizes);
    m["tinyvit.mlp_ratio"] = FloatText(c.tinyvit.mlp_ratio);
    m["tinyvit.mbconv_expand_ratio"] = FloatText(c.tinyvit.mbconv_expand_ratio);
  }
  m["sam.image_size"] = std::to_string(c.image_size);
  m["sam.embed_grid"] = std::to_string(c.embed_grid);
  m["sam.prompt_dim"] = std::to_string(c.prompt_dim);
  m["sam.decoder_depth"] = std::to_string(c.decoder_depth);
  m["sam.decoder_heads"] = std::to_string(c.decoder_heads);
  m["sam.decoder_mlp_dim"] = std::to_string(c.decoder_mlp_dim);
  m["sam.num_mask_tokens"] = std::to_string(c.num_mask_tokens);
  m["sam.iou_head_hidden"] = std::to_string(c.iou_head_hidden);
  m["sam.iou_head_depth"] = std::to_string(c.iou_head_depth);
  return m;
}

SamConfig ConfigFromMetadata(const std::map<std::string, std::string>& m, const std::string& source) {
  auto get = [&](const std::string& key) -> const std::string& {
    auto it = m.find(key);
    if (it == m.end()) throw Error(source + ": metadata lacks '" + key + "'");
    return it->second;
  };
  auto integer = [&](const std::string& key) {
    const std::string& text = get(key);
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 0 || v > (1 << 24)) {
      throw Error(source + ": metadata '" + key + "' = '" + text + "' is not a non-negative integer");
    }
    return static_cast<int>(v);
  };
  auto ints = [&](const std::string& key) {
    std::vector<int> out;
    const std::string& text = get(key);
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t comma = std::min(text.find(',', pos), text.size());
      char* end = nullptr;
      const std::string item = text.substr(pos, comma - pos);
      const long v = std::strtol(item.c_str(), &end, 10);
      if (item.empty() || *end != '\0' || v < 0) throw Error(source + ": metadata '" + key + "' = '" + text + "' is malformed");
      out.push_back(static_cast<int>(v));
      pos = comma + 1;
    }
    return out;
  };
  auto real = [&](const std::string& key) {
    const std::string& text = get(key);
    char* end = nullptr;
    const float v = std::strtof(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(v > 0)) throw Error(source + ": metadata '" + key + "' = '" + text + "' is malformed");
    return v;
  };
  SamConfig c;
  const std::string& arch = get("persam.architecture");
  if (arch == "sam-vit") {
    c.encoder = EncoderKind::kVit;
    c.vit.embed_dim = integer("vit.embed_dim");
    c.vit.depth = integer("vit.depth");
    c.vit.num_heads = integer("vit.num_heads");
    c.vit.head_dim = integer("vit.head_dim");
    c.vit.window_size = integer("vit.window_size");
    c.vit.global_blocks = ints("vit.global_blocks");
    c.vit.mlp_dim = integer("vit.mlp_dim");
    c.vit.patch_size = integer("vit.patch_size");
    c.vit.grid = integer("vit.grid");
  } else if (arch == "sam-tinyvit") {
    c.encoder = EncoderKind::kTinyVit;
    c.tinyvit.embed_dims = ints("tinyvit.embed_dims");
    c.tinyvit.depths = ints("tinyvit.depths");
    c.tinyvit.num_heads = ints("tinyvit.num_heads");
    c.tinyvit.window_sizes = ints("tinyvit.window_sizes");
    c.tinyvit.mlp_ratio = real("tinyvit.mlp_ratio");
    c.tinyvit.mbconv_expand_ratio = real("tinyvit.mbconv_expand_ratio");
    const size_t n = c.tinyvit.embed_dims.size();
    if (n == 0 || c.tinyvit.depths.size() != n || c.tinyvit.num_heads.size() != n || c.tinyvit.window_sizes.size() != n) {
      throw Error(source + ": metadata tinyvit.* lists differ in length");
    }
  } else {
    throw Error(source + ": metadata architecture '" + arch + "' is not sam-vit or sam-tinyvit");
  }
  c.image_size = integer("sam.image_size");
  c.embed_grid = integer("sam.embed_grid");
  c.prompt_dim = integer("sam.prompt_dim");
  c.decoder_depth = integer("sam.decoder_depth");
  c.decoder_heads = integer("sam.decoder_heads");
  c.decoder_mlp_dim = integer("sam.decoder_mlp_dim");
  c.num_mask_tokens = integer("sam.num_mask_tokens");
  c.iou_head_hidden = integer("sam.iou_head_hidden");
  c.iou_head_depth = integer("sam.iou_head_depth");
  return c;
}

namespace {

SamConfig Vit(int dim, int depth, int heads, std::vector<int> global) {
  SamConfig c;
  c.encoder = EncoderKind::kVit;
  c.vit.embed_dim = dim;
  c.vit.depth = depth;
  c.vit.num_heads = heads;
  c.vit.head_dim = dim / heads;
  c.vit.window_size = 14;
  c.vit.global_blocks = std::move(global);
  c.vit.mlp_dim = 4 * dim;
  return c;
}

}  // namespace

// ref: segment_anything/build_sam.py build_sam_vit_{b,l,h}
SamConfig SamVitBConfig() { return Vit(768, 12, 12, {2, 5, 8, 11}); }
SamConfig SamVitLConfig() { return Vit(1024, 24, 16, {5, 11, 17, 23}); }
SamConfig SamVitHConfig() { return Vit(1280, 32, 16, {7, 15, 23, 31}); }
SamConfig SamVitTinyTestConfig() { return Vit(96, 4, 3, {1, 3}); }

// ref: MobileSAM build_sam_vit_t: TinyViT(embed_dims=[64, 128, 160, 320],
// depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7],
// mlp_ratio=4, mbconv_expand_ratio=4)
SamConfig MobileSamConfig() {
  SamConfig c;
  c.encoder = EncoderKind::kTinyVit;
  c.tinyvit.embed_dims = {64, 128, 160, 320};
  c.tinyvit.depths = {2, 2, 6, 2};
  c.tinyvit.num_heads = {0, 4, 5, 10};    // stage 0 is convolutional (MBConv)
  c.tinyvit.window_sizes = {0, 7, 14, 7};  // its window (7) is unused and not in any tensor
  return c;
}

JsonValue ConfigToJson(const SamConfig& config) {
  // The keys ConfigToMetadata writes with JoinInts.
  static const char* const kLists[] = {"vit.global_blocks", "tinyvit.embed_dims", "tinyvit.depths",
                                       "tinyvit.num_heads", "tinyvit.window_sizes"};
  auto number = [](const std::string& text, JsonValue* out) {
    char* end = nullptr;
    const long long i = std::strtoll(text.c_str(), &end, 10);
    if (!text.empty() && *end == '\0') {
      *out = JsonValue::Integer(i);
      return true;
    }
    const double d = std::strtod(text.c_str(), &end);
    if (!text.empty() && *end == '\0') {
      *out = JsonValue::Number(d);
      return true;
    }
    return false;
  };
  std::vector<std::pair<std::string, JsonValue>> members;
  for (const auto& [key, text] : ConfigToMetadata(config)) {
    JsonValue value;
    if (std::find(std::begin(kLists), std::end(kLists), key) != std::end(kLists)) {
      std::vector<JsonValue> items;
      size_t start = 0;
      while (start <= text.size() && !text.empty()) {
        const size_t comma = std::min(text.find(',', start), text.size());
        JsonValue item;
        if (number(text.substr(start, comma - start), &item)) items.push_back(item);
        start = comma + 1;
      }
      value = JsonValue::Array(std::move(items));
    } else if (!number(text, &value)) {
      value = JsonValue::String(text);
    }
    members.emplace_back(key, std::move(value));
  }
  return JsonValue::Object(std::move(members));
}

}  // namespace persam
