// `persam inspect`: what a weights file holds and whether the engine can run it.
#include <map>
#include <string>

#include "engine/packed_weights_file.h"
#include "engine/precision.h"
#include "concepts/concept_file.h"
#include "tools/cli.h"
#include "tools/inspect_concept.h"
#include "weights/checkpoint.h"
#include "base/error.h"
#include "weights/json.h"
#include "weights/quantized.h"
#include "weights/sam_config.h"

namespace persam::cli {
namespace {

std::string Thousands(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

int RunInspect(const Args& args) {
  if (args.positionals().size() != 1) throw UsageError{"expected one FILE"};
  const std::string& path = args.positionals()[0];
  const Checkpoint checkpoint = ReadCheckpoint(path);
  if (IsConceptMetadata(checkpoint.metadata)) return InspectConcept(args, path);
  int64_t elements = 0;
  uint64_t bytes = 0;
  std::map<std::string, int> dtypes;
  for (const auto& entry : checkpoint.tensors) {
    elements += entry.second.NumElements();
    bytes += entry.second.NumBytes();
    ++dtypes[DTypeName(entry.second.dtype)];
  }
  // A file that is not a usable SAM still gets its summary; the error follows.
  std::string problem;
  SamConfig config;
  try {
    config = InferSamConfig(checkpoint.tensors, path);
  } catch (const Error& e) {
    problem = e.what();
  }
  // What `persam convert --dtype` made of it: the precision it runs at when
  // no --precision is given.
  int int8_tensors = 0;
  Precision precision = Precision::kF32;
  try {
    int8_tensors = CountQuantizedInt8(checkpoint.tensors);
    precision = StoredPrecision(checkpoint.tensors);
  } catch (const Error& e) {
    if (problem.empty()) problem = e.what();  // a malformed scale tensor
  }
  std::vector<std::string> unused;
  if (problem.empty()) {
    // int8 scales are used with their tensor.
    for (const std::string& name : UnusedTensors(checkpoint.tensors, config)) {
      const size_t n = sizeof(kInt8ScaleSuffix) - 1;
      const bool scale = name.size() > n && name.compare(name.size() - n, n, kInt8ScaleSuffix) == 0 &&
                         IsQuantizedInt8(checkpoint.tensors, name.substr(0, name.size() - n));
      if (!scale && !IsPackedTensorName(name)) unused.push_back(name);
    }
  }

  // `persam convert --packed` panels (engine/packed_weights_file.h).
  int64_t packed = 0;
  for (const auto& entry : checkpoint.tensors) packed += IsPackedTensorName(entry.first) ? 1 : 0;
  std::string packed_note;
  UsablePackedTensors(checkpoint.tensors, checkpoint.metadata, &packed_note);

  if (args.Flag("json")) {
    std::vector<std::pair<std::string, JsonValue>> doc;
    doc.emplace_back("file", JsonValue::String(path));
    doc.emplace_back("format", JsonValue::String(checkpoint.format));
    doc.emplace_back("architecture", problem.empty() ? JsonValue::String(ArchitectureName(config.encoder))
                                                     : JsonValue::Null());
    if (!problem.empty()) doc.emplace_back("error", JsonValue::String(problem));
    if (problem.empty()) {
      doc.emplace_back("config", ConfigToJson(config));
      doc.emplace_back("unused_tensors", JsonValue::Integer(static_cast<int64_t>(unused.size())));
    }
    doc.emplace_back("tensors", JsonValue::Integer(static_cast<int64_t>(checkpoint.tensors.size())));
    doc.emplace_back("parameters", JsonValue::Integer(elements));
    doc.emplace_back("bytes", JsonValue::Integer(static_cast<int64_t>(bytes)));
    std::vector<std::pair<std::string, JsonValue>> types;
    for (const auto& kv : dtypes) types.emplace_back(kv.first, JsonValue::Integer(kv.second));
    doc.emplace_back("dtypes", JsonValue::Object(std::move(types)));
    doc.emplace_back("precision", JsonValue::String(PrecisionName(precision)));
    doc.emplace_back("int8_tensors", JsonValue::Integer(int8_tensors));
    doc.emplace_back("packed_weights", JsonValue::Integer(packed));
    doc.emplace_back("packed_layout", JsonValue::String(packed_note));
    std::vector<std::pair<std::string, JsonValue>> meta;
    for (const auto& kv : checkpoint.metadata) meta.emplace_back(kv.first, JsonValue::String(kv.second));
    doc.emplace_back("metadata", JsonValue::Object(std::move(meta)));
    if (args.Flag("tensors")) {
      std::vector<std::pair<std::string, JsonValue>> list;
      for (const auto& entry : checkpoint.tensors) {
        std::vector<JsonValue> shape;
        for (int64_t d : entry.second.shape) shape.push_back(JsonValue::Integer(d));
        list.emplace_back(entry.first, JsonValue::Object({{"dtype", JsonValue::String(DTypeName(entry.second.dtype))},
                                                          {"shape", JsonValue::Array(std::move(shape))}}));
      }
      doc.emplace_back("tensor_list", JsonValue::Object(std::move(list)));
    }
    Say(args, "%s\n", WriteJson(JsonValue::Object(std::move(doc))).c_str());
  } else {
    Say(args, "file:          %s\n", path.c_str());
    Say(args, "format:        %s\n", checkpoint.format.c_str());
    if (problem.empty()) {
      Say(args, "architecture:  %s\n", ArchitectureName(config.encoder));
      Say(args, "encoder:       %s\n", EncoderSummary(config).c_str());
      Say(args, "decoder:       %s\n", DecoderSummary(config).c_str());
    } else {
      Say(args, "architecture:  not a usable SAM checkpoint\n");
    }
    Say(args, "tensors:       %zu", checkpoint.tensors.size());
    if (problem.empty()) Say(args, " (%zu unused by the engine)", unused.size());
    Say(args, "\nparameters:    %s\n", Thousands(elements).c_str());
    Say(args, "bytes:         %s (%.1f MiB)\n", Thousands(static_cast<int64_t>(bytes)).c_str(),
        static_cast<double>(bytes) / (1 << 20));
    std::string types;
    for (const auto& kv : dtypes) types += (types.empty() ? "" : ", ") + kv.first + " x " + std::to_string(kv.second);
    Say(args, "dtypes:        %s\n", types.c_str());
    if (int8_tensors > 0) {
      Say(args, "precision:     int8 (default of --precision): %d int8 tensors quantised per output\n"
          "               channel, value = q x NAME.scale[channel] (float32 scales)\n", int8_tensors);
    } else {
      Say(args, "precision:     %s (default of --precision)\n", PrecisionName(precision));
    }
    if (packed > 0) {
      Say(args, "packed:        %lld float32 GEMM weights also stored pre-packed (NAME%s), %s; "
          "a float32 load maps them instead of packing\n", static_cast<long long>(packed), kPackedF32Suffix,
          packed_note.c_str());
    }
    for (const auto& kv : checkpoint.metadata) Say(args, "metadata:      %s = %s\n", kv.first.c_str(), kv.second.c_str());
    if (args.Flag("tensors")) {
      for (const auto& entry : checkpoint.tensors) {
        Say(args, "  %-70s %-8s %s\n", entry.first.c_str(), DTypeName(entry.second.dtype),
            ShapeToString(entry.second.shape).c_str());
      }
    }
  }
  if (!problem.empty()) throw Error(problem);
  return 0;
}

}  // namespace

extern const Command kInspectCommand = {
    "inspect",
    "describe a checkpoint: architecture, config, tensors",
    "usage: persam inspect FILE [--json] [--tensors]\n"
    "\n"
    "Reads FILE (.pth, zip or legacy, or .safetensors; the format is detected from\n"
    "its bytes) and prints its format, the SAM architecture (sam-vit or sam-tinyvit)\n"
    "and configuration inferred from the tensor shapes, the tensor count, parameter\n"
    "count and bytes per dtype, the precision the image encoder runs at by\n"
    "default (bf16 / int8 for files from 'persam convert --dtype bf16|int8'; int8\n"
    "tensors NAME come with float32 per-output-channel scales NAME.scale), the\n"
    "float32 GEMM weights 'persam convert --packed' stored pre-packed (tensors\n"
    "NAME.packed_f32) and whether this build uses their layout, and\n"
    "any safetensors metadata. A concept file from 'persam learn' is described\n"
    "instead: method, model identity, references, similarity statistics.\n"
    "\n"
    "options:\n"
    "  --json     one JSON object instead of text\n"
    "  --tensors  also list every tensor with its dtype and shape\n"
    "\n"
    "exit status: 0 for a usable SAM checkpoint; 1 when FILE is unreadable or not a\n"
    "usable SAM checkpoint (the summary is still printed, then the reason); 2 on a\n"
    "command-line error.\n",
    {},
    {"json", "tensors"},
    RunInspect,
};

}  // namespace persam::cli
