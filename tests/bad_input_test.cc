// Malformed inputs: every reader must fail with a persam::Error naming the
// file (and tensor) and what was expected; never crash, hang or allocate
// from an unchecked size. Inputs are built here: a small zip writer and a
// pickle writer produce .pth files with one thing wrong at a time.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tests/cli_test_util.h"
#include "tests/fixtures.h"
#include "weights/npy.h"
#include "weights/checkpoint.h"
#include "base/error.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"
#include "weights/zip_archive.h"

namespace persam {
namespace {

using Bytes = std::string;

std::string TempPath(const std::string& name) {
  return "/tmp/persam_bad_input_" + std::to_string(getpid()) + "_" + name;
}

void WriteFile(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The error message of reading `bytes` as a checkpoint ("" when it succeeds).
std::string ReadError(const Bytes& bytes, const std::string& name = "bad.pth") {
  try {
    ReadCheckpointFromBytes(BytesFromMemory(name, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void Le(Bytes* out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// A zip of stored entries, as torch.save writes it.
struct ZipEntrySpec {
  std::string name;
  Bytes data;
  uint16_t method = 0;
  bool corrupt_crc = false;
  bool corrupt_local_signature = false;
};

Bytes MakeZip(const std::vector<ZipEntrySpec>& entries) {
  Bytes out, central;
  for (const ZipEntrySpec& e : entries) {
    const uint32_t crc = Crc32(reinterpret_cast<const uint8_t*>(e.data.data()), e.data.size()) ^ (e.corrupt_crc ? 1 : 0);
    const uint64_t offset = out.size();
    Le(&out, e.corrupt_local_signature ? 0x04034b51 : 0x04034b50, 4);
    Le(&out, 20, 2); Le(&out, 0, 2); Le(&out, e.method, 2); Le(&out, 0, 4);
    Le(&out, crc, 4); Le(&out, e.data.size(), 4); Le(&out, e.data.size(), 4);
    Le(&out, e.name.size(), 2); Le(&out, 0, 2);
    out += e.name + e.data;
    Le(&central, 0x02014b50, 4);
    Le(&central, 20, 2); Le(&central, 20, 2); Le(&central, 0, 2); Le(&central, e.method, 2); Le(&central, 0, 4);
    Le(&central, crc, 4); Le(&central, e.data.size(), 4); Le(&central, e.data.size(), 4);
    Le(&central, e.name.size(), 2); Le(&central, 0, 2); Le(&central, 0, 2); Le(&central, 0, 2); Le(&central, 0, 2);
    Le(&central, 0, 4); Le(&central, offset, 4);
    central += e.name;
  }
  const uint64_t dir_offset = out.size();
  out += central;
  Le(&out, 0x06054b50, 4); Le(&out, 0, 2); Le(&out, 0, 2);
  Le(&out, entries.size(), 2); Le(&out, entries.size(), 2);
  Le(&out, central.size(), 4); Le(&out, dir_offset, 4); Le(&out, 0, 2);
  return out;
}

// Protocol-2 pickle of {name: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}.
struct TensorPickle {
  std::string name;
  std::string storage_type = "FloatStorage";
  std::string key = "0";
  int64_t storage_numel = 4;
  int64_t offset = 0;
  std::vector<int64_t> shape = {4};
  std::vector<int64_t> stride = {1};
  std::string global = "torch._utils\n_rebuild_tensor_v2\n";
};

Bytes Str(const std::string& s) {
  Bytes out = "X";
  Le(&out, s.size(), 4);
  return out + s;
}

Bytes Int(int64_t v) {
  Bytes out = "\x8a\x08";  // LONG1, 8 bytes
  Le(&out, static_cast<uint64_t>(v), 8);
  return out;
}

Bytes IntTuple(const std::vector<int64_t>& values) {
  Bytes out = "(";
  for (int64_t v : values) out += Int(v);
  return out + "t";
}

Bytes MakePickle(const std::vector<TensorPickle>& tensors) {
  Bytes out = "\x80\x02}(";
  for (const TensorPickle& t : tensors) {
    out += Str(t.name);
    out += "c" + t.global;
    out += "((" + Str("storage") + "ctorch\n" + t.storage_type + "\n" + Str(t.key) + Str("cpu") + Int(t.storage_numel) +
           "tQ";
    out += Int(t.offset) + IntTuple(t.shape) + IntTuple(t.stride) + "\x89" + "ccollections\nOrderedDict\n)R" + "tR";
  }
  return out + "u.";
}

Bytes Floats(int n) {
  Bytes out;
  for (int i = 0; i < n; ++i) {
    const float f = static_cast<float>(i) + 0.5f;
    out.append(reinterpret_cast<const char*>(&f), 4);
  }
  return out;
}

Bytes MakePth(const std::vector<TensorPickle>& tensors, const Bytes& storage0 = Floats(4)) {
  return MakeZip({{"archive/data.pkl", MakePickle(tensors)}, {"archive/data/0", storage0}, {"archive/version", "3\n"}});
}

void CheckContains(const std::string& message, const std::vector<std::string>& parts) {
  CAPTURE(message);
  CHECK(!message.empty());
  for (const std::string& part : parts) CHECK(message.find(part) != std::string::npos);
}

TEST_CASE("bad input: the hand-built .pth itself is valid") {
  TensorPickle t;
  t.name = "w";
  t.storage_numel = 6;
  t.shape = {2, 2};
  t.stride = {1, 2};  // a transposed view
  const Bytes pth = MakePth({t}, Floats(6));
  const Checkpoint ckpt =
      ReadCheckpointFromBytes(BytesFromMemory("ok.pth", reinterpret_cast<const uint8_t*>(pth.data()), pth.size()));
  const std::vector<float> v = ckpt.tensors.at("w").ToFloat32();
  CHECK(v == std::vector<float>{0.5f, 2.5f, 1.5f, 3.5f});
}

TEST_CASE("bad input: empty file, directory, missing file") {
  const std::string empty = TempPath("empty.pth");
  WriteFile(empty, "");
  CHECK_THROWS_WITH_AS(ReadCheckpoint(empty), doctest::Contains((empty + ": empty file").c_str()), Error);
  std::remove(empty.c_str());
  CHECK_THROWS_WITH_AS(ReadCheckpoint("/tmp"), doctest::Contains("/tmp: is a directory"), Error);
  CHECK_THROWS_WITH_AS(ReadCheckpoint("/nonexistent/x.pth"), doctest::Contains("/nonexistent/x.pth: cannot open"),
                       Error);
  CheckContains(ReadError("hello world, not weights"), {"bad.pth", "unrecognised file format"});
}

TEST_CASE("bad input: truncated fixture .pth at many lengths") {
  if (!testing::HaveFixtures("truncated pth")) return;
  const Bytes full = ReadFile(testing::FixturePath("formats/tensors_zip.pth"));
  for (size_t len : {size_t{1}, size_t{3}, size_t{30}, full.size() / 3, full.size() / 2, full.size() - 23,
                     full.size() - 1}) {
    CAPTURE(len);
    CheckContains(ReadError(full.substr(0, len)), {"bad.pth"});
  }
  const Bytes legacy = ReadFile(testing::FixturePath("formats/legacy_format.pth"));
  for (size_t len = 1; len < legacy.size(); len += 7) {
    CAPTURE(len);
    CheckContains(ReadError(legacy.substr(0, len)), {"bad.pth"});
  }
}

TEST_CASE("bad input: zip with a missing storage entry") {
  TensorPickle t;
  t.name = "w";
  const Bytes zip = MakeZip({{"archive/data.pkl", MakePickle({t})}});
  CheckContains(ReadError(zip), {"bad.pth", "storage entry 'archive/data/0' is missing"});
}

TEST_CASE("bad input: zip with a corrupt entry") {
  TensorPickle t;
  t.name = "w";
  ZipEntrySpec pkl{"archive/data.pkl", MakePickle({t})};
  pkl.corrupt_crc = true;
  CheckContains(ReadError(MakeZip({pkl, {"archive/data/0", Floats(4)}})), {"bad.pth", "data.pkl", "CRC"});
  ZipEntrySpec data{"archive/data/0", Floats(4)};
  data.corrupt_local_signature = true;
  CheckContains(ReadError(MakeZip({{"archive/data.pkl", MakePickle({t})}, data})),
                {"bad.pth", "archive/data/0", "local header"});
  ZipEntrySpec deflated{"archive/data/0", Floats(4)};
  deflated.method = 8;
  CheckContains(ReadError(MakeZip({{"archive/data.pkl", MakePickle({t})}, deflated})), {"bad.pth", "compressed"});
  CheckContains(ReadError(MakeZip({{"archive/other", "x"}})), {"bad.pth", "data.pkl"});
}

TEST_CASE("bad input: pickle with an unsupported opcode") {
  TensorPickle t;
  t.name = "w";
  Bytes pkl = MakePickle({t});
  pkl.insert(2, "i");  // INST: never written by torch.save
  CheckContains(ReadError(MakeZip({{"archive/data.pkl", pkl}, {"archive/data/0", Floats(4)}})),
                {"bad.pth", "data.pkl", "unsupported opcode 0x69"});
}

TEST_CASE("bad input: pickle with an unsupported global") {
  // Never called: an unknown global becomes an opaque object, refused where a tensor is expected.
  TensorPickle t;
  t.name = "w";
  t.global = "os\nsystem\n";
  CheckContains(ReadError(MakePth({t})), {"bad.pth", "'w'", "os.system", "no state dict"});
  TensorPickle good;
  good.name = "a";
  CheckContains(ReadError(MakePth({good, t})), {"bad.pth", "'w'", "'os.system' object", "expected a dense tensor"});
  const Bytes top = "\x80\x02" "c__main__\nEvil\n)R.";
  CheckContains(ReadError(MakeZip({{"archive/data.pkl", top}})), {"bad.pth", "__main__.Evil", "no state dict"});
  TensorPickle q;
  q.name = "w";
  q.storage_type = "QInt8Storage";
  CheckContains(ReadError(MakePth({q})), {"bad.pth", "unsupported storage type 'torch.QInt8Storage'"});
}

TEST_CASE("bad input: tensor bytes running past the storage") {
  TensorPickle t;
  t.name = "long.weight";
  t.shape = {5};
  CheckContains(ReadError(MakePth({t})), {"bad.pth", "'long.weight'", "past the end of its storage"});
  t.shape = {2, 2};
  t.stride = {2, 1};
  t.offset = 1;
  CheckContains(ReadError(MakePth({t})), {"'long.weight'", "past the end"});
  t.offset = 0;
  t.stride = {3, 1};
  CheckContains(ReadError(MakePth({t})), {"'long.weight'", "past the end"});
  // The storage entry is shorter than the pickle says.
  t.stride = {2, 1};
  CheckContains(ReadError(MakePth({t}, Floats(3))), {"'long.weight'", "holds 12 bytes", "declares 4"});
  // Huge sizes overflow instead of allocating.
  t.shape = {int64_t{1} << 40, int64_t{1} << 40};
  t.stride = {0, 0};
  CheckContains(ReadError(MakePth({t})), {"'long.weight'", "overflows"});
  t.shape = {int64_t{1} << 40};
  t.stride = {0};
  CheckContains(ReadError(MakePth({t})), {"'long.weight'", "bad.pth", "broadcast", "64 MiB"});
}

TEST_CASE("bad input: checkpoint of another model") {
  TensorPickle t;
  t.name = "resnet.fc.weight";
  const Bytes pth = MakePth({t});
  const Checkpoint ckpt =
      ReadCheckpointFromBytes(BytesFromMemory("resnet.pth", reinterpret_cast<const uint8_t*>(pth.data()), pth.size()));
  CHECK_THROWS_WITH_AS(InferSamConfig(ckpt.tensors, ckpt.path),
                       doctest::Contains("resnet.pth: not a SAM checkpoint"), Error);
  // A SAM encoder without its decoder.
  TensorMap tensors = MakeRandomSamTensors(SamVitTinyTestConfig(), 1);
  for (auto it = tensors.begin(); it != tensors.end();) {
    it = it->first.rfind("mask_decoder.", 0) == 0 ? tensors.erase(it) : std::next(it);
  }
  CHECK_THROWS_WITH_AS(InferSamConfig(tensors, "encoder_only.pth"),
                       doctest::Contains("encoder_only.pth: missing tensor 'mask_decoder."), Error);
}

TEST_CASE("bad input: a tensor of the wrong shape in a file") {
  TensorMap tensors = MakeRandomSamTensors(SamVitTinyTestConfig(), 1);
  Tensor& t = tensors["prompt_encoder.mask_downscaling.3.weight"];
  t.shape = {16, 4, 4, 1};  // same element count, wrong shape
  const std::string path = TempPath("wrong_shape.safetensors");
  WriteSafetensors(path, tensors, {});
  const Checkpoint ckpt = ReadCheckpoint(path);
  CHECK_THROWS_WITH_AS(InferSamConfig(ckpt.tensors, ckpt.path),
                       doctest::Contains("'prompt_encoder.mask_downscaling.3.weight' has shape [16, 4, 4, 1], "
                                         "expected [16, 4, 2, 2]"),
                       Error);
  std::remove(path.c_str());
}

Bytes Safetensors(const std::string& header, const Bytes& data) {
  Bytes out;
  Le(&out, header.size(), 8);
  return out + header + data;
}

TEST_CASE("bad input: safetensors header lying about offsets") {
  const Bytes data(32, '\0');
  CHECK(ReadError(Safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data), "x.safetensors")
            .empty());
  CheckContains(ReadError(Safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[28,36]}})", data),
                          "x.safetensors"),
                {"x.safetensors", "'a'", "outside the data section"});
  CheckContains(ReadError(Safetensors(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data),
                          "x.safetensors"),
                {"'a'", "span 8 bytes", "F32 [3]"});
  CheckContains(ReadError(Safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data),
                          "x.safetensors"),
                {"'a'", "outside"});
  CheckContains(ReadError(Safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                      R"("b":{"dtype":"F16","shape":[4],"data_offsets":[4,12]}})",
                                      data),
                          "x.safetensors"),
                {"x.safetensors", "'a' and 'b' overlap"});
  CheckContains(ReadError(Safetensors(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", data),
                          "x.safetensors"),
                {"'a'", "negative"});
  CheckContains(ReadError(Safetensors(R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", data),
                          "x.safetensors"),
                {"'a'", "unsupported dtype 'F8_E4M3'"});
  CheckContains(ReadError(Safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],}})", data),
                          "x.safetensors"),
                {"x.safetensors", "malformed JSON"});
  CheckContains(ReadError(Safetensors(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                                      data),
                          "x.safetensors"),
                {"'a'", "overflows"});
  // Header length beyond the file.
  Bytes lying = Safetensors(R"({})", data);
  lying[0] = '\x7f';
  lying[8] = '{';
  CheckContains(ReadError(lying, "x.safetensors"), {"x.safetensors", "header length", "exceeds the file size"});
}

TEST_CASE("bad input: truncated safetensors") {
  const TensorMap tensors = MakeRandomSamTensors(SamVitTinyTestConfig(), 3);
  const std::string path = TempPath("trunc.safetensors");
  WriteSafetensors(path, tensors, {});
  const Bytes full = ReadFile(path);
  std::remove(path.c_str());
  for (size_t len : {size_t{4}, size_t{9}, size_t{100}, full.size() / 2, full.size() - 1}) {
    CAPTURE(len);
    CheckContains(ReadError(full.substr(0, len), "t.safetensors"), {"t.safetensors"});
  }
}

TEST_CASE("bad input: random byte corruption of a .pth never crashes") {
  if (!testing::HaveFixtures("corrupted pth")) return;
  // A cheap deterministic fuzz in the unit suite; the libFuzzer targets go further.
  for (const char* name : {"formats/tensors_zip.pth", "formats/legacy_format.pth", "formats/wrapped_model_key.pth"}) {
    const Bytes original = ReadFile(testing::FixturePath(name));
    uint64_t state = 12345;
    for (int round = 0; round < 1500; ++round) {
      Bytes mutated = original;
      for (int k = 0; k < 1 + round % 4; ++k) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        mutated[(state >> 33) % mutated.size()] = static_cast<char>(state >> 24);
      }
      try {
        ReadCheckpointFromBytes(
            BytesFromMemory(name, reinterpret_cast<const uint8_t*>(mutated.data()), mutated.size()));
      } catch (const Error&) {
      }
    }
  }
}

}  // namespace
}  // namespace persam

#ifndef PERSAM_EXE
#define PERSAM_EXE "persam"
#endif

namespace persam {
namespace {

// Peak RSS bound of the hostile-input runs below: the CLI's own footprint
// plus 150 MB, far below the files' requests (gigabytes).
long SmallRssKb() { return testing::RssBoundKb(PERSAM_EXE, 150 * 1024); }

TEST_CASE("hostile input: a 3 KB .pth of 16 broadcast [8192, 8192] views is refused in total") {
  std::vector<TensorPickle> views;
  for (int i = 0; i < 16; ++i) {
    TensorPickle t;
    t.name = "broadcast." + std::to_string(i);
    t.storage_numel = 1;
    t.shape = {8192, 8192};  // 256 MiB each as float32, from one element
    t.stride = {0, 0};
    views.push_back(t);
  }
  const std::string path = TempPath("broadcast.pth");
  WriteFile(path, MakePth(views, Floats(1)));
  const testing::MeasuredRun r = testing::RunMeasured(PERSAM_EXE, {"inspect", path, "--threads", "1"});
  MESSAGE("broadcast .pth: inspect exit " << r.code << ", peak RSS " << r.max_rss_kb << " KiB, " << r.seconds << " s");
  CHECK(r.code == 1);
  CheckContains(r.output, {path, "broadcast.0", "64 MiB"});
  CHECK(r.max_rss_kb < SmallRssKb());
  CHECK(r.seconds < 20.0);
  std::remove(path.c_str());
}

TEST_CASE("hostile input: .npy of shape (2^46 + 1, 256, 256) with 256 KiB of data") {
  const std::string header_text =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (70368744177665, 256, 256), }";
  std::string header = header_text;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xFF);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header + std::string(256 * 1024, '\0');
  const std::string path = TempPath("huge.npy");
  WriteFile(path, bytes);
  // (2^46 + 1) * 2^16 * 4 bytes wraps to exactly 2^18: the data size the
  // unchecked product matched.
  CHECK_THROWS_WITH_AS(ReadNpy(path), doctest::Contains((path + ": .npy shape").c_str()), Error);
  std::remove(path.c_str());
}

TEST_CASE("hostile input: a safetensors tensor name that is not UTF-8 is refused naming the file") {
  const std::string name = "bad\xff\xfename";
  std::string header = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  while (header.size() % 8 != 0) header += ' ';
  std::string bytes(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(&bytes[0], &length, 8);
  bytes += header + std::string(4, '\0');
  const std::string path = TempPath("not_utf8.safetensors");
  WriteFile(path, bytes);
  CHECK_THROWS_WITH_AS(ReadCheckpoint(path), doctest::Contains("invalid UTF-8"), Error);
  CHECK_THROWS_WITH_AS(ReadCheckpoint(path), doctest::Contains(path.c_str()), Error);
  // Escaped surrogates are refused too; a valid multi-byte name is kept.
  std::string good = "{\"caf\xc3\xa9\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  while (good.size() % 8 != 0) good += ' ';
  std::string good_bytes(8, '\0');
  const uint64_t good_length = good.size();
  std::memcpy(&good_bytes[0], &good_length, 8);
  good_bytes += good + std::string(4, '\0');
  WriteFile(path, good_bytes);
  CHECK(ReadCheckpoint(path).tensors.count("caf\xc3\xa9") == 1);
  std::remove(path.c_str());
}

TEST_CASE("hostile input: --threads far above the cores is refused at once") {
  const testing::MeasuredRun r =
      testing::RunMeasured(PERSAM_EXE, {"inspect", "/nonexistent.pth", "--threads", "100000"});
  MESSAGE("--threads 100000: exit " << r.code << ", peak RSS " << r.max_rss_kb << " KiB, " << r.seconds << " s");
  CHECK(r.code == 2);
  CheckContains(r.output, {"--threads 100000", "4 per core"});
  CHECK(r.max_rss_kb < SmallRssKb());
  CHECK(r.seconds < 5.0);
}

TEST_CASE("hostile input: inferred configs outside SAM's architectures are refused") {
  SamConfig grid256 = SamVitTinyTestConfig();
  grid256.vit.grid = 256;
  grid256.embed_grid = 256;
  grid256.image_size = 4096;
  CHECK_THROWS_WITH_AS(CheckSamArchitecture(grid256, "m.safetensors"),
                       doctest::Contains("m.safetensors: image size 4096"), Error);
  SamConfig wide = SamVitHConfig();
  wide.vit.embed_dim = 4096;
  CHECK_THROWS_WITH_AS(CheckSamArchitecture(wide, "w.pth"), doctest::Contains("ViT embed dim 4096"), Error);
  // Every configuration SAM (and the tests) define passes.
  for (const SamConfig& c : {SamVitBConfig(), SamVitLConfig(), SamVitHConfig(), SamVitTinyTestConfig(),
                             MobileSamConfig()}) {
    CHECK_NOTHROW(CheckSamArchitecture(c, "ok"));
  }
}

}  // namespace
}  // namespace persam
