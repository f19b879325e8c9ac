// `persam personalize --shard I/N`: N runs split the targets (or a dataset's
// images) deterministically, without overlap, and together write exactly
// what one run writes.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "engine/image.h"
#include "tests/cli_test_util.h"
#include "tests/fixtures.h"

namespace persam {
namespace {
namespace fs = std::filesystem;
using testing::FixturePath;

testing::CliRun Persam(const std::string& args) { return testing::RunPersam(args); }

std::string TempDir() { return testing::MakeTempDir("persam_shard_test"); }

// Mask PNGs (not the visualisations) a run wrote, relative to `dir`.
std::set<std::string> MaskFiles(const std::string& dir) {
  std::set<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".png") files.insert(fs::relative(e.path(), dir).string());
  }
  return files;
}

TEST_CASE("personalize --shard: the shards partition one run's outputs, masks identical") {
  if (!testing::HaveFixtures("cli personalize --shard")) return;
  const std::string dir = TempDir();
  const std::string model = "--model " + FixturePath("models/sam_vit_tiny.pth");
  const std::string data = FixturePath("perseg-mini");
  const testing::CliRun full = Persam("personalize " + model + " --dataset " + data + " --no-vis --out " + dir + "/all");
  REQUIRE_MESSAGE(full.code == 0, full.output);
  const std::set<std::string> all = MaskFiles(dir + "/all");
  REQUIRE(all.size() >= 6);
  std::set<std::string> seen;
  for (int i = 0; i < 2; ++i) {
    const std::string out = dir + "/shard" + std::to_string(i);
    const testing::CliRun r = Persam("personalize " + model + " --dataset " + data + " --no-vis --shard " +
                                     std::to_string(i) + "/2 --out " + out);
    REQUIRE_MESSAGE(r.code == 0, r.output);
    for (const std::string& f : MaskFiles(out)) {
      CHECK_MESSAGE(seen.insert(f).second, f << " written by two shards");
      const RgbImage a = LoadImage(out + "/" + f), b = LoadImage(dir + "/all/" + f);
      CHECK(a.pixels == b.pixels);
    }
  }
  CHECK(seen == all);
}

TEST_CASE("personalize --shard: targets as files, and malformed values") {
  if (!testing::HaveFixtures("cli personalize --shard files")) return;
  const std::string dir = TempDir();
  const std::string img = FixturePath("perseg-mini/Images/cat/");
  const std::string args = "personalize --model " + FixturePath("models/sam_vit_tiny.pth") + " --ref-image " + img +
                           "00.png --ref-mask " + FixturePath("perseg-mini/Annotations/cat/00.png") + " --no-vis " +
                           img + "00.png " + img + "01.png " + img + "02.png";
  const testing::CliRun r = Persam(args + " --shard 1/2 --out " + dir + "/s");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(MaskFiles(dir + "/s") == std::set<std::string>{"01.png"});
  for (const char* bad : {"2/2", "1", "a/2", "0/0", "-1/3", "1/2/3", "0/"}) {
    INFO(bad);
    const testing::CliRun e = Persam(args + " --shard " + bad + " --out " + dir + "/bad");
    CHECK(e.code != 0);
    CHECK(e.output.find("--shard") != std::string::npos);
    CHECK(!fs::exists(dir + "/bad"));
  }
}

}  // namespace
}  // namespace persam
