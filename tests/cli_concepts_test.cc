// `persam learn` / `find` / `inspect NAME.concept` as a user runs them, on a
// random-weight ViT-tiny SAM and small synthetic photos (a textured disk on
// a gradient, moved and pasted twice): find with the default options gives
// personalize's masks, the gate, cut-outs, and the refusals.
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/image.h"
#include "tests/cli_test_util.h"
#include "tests/concept_scenes.h"
#include "weights/json.h"
#include "weights/random_checkpoint.h"

namespace persam {
namespace {
namespace fs = std::filesystem;

// Made once per process: models, reference, targets.
struct Setup {
  std::string dir = testing::MakeTempDir("persam_cli_concepts");
  std::string model = dir + "/model.safetensors", other = dir + "/other.safetensors";
  std::string ref = dir + "/ref.png", ref_mask = dir + "/ref_mask.png", targets = dir + "/targets";
  Setup() {
    WriteRandomSamCheckpoint(model, SamVitTinyTestConfig(), 1);
    WriteRandomSamCheckpoint(other, SamVitTinyTestConfig(), 2);
    testing::WriteDiskReference({{60, 50}}, ref, ref_mask);
    fs::create_directories(targets + "/more");
    SavePng(targets + "/moved.png", testing::DiskPhoto({{110, 70}}));
    SavePng(targets + "/more/two.png", testing::DiskPhoto({{40, 40}, {120, 85}}));
  }
};
const Setup& Files() {
  static const Setup setup;
  return setup;
}

testing::CliRun Persam(const std::string& args) { return testing::RunPersam(args); }

std::vector<JsonValue> ResultLines(const std::string& dir) {
  std::ifstream in(dir + "/results.jsonl");
  std::vector<JsonValue> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(ParseJson(line.data(), line.size(), "results.jsonl"));
  return lines;
}

std::vector<uint8_t> Grey(const std::string& path, int* w, int* h) {
  int c = 0;
  unsigned char* data = stbi_load(path.c_str(), w, h, &c, 1);
  REQUIRE_MESSAGE(data != nullptr, path);
  std::vector<uint8_t> out(data, data + static_cast<size_t>(*w) * *h);
  stbi_image_free(data);
  return out;
}

std::string Learn(const std::string& name, bool finetune) {
  const Setup& s = Files();
  const std::string out = s.dir + "/" + name;
  if (fs::exists(out)) return out;  // learned by an earlier test case
  const testing::CliRun r = Persam("learn --model " + s.model + " --ref-image " + s.ref + " --ref-mask " + s.ref_mask +
                                   (finetune ? " --finetune" : "") + " --out " + out);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  return out;
}

TEST_CASE("learn, inspect, find: one reference and the default options give personalize's masks") {
  const Setup& s = Files();
  for (bool finetune : {false, true}) {
    INFO("finetune " << finetune);
    const std::string concept_path = Learn(finetune ? "f.concept" : "p.concept", finetune);
    const testing::CliRun info = Persam("inspect " + concept_path);
    REQUIRE_MESSAGE(info.code == 0, info.output);
    CHECK(info.output.find(finetune ? "PerSAM-F" : "PerSAM (persam)") != std::string::npos);
    CHECK(info.output.find("model.safetensors") != std::string::npos);
    CHECK(info.output.find("in-mask similarity peak") != std::string::npos);

    const std::string find_dir = s.dir + "/find" + std::to_string(finetune);
    const testing::CliRun found =
        Persam("find --model " + s.model + " --concept " + concept_path + " --cutout --out " + find_dir + " " + s.targets);
    REQUIRE_MESSAGE(found.code == 0, found.output);
    const std::string pers_dir = s.dir + "/pers" + std::to_string(finetune);
    const testing::CliRun pers =
        Persam("personalize --model " + s.model + " --ref-image " + s.ref + " --ref-mask " + s.ref_mask +
               (finetune ? " --finetune" : "") + " --no-vis --out " + pers_dir + " " + s.targets + "/moved.png " +
               s.targets + "/more/two.png");
    REQUIRE_MESSAGE(pers.code == 0, pers.output);

    const std::vector<JsonValue> lines = ResultLines(find_dir);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].At("name").AsString() == "more/two");  // sorted by path inside the folder
    CHECK(lines[1].At("name").AsString() == "moved");
    for (const JsonValue& line : lines) {
      const std::string name = line.At("name").AsString();
      INFO(name);
      CHECK(line.At("present").AsBool());
      CHECK(line.At("similarity").AsDouble() > 0.5);
      REQUIRE(line.At("instances").size() == 1);
      const JsonValue& inst = line.At("instances").Items()[0];
      const RgbImage expected = LoadImage(pers_dir + "/" + fs::path(name).filename().string() + ".png");
      int w = 0, h = 0;
      const std::vector<uint8_t> labels = Grey(find_dir + "/" + line.At("labels").AsString(), &w, &h);
      const std::vector<uint8_t> mask = Grey(find_dir + "/" + inst.At("mask").AsString(), &w, &h);
      REQUIRE(w == expected.width);
      REQUIRE(h == expected.height);
      int64_t area = 0, differ = 0;
      int x0 = w, y0 = h, x1 = -1, y1 = -1;
      for (int i = 0; i < w * h; ++i) {
        const bool on = expected.pixels[3 * i] == 128;
        differ += (labels[i] == 1) != on || (mask[i] == 255) != on;
        if (on) {
          ++area;
          x0 = std::min(x0, i % w), x1 = std::max(x1, i % w), y0 = std::min(y0, i / w), y1 = std::max(y1, i / w);
        }
      }
      CHECK(differ == 0);
      CHECK(inst.At("area").AsInt64() == area);
      const auto& box = inst.At("bbox").Items();
      CHECK(box[0].AsInt64() == x0);
      CHECK(box[1].AsInt64() == y0);
      CHECK(box[2].AsInt64() == x1);
      CHECK(box[3].AsInt64() == y1);
      // --cutout: the box of the image, alpha == the mask.
      int cw = 0, ch = 0, cc = 0;
      unsigned char* rgba = stbi_load((find_dir + "/" + inst.At("cutout").AsString()).c_str(), &cw, &ch, &cc, 4);
      REQUIRE(rgba != nullptr);
      CHECK(cw == x1 - x0 + 1);
      CHECK(ch == y1 - y0 + 1);
      int64_t alpha_wrong = 0;
      for (int y = 0; y < ch && cw == x1 - x0 + 1; ++y) {
        for (int x = 0; x < cw; ++x) alpha_wrong += rgba[(y * cw + x) * 4 + 3] != mask[(y + y0) * w + x + x0];
      }
      stbi_image_free(rgba);
      CHECK(alpha_wrong == 0);
    }
  }
}

TEST_CASE("find: --min-similarity above every score leaves every image absent and empty; 0 keeps all") {
  const Setup& s = Files();
  const std::string concept_path = Learn("p.concept", false);
  const std::string base =
      "find --model " + s.model + " --concept " + concept_path + " --no-overlay " + s.targets + "/more";
  const testing::CliRun none = Persam(base + " --min-similarity 1000 --out " + s.dir + "/none");
  REQUIRE_MESSAGE(none.code == 0, none.output);
  for (const JsonValue& line : ResultLines(s.dir + "/none")) {
    CHECK_FALSE(line.At("present").AsBool());
    CHECK(line.At("instances").size() == 0);
    int w = 0, h = 0;
    const std::vector<uint8_t> labels = Grey(s.dir + "/none/" + line.At("labels").AsString(), &w, &h);
    CHECK(std::count(labels.begin(), labels.end(), 0) == w * h);
  }
  CHECK_FALSE(fs::exists(s.dir + "/none/masks"));
  const testing::CliRun all = Persam(base + " --min-similarity 0 --out " + s.dir + "/all");
  REQUIRE_MESSAGE(all.code == 0, all.output);
  const std::vector<JsonValue> lines = ResultLines(s.dir + "/all");
  CHECK(lines.size() == 1);
  for (const JsonValue& line : lines) CHECK(line.At("present").AsBool());
}

TEST_CASE("find: another model, a truncated or foreign concept, bad options: refused, nothing written") {
  const Setup& s = Files();
  const std::string concept_path = Learn("p.concept", false);
  const std::string out = s.dir + "/refused";
  const testing::CliRun other =
      Persam("find --model " + s.other + " --concept " + concept_path + " --out " + out + " " + s.targets);
  CHECK(other.code != 0);
  CHECK(other.output.find("p.concept") != std::string::npos);
  CHECK(other.output.find("model.safetensors") != std::string::npos);
  CHECK(other.output.find("other.safetensors") != std::string::npos);
  std::ifstream in(concept_path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string cut = s.dir + "/cut.concept";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 5);
  for (const std::string& bad : {cut, s.model}) {
    const testing::CliRun r = Persam("find --model " + s.model + " --concept " + bad + " --out " + out + " " + s.targets);
    CHECK(r.code != 0);
    CHECK(r.output.find("concept '" + bad + "'") != std::string::npos);
  }
  const testing::CliRun inspect = Persam("inspect " + cut);
  CHECK(inspect.code != 0);
  CHECK(inspect.output.find("cut.concept") != std::string::npos);
  for (const char* opt : {"--instances 0", "--instances some", "--max-overlap 2", "--min-similarity x"}) {
    const testing::CliRun r =
        Persam("find --model " + s.model + " --concept " + concept_path + " " + opt + " --out " + out + " " + s.targets);
    CHECK(r.code == 2);
  }
  const testing::CliRun missing = Persam("find --model " + s.model + " --concept " + concept_path + " --out " + out +
                                         " " + s.dir + "/no_such_folder");
  CHECK(missing.code != 0);
  CHECK(missing.output.find("no_such_folder") != std::string::npos);
  CHECK_FALSE(fs::exists(out));
  const testing::CliRun learn = Persam("learn --model " + s.model + " --ref-image " + s.ref + " --out " + out + ".c");
  CHECK(learn.code == 2);
  CHECK_FALSE(fs::exists(out + ".c"));
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST_CASE("find: --keep-going records a corrupt image and goes on; without it the run stops naming the file") {
  const Setup& s = Files();
  const std::string concept_path = Learn("p.concept", false);
  const std::string folder = s.dir + "/with_bad";
  fs::create_directories(folder);
  fs::copy_file(s.targets + "/moved.png", folder + "/moved.png", fs::copy_options::overwrite_existing);
  std::ofstream(folder + "/bad.png") << "not a png";
  const std::string base = "find --model " + s.model + " --concept " + concept_path + " --no-overlay " + folder;
  const testing::CliRun stop = Persam(base + " --out " + s.dir + "/stop");
  CHECK(stop.code != 0);
  CHECK(stop.output.find("bad.png") != std::string::npos);
  CHECK_FALSE(fs::exists(s.dir + "/stop/labels/bad.png"));
  const testing::CliRun go = Persam(base + " --keep-going --out " + s.dir + "/go");
  REQUIRE_MESSAGE(go.code == 0, go.output);
  CHECK(go.output.find("1 image(s) failed") != std::string::npos);
  const std::vector<JsonValue> lines = ResultLines(s.dir + "/go");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].At("name").AsString() == "bad");
  CHECK(lines[0].At("error").AsString().find("bad.png") != std::string::npos);
  CHECK_FALSE(lines[0].At("present").AsBool());
  CHECK(lines[1].At("name").AsString() == "moved");
  CHECK(lines[1].At("present").AsBool());
}

TEST_CASE("find: --resume after an interrupted run and --cache give identical results") {
  const Setup& s = Files();
  const std::string concept_path = Learn("p.concept", false);
  const std::string base = "find --model " + s.model + " --concept " + concept_path + " --instances 2 --cache " +
                           s.dir + "/cache " + s.targets;
  const testing::CliRun full = Persam(base + " --out " + s.dir + "/full");
  REQUIRE_MESSAGE(full.code == 0, full.output);
  CHECK(full.output.find("0 embedding(s) from the cache") != std::string::npos);
  const std::string expected = ReadText(s.dir + "/full/results.jsonl");
  // Interrupted: the first line complete, the second cut off.
  const size_t first = expected.find('\n');
  REQUIRE(first != std::string::npos);
  std::ofstream(s.dir + "/full/results.jsonl", std::ios::binary) << expected.substr(0, first + 1 + 20);
  const testing::CliRun resumed = Persam(base + " --resume --out " + s.dir + "/full");
  REQUIRE_MESSAGE(resumed.code == 0, resumed.output);
  CHECK(resumed.output.find("1 image(s) processed") != std::string::npos);
  CHECK(resumed.output.find("1 image(s) already done") != std::string::npos);
  CHECK(ReadText(s.dir + "/full/results.jsonl") == expected);
  const testing::CliRun again = Persam(base + " --out " + s.dir + "/again");
  REQUIRE_MESSAGE(again.code == 0, again.output);
  CHECK(again.output.find("2 embedding(s) from the cache") != std::string::npos);
  CHECK(ReadText(s.dir + "/again/results.jsonl") == expected);
  CHECK(ReadText(s.dir + "/again/labels/moved.png") == ReadText(s.dir + "/full/labels/moved.png"));
}

TEST_CASE("personalize: folders as targets; --keep-going reports a corrupt image and goes on; by default it stops first") {
  const Setup& s = Files();
  const std::string folder = s.dir + "/p_with_bad";
  fs::create_directories(folder + "/sub");
  fs::copy_file(s.targets + "/moved.png", folder + "/moved.png", fs::copy_options::overwrite_existing);
  fs::copy_file(s.targets + "/more/two.png", folder + "/sub/two.png", fs::copy_options::overwrite_existing);
  std::ofstream(folder + "/bad.png") << "not a png";
  const std::string base = "personalize --model " + s.model + " --ref-image " + s.ref + " --ref-mask " + s.ref_mask +
                           " --no-vis " + folder;
  const testing::CliRun stop = Persam(base + " --out " + s.dir + "/p_stop");
  CHECK(stop.code != 0);
  CHECK(stop.output.find("bad.png") != std::string::npos);
  CHECK_FALSE(fs::exists(s.dir + "/p_stop/moved.png"));  // nothing written
  const testing::CliRun go = Persam(base + " --keep-going --out " + s.dir + "/p_go --report " + s.dir + "/p_go.json");
  REQUIRE_MESSAGE(go.code == 0, go.output);
  CHECK(go.output.find("2 image(s) in 1 object(s)") != std::string::npos);
  CHECK(go.output.find("1 image(s) failed") != std::string::npos);
  CHECK(go.output.find("skipped (--keep-going)") != std::string::npos);
  CHECK(fs::exists(s.dir + "/p_go/moved.png"));
  CHECK(fs::exists(s.dir + "/p_go/sub/two.png"));
  CHECK_FALSE(fs::exists(s.dir + "/p_go/bad.png"));
  const JsonValue report = ParseJsonFile(s.dir + "/p_go.json");
  CHECK(report.At("failed").AsInt64() == 1);
  const auto& targets = report.At("objects").Items()[0].At("targets").Items();
  REQUIRE(targets.size() == 3);
  CHECK(targets[0].At("name").AsString() == "bad");
  CHECK(targets[0].At("error").AsString().find("bad.png") != std::string::npos);
  CHECK(targets[1].At("error").IsNull());
}

TEST_CASE("personalize: --resume after an interrupted run writes identical results and skips the finished") {
  const Setup& s = Files();
  const std::string base = "personalize --model " + s.model + " --ref-image " + s.ref + " --ref-mask " + s.ref_mask +
                           " --finetune " + s.targets;
  const testing::CliRun full = Persam(base + " --out " + s.dir + "/p_full");
  REQUIRE_MESSAGE(full.code == 0, full.output);
  const std::string moved = ReadText(s.dir + "/p_full/moved.png"), two = ReadText(s.dir + "/p_full/more/two.png");
  const std::string two_vis = ReadText(s.dir + "/p_full/more/vis_mask_two.jpg");
  REQUIRE(!two.empty());
  // Interrupted before "more/two" finished: its mask (written last) is missing.
  fs::remove(s.dir + "/p_full/more/two.png");
  const testing::CliRun resumed = Persam(base + " --resume --out " + s.dir + "/p_full");
  REQUIRE_MESSAGE(resumed.code == 0, resumed.output);
  CHECK(resumed.output.find("1 image(s) in 1 object(s)") != std::string::npos);
  CHECK(resumed.output.find("1 image(s) already done") != std::string::npos);
  CHECK(ReadText(s.dir + "/p_full/more/two.png") == two);
  CHECK(ReadText(s.dir + "/p_full/more/vis_mask_two.jpg") == two_vis);
  CHECK(ReadText(s.dir + "/p_full/moved.png") == moved);
  // Everything done: nothing is computed, not even the reference.
  const testing::CliRun again = Persam(base + " --resume --out " + s.dir + "/p_full --verbose");
  REQUIRE_MESSAGE(again.code == 0, again.output);
  CHECK(again.output.find("0 image(s) in 1 object(s)") != std::string::npos);
  CHECK(again.output.find("fine-tuning") == std::string::npos);
  CHECK(Persam(base + " --resume").code != 0);  // --resume needs --out
}

}  // namespace
}  // namespace persam
