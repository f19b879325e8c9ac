// `persam convert` and `persam inspect` end to end: exit codes, outputs, errors.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tests/cli_test_util.h"
#include "tests/fixtures.h"
#include "weights/cast.h"
#include "weights/checkpoint.h"
#include "weights/json.h"
#include "weights/sam_config.h"

#ifndef PERSAM_EXE
#define PERSAM_EXE "persam"
#endif

namespace persam {
namespace {

testing::CliRun Persam(const std::string& arguments) {
  return testing::RunCli(PERSAM_EXE, arguments);
}

std::string Temp(const std::string& name) { return "/tmp/persam_cli_test_" + std::to_string(getpid()) + "_" + name; }

TEST_CASE("cli: convert MobileSAM fp16 .pth to f32 safetensors; values promoted exactly") {
  if (!testing::HaveFixtures("cli convert")) return;
  const std::string in = testing::FixturePath("models/mobile_sam_rand_fp16.pth");
  const std::string out = Temp("mobile.safetensors");
  const testing::CliRun run = Persam("convert " + in + " " + out + " --dtype f32");
  CAPTURE(run.output);
  REQUIRE(run.code == 0);
  CHECK(run.output.find("sam-tinyvit") != std::string::npos);
  const Checkpoint source = ReadCheckpoint(in);
  const Checkpoint converted = ReadCheckpoint(out);
  const SamConfig config = InferSamConfig(converted.tensors, out);
  CHECK(config.encoder == EncoderKind::kTinyVit);
  // Only the engine's tensors are written, each promoted exactly.
  CHECK(converted.tensors.size() == RequiredTensors(config).size());
  for (const auto& entry : converted.tensors) {
    CAPTURE(entry.first);
    CHECK(entry.second.dtype == DType::kF32);
    CHECK(entry.second.ToFloat32() == source.tensors.at(entry.first).ToFloat32());
  }
  CHECK(converted.metadata.at("persam.architecture") == "sam-tinyvit");
  std::remove(out.c_str());
}

TEST_CASE("cli: convert ViT to f16 and bf16 rounds to nearest even") {
  if (!testing::HaveFixtures("cli convert f16")) return;
  const std::string in = testing::FixturePath("models/sam_vit_tiny.pth");
  const Checkpoint source = ReadCheckpoint(in);
  const std::string name = "image_encoder.blocks.1.attn.qkv.weight";
  for (const char* dtype : {"f16", "bf16"}) {
    const std::string out = Temp(std::string(dtype) + ".safetensors");
    const testing::CliRun run = Persam("convert " + in + " " + out + " --dtype " + dtype);
    CAPTURE(run.output);
    REQUIRE(run.code == 0);
    const Checkpoint converted = ReadCheckpoint(out);
    const Tensor& t = converted.tensors.at(name);
    const std::vector<float> original = source.tensors.at(name).ToFloat32();
    REQUIRE(t.NumElements() == static_cast<int64_t>(original.size()));
    for (size_t i = 0; i < original.size(); ++i) {
      uint16_t bits;
      std::memcpy(&bits, t.data + 2 * i, 2);
      const uint16_t expected = std::string(dtype) == "f16" ? FloatToHalf(original[i]) : FloatToBF16(original[i]);
      REQUIRE(bits == expected);
    }
    // A converted file converts again (safetensors input).
    const std::string again = Temp("again.safetensors");
    CHECK(Persam("convert " + out + " " + again).code == 0);
    std::remove(out.c_str());
    std::remove(again.c_str());
  }
}

TEST_CASE("cli: convert --packed adds the float32 panels, inspect explains them, converting again drops them") {
  if (!testing::HaveFixtures("cli convert --packed")) return;
  const std::string in = testing::FixturePath("models/sam_vit_tiny.pth");
  const std::string out = Temp("packed.safetensors");
  testing::CliRun run = Persam("convert " + in + " " + out + " --packed");
  CAPTURE(run.output);
  REQUIRE(run.code == 0);
  // ViT depth 4 x 4 + patch embedding, the mask decoder's 47 Linears.
  CHECK(run.output.find("panels of 64 weights") != std::string::npos);
  const Checkpoint packed = ReadCheckpoint(out);
  CHECK(packed.metadata.at("persam.packed_layout").find("f32-panels-v1") == 0);
  const Tensor& panels = packed.tensors.at("image_encoder.blocks.0.mlp.lin1.weight.packed_f32");
  CHECK(panels.shape == std::vector<int64_t>{384 / 32, 96, 32});  // lin1 [384, 96]
  run = Persam("inspect " + out);
  CHECK(run.code == 0);
  CHECK(run.output.find("packed:        64 float32 GEMM weights") != std::string::npos);
  CHECK(run.output.find("(0 unused by the engine)") != std::string::npos);
  run = Persam("inspect --json " + out);
  const JsonValue doc = ParseJson(run.output.data(), run.output.size(), "inspect --json");
  CHECK(doc.At("packed_weights").AsInt64() == 64);
  // Another dtype has no float32 panels: refused, and converting a packed
  // file without --packed (even --keep-unused) drops its panels.
  run = Persam("convert " + out + " " + Temp("f16.safetensors") + " --packed --dtype f16");
  CHECK(run.code == 2);
  CHECK(run.output.find("--packed") != std::string::npos);
  const std::string again = Temp("unpacked.safetensors");
  REQUIRE(Persam("convert " + out + " " + again + " --keep-unused").code == 0);
  for (const auto& entry : ReadCheckpoint(again).tensors) CHECK_MESSAGE(entry.first.find(".packed_f32") == std::string::npos, entry.first);
  std::remove(out.c_str());
  std::remove(again.c_str());
}

TEST_CASE("cli: inspect text and json") {
  if (!testing::HaveFixtures("cli inspect")) return;
  const std::string in = testing::FixturePath("models/sam_vit_tiny.pth");
  testing::CliRun run = Persam("inspect " + in);
  CAPTURE(run.output);
  CHECK(run.code == 0);
  CHECK(run.output.find("architecture:  sam-vit") != std::string::npos);
  CHECK(run.output.find("global blocks [1, 3]") != std::string::npos);
  CHECK(run.output.find("tensors:       202") != std::string::npos);
  run = Persam("inspect --json " + in);
  CHECK(run.code == 0);
  const JsonValue doc = ParseJson(run.output.data(), run.output.size(), "inspect --json");
  CHECK(doc.At("architecture").AsString() == "sam-vit");
  // Typed config values: numbers as numbers, lists as lists.
  CHECK(doc.At("config").At("vit.embed_dim").AsInt64() == 96);
  const JsonValue& global_blocks = doc.At("config").At("vit.global_blocks");
  REQUIRE(global_blocks.Items().size() == 2);
  CHECK(global_blocks.Items()[0].AsInt64() == 1);
  CHECK(global_blocks.Items()[1].AsInt64() == 3);
  CHECK(doc.At("tensors").AsInt64() == 202);
  int64_t elements = 0;
  for (const auto& entry : ReadCheckpoint(in).tensors) elements += entry.second.NumElements();
  CHECK(doc.At("parameters").AsInt64() == elements);
  CHECK(doc.At("bytes").AsInt64() == 4 * elements);
}

TEST_CASE("cli: errors and exit codes") {
  testing::CliRun run = Persam("inspect /nonexistent.pth");
  CHECK(run.code == 1);
  CHECK(run.output.find("/nonexistent.pth: cannot open") != std::string::npos);
  run = Persam("convert /tmp " + Temp("x.safetensors"));
  CHECK(run.code == 1);
  CHECK(run.output.find("is a directory") != std::string::npos);
  CHECK(Persam("convert a.pth b.bin").code == 2);
  CHECK(Persam("convert a.pth").code == 2);
  run = Persam("convert a.pth b.safetensors --dtype f8");
  CHECK(run.code == 2);
  CHECK(run.output.find("--dtype") != std::string::npos);
  run = Persam("convert --help");
  CHECK(run.code == 0);
  CHECK(run.output.find("usage: persam convert") != std::string::npos);
  if (!testing::HaveFixtures("cli errors")) return;
  // Not a SAM: inspect summarises then fails; convert refuses unless --any.
  const std::string other = testing::FixturePath("formats/tensors_zip.pth");
  run = Persam("inspect " + other);
  CHECK(run.code == 1);
  CHECK(run.output.find("tensors:       14") != std::string::npos);
  CHECK(run.output.find("not a SAM checkpoint") != std::string::npos);
  const std::string out = Temp("any.safetensors");
  CHECK(Persam("convert " + other + " " + out).code == 1);
  CHECK(Persam("convert " + other + " " + out + " --any --dtype f16").code == 0);
  const Checkpoint converted = ReadCheckpoint(out);
  CHECK(converted.tensors.at("int64.index").dtype == DType::kI64);
  CHECK(converted.tensors.at("double.weight").dtype == DType::kF16);
  CHECK(converted.tensors.at("bool.mask").dtype == DType::kBool);
  std::remove(out.c_str());
}

}  // namespace
}  // namespace persam
