// End-to-end tests of `persam embed` and `persam segment`: the binary is run
// as a user would, checking outputs, exit codes and error messages.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/cli_test_util.h"
#include "tests/fixtures.h"
#include "weights/json.h"
#include "weights/npy.h"

namespace persam {
namespace {

using testing::FixturePath;
using testing::HaveFixtures;

testing::CliRun Persam(const std::string& args) { return testing::RunPersam(args); }

std::string TempDir() { return testing::MakeTempDir("persam_cli_test"); }

bool Exists(const std::string& path) { return testing::PathExists(path); }

std::string ModelArgs() {
  return "--model " + FixturePath("models/sam_vit_tiny.pth") + " --image " +
         FixturePath("perseg-mini/Images/cat/01.png");  // 1277 x 977
}

TEST_CASE("segment rejects malformed prompts with a clear message") {
  if (!HaveFixtures("cli segment errors")) return;
  const std::string out = TempDir() + "/out";
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--point 1300,10", "outside"},
      {"--point 10,977", "outside"},
      {"--point -1,10", "outside"},
      {"--point nan,10", "not a finite number"},
      {"--point 10,inf", "not a finite number"},
      {"--point 10", "expected X,Y"},
      {"--point 10,20,2", "LABEL"},
      {"--point 10,20,1,4", "expected X,Y"},
      {"--point 10,2x", "not a finite number"},
      {"--box 100,100,50,200", "X0 <= X1"},
      {"--box 10,10,20", "expected X0,Y0,X1,Y1"},
      {"--box 0,0,2000,100", "outside"},
      {"", "at least one --point"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    const testing::CliRun r = Persam("segment " + ModelArgs() + " " + c.args + " --out " + out);
    CHECK(r.code != 0);
    CHECK_MESSAGE(r.output.find(c.message) != std::string::npos, r.output);
  }
  CHECK_FALSE(Exists(out));
}

TEST_CASE("segment and embed report unreadable inputs") {
  if (!HaveFixtures("cli input errors")) return;
  const std::string dir = TempDir();
  const std::string garbage = dir + "/garbage.png";
  FILE* f = std::fopen(garbage.c_str(), "wb");
  REQUIRE(f != nullptr);
  std::fputs("not an image", f);
  std::fclose(f);
  const std::string model = " --model " + FixturePath("models/sam_vit_tiny.pth");
  testing::CliRun r = Persam("segment" + model + " --image " + garbage + " --point 1,1 --out " + dir + "/o");
  CHECK(r.code != 0);
  CHECK(r.output.find("garbage.png") != std::string::npos);
  r = Persam("embed" + model + " --image " + dir + "/missing.png --out " + dir + "/e.npy");
  CHECK(r.code != 0);
  CHECK(r.output.find("missing.png") != std::string::npos);
  r = Persam("segment --model " + dir + "/missing.pth --image " + FixturePath("perseg-mini/Images/cat/01.png") +
             " --point 1,1 --out " + dir + "/o");
  CHECK(r.code != 0);
  CHECK(r.output.find("missing.pth") != std::string::npos);

  // Mask inputs of the wrong shape, or an index past the end.
  const std::vector<float> small(2 * 64 * 64, 0.0f);
  WriteNpyFloat32(dir + "/small.npy", {2, 64, 64}, small.data());
  r = Persam("segment " + ModelArgs() + " --point 1,1 --mask-input " + dir + "/small.npy --out " + dir + "/o");
  CHECK(r.code != 0);
  CHECK(r.output.find("small.npy") != std::string::npos);
  const std::vector<float> low(256 * 256, 0.0f);
  WriteNpyFloat32(dir + "/low.npy", {1, 256, 256}, low.data());
  r = Persam("segment " + ModelArgs() + " --point 1,1 --mask-input " + dir + "/low.npy:1 --out " + dir + "/o");
  CHECK(r.code != 0);
  CHECK(r.output.find("out of range") != std::string::npos);
  // An embedding of the wrong shape.
  r = Persam("segment " + ModelArgs() + " --point 1,1 --embedding " + dir + "/low.npy --out " + dir + "/o");
  CHECK(r.code != 0);
  CHECK(r.output.find("low.npy") != std::string::npos);
}

TEST_CASE("embed then segment with --embedding gives the same masks as segment") {
  if (!HaveFixtures("cli embed + segment")) return;
  const std::string dir = TempDir();
  testing::CliRun r = Persam("embed " + ModelArgs() + " --out " + dir + "/emb.npy");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  const Tensor emb = ReadNpy(dir + "/emb.npy");
  CHECK(emb.shape == std::vector<int64_t>{1, 256, 64, 64});

  const std::string prompt = " --point 638.5,439.65 --point 1149.3,97.7,0 --multimask --save-logits --verbose";
  r = Persam("segment " + ModelArgs() + prompt + " --out " + dir + "/a");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(r.output.find("mask_decoder") != std::string::npos);  // --verbose timings
  r = Persam("segment " + ModelArgs() + prompt + " --embedding " + dir + "/emb.npy --out " + dir + "/b");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  for (const char* name : {"mask_0.png", "mask_1.png", "mask_2.png", "overlay.png", "scores.json"}) {
    CHECK(Exists(dir + "/a/" + name));
    CHECK(Exists(dir + "/b/" + name));
  }
  const Tensor a = ReadNpy(dir + "/a/low_res.npy"), b = ReadNpy(dir + "/b/low_res.npy");
  CHECK(a.shape == std::vector<int64_t>{3, 256, 256});
  CHECK(a.ToFloat32() == b.ToFloat32());
  CHECK(ReadNpy(dir + "/a/high_res.npy").shape == std::vector<int64_t>{3, 977, 1277});
  const JsonValue scores = ParseJsonFile(dir + "/a/scores.json");
  CHECK(scores.At("scores").size() == 3);

  // The embedding of another image size is refused.
  r = Persam("segment --model " + FixturePath("models/sam_vit_tiny.pth") + " --image " +
             FixturePath("perseg-mini/Images/cat/00.png") + " --point 1,1 --embedding " + dir + "/emb.npy --out " +
             dir + "/c");
  CHECK(r.code != 0);
  CHECK(r.output.find("computed for") != std::string::npos);

  // A previous low_res as mask input (index 1), single mask.
  r = Persam("segment " + ModelArgs() + " --point 638.5,439.65 --mask-input " + dir + "/a/low_res.npy:1 --embedding " +
             dir + "/emb.npy --out " + dir + "/d");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(ReadNpy(dir + "/d/low_res.npy").shape == std::vector<int64_t>{1, 256, 256});
}

}  // namespace
}  // namespace persam
