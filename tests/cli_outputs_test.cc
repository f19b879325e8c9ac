// What the CLI writes, against a hostile or stale output folder: symlinks are
// replaced, never written through; stale files of the command's own names
// are removed, others kept; inputs and the output folder are checked before
// anything is written or the model loaded. Also the CLI's refusal of a
// checkpoint SAM does not define, with its peak RSS.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/image.h"
#include "tests/cli_test_util.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

bool IsSymlink(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// A random-weight SAM with the tests' small ViT and a 96 x 64 image.
struct Inputs {
  std::string dir, model, image;
};

Inputs MakeInputs(const SamConfig& config = SamVitTinyTestConfig()) {
  Inputs in;
  in.dir = testing::MakeTempDir("persam_outputs_test");
  in.model = in.dir + "/model.safetensors";
  WriteRandomSamCheckpoint(in.model, config, 7);
  RgbImage image;
  image.height = 64;
  image.width = 96;
  image.pixels.assign(64 * 96 * 3, 0);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 7 % 251);
  in.image = in.dir + "/image.png";
  SavePng(in.image, image);
  return in;
}

TEST_CASE("segment: a symlink in the output folder is replaced, its target untouched; stale masks removed") {
  const Inputs in = MakeInputs();
  const std::string out = in.dir + "/out";
  REQUIRE(mkdir(out.c_str(), 0755) == 0);
  const std::string victim = in.dir + "/victim.txt";
  Write(victim, "precious");
  REQUIRE(symlink(victim.c_str(), (out + "/overlay.png").c_str()) == 0);
  Write(out + "/mask_1.png", "stale");
  Write(out + "/mask_2.png", "stale");
  Write(out + "/notes.txt", "mine");
  const testing::CliRun r = testing::RunPersam("segment --model " + in.model + " --image " + in.image +
                                               " --point 40,30 --out " + out);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(Read(victim) == "precious");
  CHECK(!IsSymlink(out + "/overlay.png"));
  CHECK(Read(out + "/overlay.png").compare(1, 3, "PNG") == 0);
  CHECK(testing::PathExists(out + "/mask_0.png"));
  CHECK(!testing::PathExists(out + "/mask_1.png"));  // one mask this run
  CHECK(!testing::PathExists(out + "/mask_2.png"));
  CHECK(Read(out + "/notes.txt") == "mine");         // not a name segment writes
  // Written through a temporary file, but with a plain create's permissions.
  struct stat st;
  REQUIRE(stat((out + "/mask_0.png").c_str(), &st) == 0);
  const mode_t mask = umask(022);
  umask(mask);
  CHECK((st.st_mode & 0777) == (0666 & ~mask));
}

TEST_CASE("everything: stale NNN.png of an earlier run are removed, other files kept") {
  const Inputs in = MakeInputs();
  const std::string out = in.dir + "/out";
  REQUIRE(mkdir(out.c_str(), 0755) == 0);
  for (int i = 0; i < 12; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "/%03d.png", i);
    Write(out + name, "stale");
  }
  Write(out + "/notes.txt", "mine");
  const testing::CliRun r = testing::RunPersam("everything --model " + in.model + " --image " + in.image +
                                               " --points-per-side 4 --out " + out);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  const std::string json = Read(out + "/masks.json");
  int records = 0;
  for (size_t at = json.find("\"segmentation\""); at != std::string::npos; at = json.find("\"segmentation\"", at + 1)) {
    ++records;
  }
  CAPTURE(records);
  for (int i = 0; i < 12; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "/%03d.png", i);
    CAPTURE(name);
    if (i < records) {
      CHECK(Read(out + name) != "stale");
    } else {
      CHECK(!testing::PathExists(out + name));
    }
  }
  CHECK(Read(out + "/notes.txt") == "mine");
}

TEST_CASE("convert and embed: a symlink at the output path is replaced, its target untouched") {
  const Inputs in = MakeInputs();
  const std::string victim = in.dir + "/victim.txt";
  Write(victim, "precious");
  const std::string converted = in.dir + "/converted.safetensors";
  REQUIRE(symlink(victim.c_str(), converted.c_str()) == 0);
  testing::CliRun r = testing::RunPersam("convert " + in.model + " " + converted + " --dtype f16");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(Read(victim) == "precious");
  CHECK(!IsSymlink(converted));
  const std::string emb = in.dir + "/e.npy";
  REQUIRE(symlink(victim.c_str(), emb.c_str()) == 0);
  REQUIRE(symlink(victim.c_str(), (emb + ".json").c_str()) == 0);
  r = testing::RunPersam("embed --model " + in.model + " --image " + in.image + " --out " + emb);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(Read(victim) == "precious");
  CHECK(!IsSymlink(emb));
  CHECK(!IsSymlink(emb + ".json"));
  CHECK(Read(emb).compare(1, 5, "NUMPY") == 0);
}

TEST_CASE("segment / embed: an unwritable output location is an error before the model is read") {
  const Inputs in = MakeInputs();
  Write(in.dir + "/file", "x");
  // The model path does not exist: an error about it would mean the
  // output was checked after loading.
  const std::string missing = in.dir + "/missing.safetensors";
  testing::CliRun r = testing::RunPersam("segment --model " + missing + " --image " + in.image +
                                         " --point 4,4 --out " + in.dir + "/file/sub");
  CHECK(r.code != 0);
  CHECK_MESSAGE(r.output.find("--out") != std::string::npos, r.output);
  CHECK(r.output.find("missing.safetensors") == std::string::npos);
  r = testing::RunPersam("embed --model " + missing + " --image " + in.image + " --out " + in.dir + "/nodir/e.npy");
  CHECK(r.code != 0);
  CHECK_MESSAGE(r.output.find("--out") != std::string::npos, r.output);
  CHECK(r.output.find("missing.safetensors") == std::string::npos);
}

TEST_CASE("personalize --dataset: a target that is not an image fails before any output is written") {
  const Inputs in = MakeInputs();
  const std::string data = in.dir + "/data";
  for (const char* sub : {"", "/Images", "/Images/obj", "/Annotations", "/Annotations/obj"}) {
    REQUIRE(mkdir((data + sub).c_str(), 0755) == 0);
  }
  const std::string image = Read(in.image);
  Write(data + "/Images/obj/00.png", image);
  Write(data + "/Annotations/obj/00.png", image);
  Write(data + "/Images/obj/01.png", "this is not an image");
  const std::string out = in.dir + "/pred";
  const testing::CliRun r =
      testing::RunPersam("personalize --model " + in.model + " --dataset " + data + " --out " + out);
  CHECK(r.code != 0);
  CHECK_MESSAGE(r.output.find("01.png") != std::string::npos, r.output);
  CHECK(!testing::PathExists(out + "/obj/00.png"));
}

TEST_CASE("segment: a SAM-shaped checkpoint with a 256 x 256 grid is refused quickly, in little memory") {
  SamConfig config = SamVitTinyTestConfig();
  config.vit.grid = 256;
  config.embed_grid = 256;
  config.image_size = 4096;
  const Inputs in = MakeInputs(config);
  const char* exe = std::getenv("PERSAM_EXE");
  REQUIRE(exe != nullptr);
  const testing::MeasuredRun r = testing::RunMeasured(
      exe, {"segment", "--model", in.model, "--image", in.image, "--point", "40,30", "--out", in.dir + "/out",
            "--threads", "2"});
  MESSAGE("grid-256 checkpoint: segment exit " << r.code << ", peak RSS " << r.max_rss_kb << " KiB, " << r.seconds
                                               << " s");
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.output.find("image size 4096 is not an architecture SAM defines") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find("--allow-unusual-model") != std::string::npos, r.output);
  CHECK(r.max_rss_kb < testing::RssBoundKb(exe, 150 * 1024));
  CHECK(r.seconds < 20.0);
}

}  // namespace
}  // namespace persam
