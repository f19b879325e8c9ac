// `persam convert`: a .pth or .safetensors SAM checkpoint to safetensors, the
// engine's memory-mapped format, optionally narrowing float tensors.
#include <chrono>
#include <string>

#include "engine/packed_weights_file.h"
#include "engine/precision.h"
#include "tools/cli.h"
#include "weights/cast.h"
#include "weights/checkpoint.h"
#include "base/error.h"
#include "base/output_file.h"
#include "weights/quantized.h"
#include "weights/sam_config.h"

namespace persam::cli {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// --dtype int8 is not a float type: it is handled apart (QuantizeForInt8).
bool Int8Requested(const Args& args) {
  const std::optional<std::string> value = args.Value("dtype");
  return value && (*value == "int8" || *value == "i8");
}

std::optional<DType> ParseDTypeOption(const Args& args) {
  const std::optional<std::string> value = args.Value("dtype");
  if (!value) return std::nullopt;
  if (Int8Requested(args)) return DType::kF16;
  if (*value == "f32" || *value == "float32") return DType::kF32;
  if (*value == "f16" || *value == "float16" || *value == "half") return DType::kF16;
  if (*value == "bf16" || *value == "bfloat16") return DType::kBF16;
  throw UsageError{"option --dtype expects f32, f16, bf16 or int8, got '" + *value + "'"};
}

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

int RunConvert(const Args& args) {
  const auto& positionals = args.positionals();
  if (positionals.size() != 2) throw UsageError{"expected IN and OUT.safetensors"};
  const std::string& in = positionals[0];
  const std::string& out = positionals[1];
  if (!EndsWith(out, ".safetensors")) throw UsageError{"OUT must end in .safetensors, got '" + out + "'"};
  const bool int8 = Int8Requested(args);
  if (int8 && args.Flag("any")) throw UsageError{"--dtype int8 needs a SAM checkpoint (not --any)"};
  // For int8 the float tensors are cast before writing (the scales stay f32).
  const std::optional<DType> dtype = int8 ? std::nullopt : ParseDTypeOption(args);
  CheckOutputFile(out, "OUT");
  const auto start = std::chrono::steady_clock::now();

  const Checkpoint checkpoint = ReadCheckpoint(in);
  std::map<std::string, std::string> metadata;
  TensorMap tensors;
  std::string architecture = "not checked";
  size_t dropped = 0;
  if (args.Flag("any")) {
    tensors = checkpoint.tensors;
  } else {
    const SamConfig config = InferSamConfig(checkpoint.tensors, in);  // validates every tensor
    architecture = ArchitectureName(config.encoder);
    metadata = ConfigToMetadata(config);
    if (args.Flag("keep-unused")) {
      tensors = checkpoint.tensors;
    } else {
      for (const TensorSpec& spec : RequiredTensors(config)) {
        tensors[spec.name] = checkpoint.tensors.at(spec.name);
        const std::string scale = spec.name + kInt8ScaleSuffix;
        if (IsQuantizedInt8(checkpoint.tensors, spec.name)) tensors[scale] = checkpoint.tensors.at(scale);
      }
      dropped = checkpoint.tensors.size() - tensors.size();
    }
  }
  int quantised = 0;
  if (int8) {
    SamConfig config = InferSamConfig(checkpoint.tensors, in);
    quantised = QuantizeTensorsForInt8(config, &tensors);
    if (quantised == 0 && CountQuantizedInt8(tensors) == 0) {
      throw Error(in + ": --dtype int8 is only implemented for the ViT encoder (sam-vit); this is " +
                  ArchitectureName(config.encoder));
    }
    metadata["persam.precision"] = "int8";
  } else if (dtype && CountQuantizedInt8(tensors) > 0) {
    // Narrowing an int8 file's floats would narrow its scales too: go back
    // to float values first.
    tensors = DequantizeInt8Tensors(tensors);
  }
  if (!int8 && dtype && *dtype == DType::kBF16) {
    metadata["persam.precision"] = "bf16";
  }
  metadata["persam.source"] = Basename(in);
  SafetensorsWriteOptions options;
  options.float_dtype = dtype;
  // Packed panels of IN are never copied: they may not match what is written
  // (another dtype, another layout); --packed makes them again.
  if (!args.Flag("any")) DropPackedTensors(&tensors);
  size_t packed = 0;
  if (args.Flag("packed")) {
    if (args.Flag("any")) throw UsageError{"--packed needs a SAM checkpoint (not --any)"};
    if (int8 || (dtype && *dtype != DType::kF32)) {
      throw UsageError{"--packed stores float32 GEMM panels: use it with f32 weights (--dtype f32 or none)"};
    }
    if (StoredPrecision(tensors) != Precision::kF32) {
      throw Error(in + ": --packed stores float32 GEMM panels, but this file runs at " +
                  PrecisionName(StoredPrecision(tensors)) + " by default; convert it with --dtype f32 --packed");
    }
    const std::vector<PackableWeight> weights = PackableWeights(tensors, in);
    AddPackedTensors(weights, &tensors);
    packed = weights.size();
    metadata[kPackedLayoutKey] = PackedLayoutTag();
    options.first = IsPackedTensorName;
  }
  WriteSafetensors(out, tensors, metadata, options);

  int64_t elements = 0;
  uint64_t bytes = 0;
  for (const auto& entry : tensors) {
    elements += entry.second.NumElements();
    const DType saved = dtype ? CastDType(entry.second.dtype, *dtype) : entry.second.dtype;
    bytes += static_cast<uint64_t>(entry.second.NumElements()) * DTypeSize(saved);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string as = int8 ? ", " + std::to_string(quantised) +
                                     " encoder weights as int8 (per-channel scales), other floats as float16"
                               : dtype ? std::string(", floats as ") + DTypeName(*dtype) : std::string();
  Say(args, "%s (%s, %s) -> %s: %zu tensors, %lld parameters, %.1f MiB%s, %.2f s\n", in.c_str(),
      checkpoint.format.c_str(), architecture.c_str(), out.c_str(), tensors.size(), static_cast<long long>(elements),
      static_cast<double>(bytes) / (1 << 20), as.c_str(), seconds);
  if (packed > 0) {
    Say(args, "added the float32 GEMM panels of %zu weights (layout '%s', tensors NAME%s): a float32 load "
        "maps them instead of packing\n", packed, PackedLayoutTag().c_str(), kPackedF32Suffix);
  }
  if (dropped > 0) {
    Say(args, "dropped %zu tensors the engine does not use (BatchNorm counters, classifier head); "
        "--keep-unused keeps them\n", dropped);
  }
  return 0;
}

}  // namespace

extern const Command kConvertCommand = {
    "convert",
    "convert a .pth or .safetensors checkpoint to safetensors",
    "usage: persam convert IN OUT.safetensors [--dtype f32|f16|bf16|int8] [--keep-unused] [--any]\n"
    "                      [--packed]\n"
    "\n"
    "Reads a SAM checkpoint (ViT-B/L/H or MobileSAM/TinyViT) saved by PyTorch (.pth,\n"
    "zip or legacy format, a plain state dict or one wrapped under 'model') or as\n"
    "safetensors, checks every tensor the engine needs against the architecture\n"
    "inferred from the tensor shapes, and writes OUT as safetensors with the official\n"
    "tensor names and the model configuration in its metadata. The engine memory-maps\n"
    "safetensors (no unzipping or unpickling), but loading still converts and packs\n"
    "every weight and hashes the encoder's (the model identity): 'persam segment\n"
    "--embedding' with a ViT-B file took 2.7 s of CPU time here (7 s wall on a\n"
    "shared 2-core machine), nearly all in stage load_model (--verbose).\n"
    "\n"
    "options:\n"
    "  --dtype T      store float tensors as f32, f16 or bf16 (rounded to nearest\n"
    "                 even); integer tensors are kept. Default: as in IN.\n"
    "                 int8: the ViT encoder's GEMM weights (blocks' qkv, proj, lin1,\n"
    "                 lin2, patch embedding) as int8 with a float32 scale per output\n"
    "                 channel in a tensor NAME.scale (symmetric: value = q x scale,\n"
    "                 max |w| -> 127), the neck convolutions as bf16 (int8 mode runs\n"
    "                 them in bf16), the position embedding as int8 with a scale per\n"
    "                 position, other floats as f16. ViT-B/L/H only: a MobileSAM\n"
    "                 (TinyViT) checkpoint is refused; run it with --precision int8\n"
    "                 instead (its attention Linears and MBConv 1x1 convolutions\n"
    "                 then quantise at load).\n"
    "                 A bf16 or int8 file runs at that precision by default\n"
    "                 (--precision of embed/segment/personalize overrides it).\n"
    "  --keep-unused  also write tensors the engine does not use (e.g. TinyViT's\n"
    "                 classifier head, BatchNorm num_batches_tracked)\n"
    "  --any          do not require a SAM checkpoint: copy every tensor as is\n"
    "  --packed       also store the float32 GEMM weights (ViT blocks, patch\n"
    "                 embedding, TinyViT and mask decoder Linears) already in\n"
    "                 the GEMM's panel layout, as tensors NAME.packed_f32\n"
    "                 [ceil(rows/32), k, 32]\n"
    "                 with the layout tag in metadata 'persam.packed_layout'\n"
    "                 (docs: engine/packed_weights_file.h). A float32 load then\n"
    "                 maps them where they are instead of packing (ViT-B: see\n"
    "                 bench/load_time.sh); results are bit for bit the plain\n"
    "                 file's. The plain tensors stay (other precisions, other\n"
    "                 builds' layouts, the model identity), so the file is about\n"
    "                 twice as large. f32 weights only. 'persam inspect' shows it.\n"
    "\n"
    "examples:\n"
    "  persam convert sam_vit_b_01ec64.pth sam_vit_b.safetensors\n"
    "  persam convert mobile_sam.pt mobile_sam_f16.safetensors --dtype f16\n"
    "  persam convert sam_vit_b_01ec64.pth sam_vit_b_int8.safetensors --dtype int8\n"
    "  persam convert sam_vit_b_01ec64.pth sam_vit_b_packed.safetensors --packed\n"
    "\n"
    "exit status: 0 on success, 1 when IN is unreadable or not a SAM checkpoint,\n"
    "2 on a command-line error.\n",
    {"dtype"},
    {"keep-unused", "any", "packed"},
    RunConvert,
};

}  // namespace persam::cli
