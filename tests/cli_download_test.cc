// `persam download` against tests/http_test_server.py on loopback: right,
// wrong and truncated files, an interrupted transfer resumed, a server
// without Range support, no network, and --convert. No test needs the
// internet.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "download/sha256_file.h"
#include "tests/cli_test_util.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

using testing::PathExists;
using testing::RunPersam;

// The server runs for the whole test case and is stopped by pid.
class TestServer {
 public:
  explicit TestServer(const std::string& dir) : log_(dir + "/requests.log") {
    const std::string command = std::string("echo $$; exec python3 '") + PERSAM_SOURCE_DIR +
                                "/tests/http_test_server.py' --dir '" + dir + "' --log '" + log_ +
                                "' 2>/dev/null";
    pipe_ = popen(command.c_str(), "r");
    REQUIRE(pipe_ != nullptr);
    REQUIRE(std::fscanf(pipe_, "%d %d", &pid_, &port_) == 2);
  }
  ~TestServer() {
    kill(pid_, SIGTERM);
    pclose(pipe_);
  }
  std::string Url(const std::string& mode, const std::string& name) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + mode + "/" + name;
  }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string log_;
  FILE* pipe_ = nullptr;
  int pid_ = 0, port_ = 0;
};

long long FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_CASE("download: verified, wrong, truncated, interrupted and resumed, no range, no network") {
  const std::string root = testing::MakeTempDir("persam_download_test");
  const std::string served = root + "/served";
  REQUIRE(system(("mkdir -p '" + served + "'").c_str()) == 0);
  // A small real checkpoint (the random ViT test model), so --convert has
  // something to convert.
  // Named .pth so that --convert writes a different file (the format is
  // detected from the bytes).
  const std::string file = served + "/tiny_sam.pth";
  WriteRandomSamCheckpoint(file, SamVitTinyTestConfig(), 7);
  const std::string sha = Sha256OfFile(file);
  const long long size = FileSize(file);
  REQUIRE(size > 100000);
  TestServer server(served);
  const std::string verify = " --sha256 " + sha + " --size " + std::to_string(size);

  SUBCASE("right checksum: verified, renamed from .part, converted") {
    const std::string dir = root + "/ok";
    const auto r = RunPersam("download --url " + server.Url("ok", "tiny_sam.pth") + verify + " --dir " +
                             dir + " --convert --dtype f16");
    CHECK_MESSAGE(r.code == 0, r.output);
    CHECK(Contains(r.output, "SHA-256 verified"));
    CHECK(FileSize(dir + "/tiny_sam.pth") == size);
    CHECK(!PathExists(dir + "/tiny_sam.pth.part"));
    CHECK(Sha256OfFile(dir + "/tiny_sam.pth") == sha);
    CHECK(Contains(r.output, "floats as float16"));  // the convert command ran
    CHECK(FileSize(dir + "/tiny_sam.safetensors") > 0);
    // Run again: the present file is checked, not fetched.
    const auto again = RunPersam("download --url " + server.Url("ok", "tiny_sam.pth") + verify + " --dir " + dir);
    CHECK(again.code == 0);
    CHECK(Contains(again.output, "already present, SHA-256 verified"));
  }
  SUBCASE("wrong checksum: refused and removed") {
    const std::string dir = root + "/wrong";
    const auto r = RunPersam("download --url " + server.Url("wrong", "tiny_sam.pth") + verify + " --dir " + dir);
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "SHA-256 mismatch"), r.output);
    CHECK(Contains(r.output, sha));
    CHECK(!PathExists(dir + "/tiny_sam.pth"));
    CHECK(!PathExists(dir + "/tiny_sam.pth.part"));
  }
  SUBCASE("truncated file: refused by size, or by checksum when no size is given") {
    const std::string dir = root + "/short";
    auto r = RunPersam("download --url " + server.Url("short", "tiny_sam.pth") + verify + " --dir " + dir);
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "recorded size is " + std::to_string(size)), r.output);
    r = RunPersam("download --url " + server.Url("short", "tiny_sam.pth") + " --sha256 " + sha + " --dir " + dir);
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "SHA-256 mismatch"), r.output);
    CHECK(!PathExists(dir + "/tiny_sam.pth"));
  }
  SUBCASE("interrupted, then resumed with a Range request") {
    const std::string dir = root + "/drop";
    auto r = RunPersam("download --url " + server.Url("drop", "tiny_sam.pth") + verify + " --dir " + dir);
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "run the same command again to resume"), r.output);
    const long long partial = FileSize(dir + "/tiny_sam.pth.part");
    CHECK(partial == size / 2);
    CHECK(!PathExists(dir + "/tiny_sam.pth"));
    r = RunPersam("download --url " + server.Url("drop", "tiny_sam.pth") + verify + " --dir " + dir);
    CHECK_MESSAGE(r.code == 0, r.output);
    CHECK(Contains(r.output, "resumed after " + std::to_string(partial) + " bytes"));
    CHECK(Contains(server.Log(), "range=bytes=" + std::to_string(partial) + "-"));
    CHECK(Sha256OfFile(dir + "/tiny_sam.pth") == sha);
  }
  SUBCASE("a server without Range support: starts over and still verifies") {
    const std::string dir = root + "/norange";
    REQUIRE(system(("mkdir -p '" + dir + "' && head -c 1000 '" + file + "' > '" + dir +
                    "/tiny_sam.pth.part'").c_str()) == 0);
    const auto r = RunPersam("download --url " + server.Url("norange", "tiny_sam.pth") + verify + " --dir " + dir);
    CHECK_MESSAGE(r.code == 0, r.output);
    CHECK(Sha256OfFile(dir + "/tiny_sam.pth") == sha);
  }
  SUBCASE("official names check the recorded size and checksum, also on a mirror") {
    const std::string dir = root + "/mirror";
    REQUIRE(system(("cp '" + file + "' '" + served + "/sam_vit_b_01ec64.pth'").c_str()) == 0);
    const std::string base = server.Url("ok", "");
    const auto r = RunPersam("download vit_b --base-url " + base.substr(0, base.size() - 1) + " --dir " + dir);
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "recorded size is 375042383"), r.output);
    CHECK(!PathExists(dir + "/sam_vit_b_01ec64.pth"));
  }
  SUBCASE("no network: the URL and curl's reason") {
    const auto r = RunPersam("download vit_t --base-url http://127.0.0.1:1/mirror --dir " + root + "/none");
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "cannot download http://127.0.0.1:1/mirror/mobile_sam.pt (curl: "), r.output);
    CHECK(Contains(r.output, "connect"));
    CHECK(!PathExists(root + "/none/mobile_sam.pt.part"));
  }
  SUBCASE("usage errors") {
    struct Case {
      std::string args, message;
    };
    for (const Case& c : std::initializer_list<Case>{
             {"download vit_x", "unknown model 'vit_x'"},
             {"download", "expected one model name"},
             {"download --url http://127.0.0.1:1/a.pth", "--url needs --sha256"},
             {"download --url http://127.0.0.1:1/a.pth --sha256 12ab", "64 lower-case hex"},
             {"download vit_b --sha256 " + sha, "only apply with --url"},
         }) {
      CAPTURE(c.args);
      const auto r = RunPersam(c.args);
      CHECK(r.code == 2);
      CHECK_MESSAGE(Contains(r.output, c.message), r.output);
    }
  }
  REQUIRE(system(("rm -rf '" + root + "'").c_str()) == 0);
}

}  // namespace
}  // namespace persam
