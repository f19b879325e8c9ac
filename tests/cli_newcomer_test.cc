// The CLI mistakes a new user makes, each answered by an error or a
// documented result instead of a silent wrong one (issue 16): -h, unknown
// commands, personalize with nowhere to write, eval pointed at the wrong
// folder, embeddings from another model, several boxes, typed inspect JSON,
// the overlay legend and aligned timing tables. Random-weight models only.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/image.h"
#include "tests/cli_test_util.h"
#include "tools/segment_overlay.h"
#include "weights/json.h"
#include "weights/npy.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

using testing::PathExists;
using testing::RunPersam;

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A folder with two random tiny ViT models (different seeds) and a 160 x 120
// image with a bright square.
struct Scratch {
  std::string dir = testing::MakeTempDir("persam_newcomer_test");
  std::string model_a = dir + "/a.safetensors", model_b = dir + "/b.safetensors", image = dir + "/img.png";
  Scratch() {
    WriteRandomSamCheckpoint(model_a, SamVitTinyTestConfig(), 1);
    WriteRandomSamCheckpoint(model_b, SamVitTinyTestConfig(), 2);
    RgbImage img;
    img.height = 120;
    img.width = 160;
    img.pixels.assign(120 * 160 * 3, 40);
    for (int y = 30; y < 90; ++y) {
      for (int x = 40; x < 110; ++x) {
        for (int c = 0; c < 3; ++c) img.pixels[(y * 160 + x) * 3 + c] = 220;
      }
    }
    SavePng(image, img);
  }
  ~Scratch() { CHECK(system(("rm -rf '" + dir + "'").c_str()) == 0); }
};

TEST_CASE("-h works like --help for every command; one wording for unknown commands") {
  for (const char* command : {"demo", "convert", "inspect", "embed", "segment", "personalize", "eval", "everything",
                              "download"}) {
    CAPTURE(command);
    const auto h = RunPersam(std::string(command) + " -h", "");
    const auto help = RunPersam(std::string(command) + " --help", "");
    CHECK(h.code == 0);
    CHECK(Contains(h.output, "usage: persam " + std::string(command)));
    CHECK(h.output == help.output);
  }
  CHECK(RunPersam("segment --no-such-option -h", "").code == 0);  // -h wins over a bad option
  const auto unknown = RunPersam("frobnicate", "");
  const auto help_unknown = RunPersam("help frobnicate", "");
  CHECK(unknown.code == 2);
  CHECK(help_unknown.code == 2);
  CHECK(Contains(unknown.output, "persam: error: unknown command 'frobnicate'"));
  CHECK(Contains(help_unknown.output, "persam: error: unknown command 'frobnicate'"));
}

TEST_CASE("errors carry one 'error:' prefix") {
  const auto r = RunPersam("eval --pred /nonexistent_pred --gt /nonexistent_gt");
  CHECK(r.code == 1);
  CHECK(r.output.find("error:") == r.output.rfind("error:"));
  CHECK(Contains(r.output, "persam eval: error: ground-truth directory '/nonexistent_gt' not found"));
}

TEST_CASE("personalize with neither --out nor --report is refused before any work") {
  const auto r = RunPersam("personalize --model /nonexistent.safetensors --ref-image a.jpg --ref-mask a.png t.jpg");
  CHECK(r.code == 2);
  CHECK(Contains(r.output, "give --out DIR (the masks) and/or --report FILE"));
}

TEST_CASE("eval explains a dataset root as --gt and a --pred without object folders") {
  const std::string root = testing::MakeTempDir("persam_eval_layout");
  std::vector<uint8_t> mask(8 * 8, 0);
  for (int i = 0; i < 16; ++i) mask[i] = 255;
  REQUIRE(system(("mkdir -p " + root + "/data/Annotations/cat " + root + "/data/Images/cat " + root +
                  "/flat " + root + "/pred/cat").c_str()) == 0);
  for (const char* name : {"00.png", "01.png"}) {
    SaveGrayPng(root + "/data/Annotations/cat/" + name, 8, 8, mask.data());
    SaveGrayPng(root + "/flat/" + name, 8, 8, mask.data());
    SaveGrayPng(root + "/pred/cat/" + name, 8, 8, mask.data());
  }
  auto r = RunPersam("eval --gt " + root + "/data --pred " + root + "/pred");
  CHECK(r.code == 1);
  CHECK_MESSAGE(Contains(r.output, "is a dataset root (it holds Annotations/): pass --gt " + root + "/data/Annotations"),
                r.output);
  r = RunPersam("eval --gt " + root + "/data/Images --pred " + root + "/pred");
  CHECK(r.code == 1);
  CHECK_MESSAGE(Contains(r.output, "no .png masks"), r.output);
  r = RunPersam("eval --gt " + root + "/data/Annotations --pred " + root + "/flat");
  CHECK(r.code == 1);
  CHECK_MESSAGE(Contains(r.output, "has none of the object folders of --gt"), r.output);
  CHECK(Contains(r.output, "(cat)"));
  // The right folders score the identical masks 100 %.
  r = RunPersam("eval --gt " + root + "/data/Annotations --pred " + root + "/pred");
  CHECK_MESSAGE(r.code == 0, r.output);
  CHECK(Contains(r.output, "mIoU: 100.00"));
  CHECK(system(("rm -rf '" + root + "'").c_str()) == 0);
}

TEST_CASE("inspect --json: typed numbers and lists") {
  Scratch s;
  const auto r = RunPersam("inspect --json " + s.model_a, "");
  REQUIRE(r.code == 0);
  const JsonValue doc = ParseJson(r.output.data(), r.output.size(), "inspect output");
  const JsonValue& config = doc.At("config");
  CHECK(config.At("vit.depth").IsInteger());
  CHECK(config.At("vit.depth").AsInt64() == SamVitTinyTestConfig().vit.depth);
  const JsonValue& blocks = config.At("vit.global_blocks");
  REQUIRE(blocks.size() == SamVitTinyTestConfig().vit.global_blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    CHECK(blocks.Items()[i].IsInteger());
    CHECK(blocks.Items()[i].AsInt64() == SamVitTinyTestConfig().vit.global_blocks[i]);
  }
  CHECK(config.At("persam.architecture").AsString() == "sam-vit");
}

TEST_CASE("segment --embedding refuses an embedding of another model, naming both") {
  Scratch s;
  const std::string emb = s.dir + "/img.npy";
  REQUIRE(RunPersam("embed --model " + s.model_a + " --image " + s.image + " --out " + emb).code == 0);
  const JsonValue side = ParseJsonFile(emb + ".json");
  const std::string hash_a = side.At("model").At("encoder_hash").AsString();
  CHECK(hash_a.rfind("xxh3-64:", 0) == 0);
  const std::string segment = "segment --image " + s.image + " --point 70,60 --embedding " + emb + " --out " + s.dir;
  auto r = RunPersam(segment + "/ok --model " + s.model_a);
  CHECK_MESSAGE(r.code == 0, r.output);
  CHECK(!Contains(r.output, "warning"));
  r = RunPersam(segment + "/other --model " + s.model_b);
  CHECK(r.code == 1);
  CHECK_MESSAGE(Contains(r.output, "was computed by another model"), r.output);
  CHECK(Contains(r.output, hash_a));
  CHECK(!PathExists(s.dir + "/other/mask_0.png"));
  // A file from before the record: read, with a warning saying what is unchecked.
  std::ofstream(emb + ".json") << "{\"image_height\":120,\"image_width\":160,\"input_height\":768,\"input_width\":1024}";
  r = RunPersam(segment + "/old --model " + s.model_b);
  CHECK(r.code == 0);
  CHECK_MESSAGE(Contains(r.output, "warning: embedding '" + emb + "' records no model"), r.output);
}

TEST_CASE("several --box are a batch: one result per box, equal to each box alone") {
  Scratch s;
  const std::string base = "segment --model " + s.model_a + " --image " + s.image;
  auto r = RunPersam(base + " --box 10,10,80,70 --box 40,30,110,90 --out " + s.dir + "/batch");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  REQUIRE(RunPersam(base + " --box 40,30,110,90 --out " + s.dir + "/second").code == 0);
  CHECK(PathExists(s.dir + "/batch/mask_0_0.png"));
  CHECK(PathExists(s.dir + "/batch/mask_1_0.png"));
  CHECK(!PathExists(s.dir + "/batch/mask_0.png"));
  const Tensor batch = ReadNpy(s.dir + "/batch/low_res.npy");
  CHECK(batch.shape == std::vector<int64_t>{2, 1, 256, 256});
  const Tensor second = ReadNpy(s.dir + "/second/low_res.npy");
  CHECK(second.shape == std::vector<int64_t>{1, 256, 256});
  const std::vector<float> b = batch.ToFloat32(), one = second.ToFloat32();
  double max_diff = 0;
  for (size_t i = 0; i < one.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(b[one.size() + i]) - one[i]));
  CHECK(max_diff <= 1e-5);  // the same computation; threads may reorder sums
  const JsonValue scores = ParseJsonFile(s.dir + "/batch/scores.json");
  CHECK(scores.At("scores").size() == 2);
  CHECK(scores.At("scores").Items()[1].size() == 1);
  CHECK(scores.At("boxes").Items()[1].Items()[2].AsDouble() == 110.0);
  const JsonValue second_scores = ParseJsonFile(s.dir + "/second/scores.json");
  CHECK(std::fabs(scores.At("scores").Items()[1].Items()[0].AsDouble() -
                  second_scores.At("scores").Items()[0].AsDouble()) <= 1e-5);
}

TEST_CASE("overlay legend: one swatch per mask in its tint") {
  Scratch s;
  const auto r = RunPersam("segment --model " + s.model_a + " --image " + s.image +
                           " --point 70,60 --multimask --out " + s.dir + "/multi");
  REQUIRE(r.code == 0);
  const RgbImage overlay = LoadImage(s.dir + "/multi/overlay.png");
  for (int row = 0; row < 3; ++row) {
    CAPTURE(row);
    const cli::SwatchPlace p = cli::LegendSwatch(overlay.height, overlay.width, row);
    const auto tint = cli::MaskTint(row);
    const uint8_t* px = &overlay.pixels[(static_cast<size_t>(p.y + p.size / 2) * overlay.width + p.x + p.size / 2) * 3];
    CHECK(px[0] == tint[0]);
    CHECK(px[1] == tint[1]);
    CHECK(px[2] == tint[2]);
  }
  // Distinct colours for the three masks.
  CHECK(cli::MaskTint(0) != cli::MaskTint(1));
  CHECK(cli::MaskTint(1) != cli::MaskTint(2));
}

TEST_CASE("convert --dtype int8 refuses MobileSAM, as its help says; --precision int8 runs it") {
  Scratch s;
  const std::string mobile = s.dir + "/mobile.safetensors";
  WriteRandomSamCheckpoint(mobile, MobileSamConfig(), 3);
  auto r = RunPersam("convert " + mobile + " " + s.dir + "/mobile_int8.safetensors --dtype int8", "");
  CHECK(r.code == 1);
  CHECK_MESSAGE(Contains(r.output, "only implemented for the ViT encoder (sam-vit); this is sam-tinyvit"), r.output);
  CHECK(!PathExists(s.dir + "/mobile_int8.safetensors"));
  CHECK(Contains(RunPersam("convert --help", "").output, "a MobileSAM\n                 (TinyViT) checkpoint is refused"));
  r = RunPersam("segment --model " + mobile + " --precision int8 --verbose --image " + s.image +
                " --point 70,60 --out " + s.dir + "/int8");
  CHECK_MESSAGE(r.code == 0, r.output);
  CHECK(Contains(r.output, "image encoder precision: int8"));
}

TEST_CASE("timing tables stay aligned with TinyViT's long stage names") {
  Scratch s;
  const std::string mobile = s.dir + "/mobile.safetensors";
  WriteRandomSamCheckpoint(mobile, MobileSamConfig(), 3);
  const auto r = RunPersam("segment --model " + mobile + " --image " + s.image + " --point 70,60 --verbose --out " +
                           s.dir + "/timed");
  REQUIRE(r.code == 0);
  std::istringstream lines(r.output.substr(r.output.find("timings:")));
  std::string line;
  size_t column = std::string::npos;
  int rows = 0;
  bool long_name = false;
  while (std::getline(lines, line)) {
    if (line.size() < 3 || line.compare(line.size() - 3, 3, " ms") != 0) continue;
    long_name = long_name || line.find("encoder.layers.0.downsample.dwconv") != std::string::npos;
    if (column == std::string::npos) column = line.size();
    CHECK_MESSAGE(line.size() == column, line);
    ++rows;
  }
  CHECK(rows > 10);
  CHECK(long_name);
}

}  // namespace
}  // namespace persam
