// The plugin modules' loader (base/module_loader.h): where it looks, and the
// errors of the CLI when a module is missing or does not load (pointed at
// other directories with PERSAM_MODULE_DIR, in child processes, so that
// this process's own loaded modules do not interfere).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "base/module_loader.h"
#include "tests/cli_test_util.h"
#include "tests/fixtures.h"

namespace persam {
namespace {

using testing::MakeTempDir;
using testing::RunCli;

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// `persam args` with PERSAM_MODULE_DIR=dir.
testing::CliRun PersamWithModuleDir(const std::string& dir, const std::string& args) {
  const char* exe = std::getenv("PERSAM_EXE");
  REQUIRE_MESSAGE(exe != nullptr, "PERSAM_EXE must point at the persam binary");
  return RunCli("env", "PERSAM_MODULE_DIR='" + dir + "' '" + exe + "' " + args);
}

TEST_CASE("module search directories: PERSAM_MODULE_DIR alone, else next to the binary, then the install dir") {
  CHECK(ModuleSearchDirs("/opt/p/bin", "/tmp/mods") == std::vector<std::string>{"/tmp/mods"});
  const std::vector<std::string> dirs = ModuleSearchDirs("/opt/p/bin", "");
  REQUIRE(dirs.size() == 4);
  CHECK(dirs == ModuleSearchDirs("/opt/p/bin", nullptr));
  CHECK(dirs[0] == "/opt/p/bin/persam");          // libpersam.so in libdir
  CHECK(dirs[1].rfind("/opt/p/bin/../", 0) == 0);  // the executable in bindir: <libdir>/persam
  CHECK(dirs[1].substr(dirs[1].size() - 7) == "/persam");
  CHECK(dirs[2] == "/opt/p/bin/../modules");       // the build tree
  CHECK(dirs[3].front() == '/');                   // the configured install dir
  CHECK(dirs[3].substr(dirs[3].size() - 7) == "/persam");
}

TEST_CASE("a module of another build (another interface version) is refused naming it and the versions") {
  CHECK_NOTHROW(CheckModuleVersion("libpersam_heif.so", 3, 3, "image 'a.heic'"));
  CHECK_THROWS_WITH_AS(CheckModuleVersion("libpersam_heif.so", 2, 3, "image 'a.heic'"),
                       "image 'a.heic': libpersam_heif.so is from another persam build (interface version 2, "
                       "expected 3)",
                       Error);
  CHECK_THROWS_WITH_AS(CheckModuleVersion("libpersam_http.so", 0, 1, ""),
                       "libpersam_http.so is from another persam build (interface version 0, expected 1)", Error);
}

TEST_CASE("the loader's binary is this test, one level below the build root, where build/modules is") {
  const std::string dir = LoaderBinaryDir();
  CHECK(dir.front() == '/');
  CHECK(dir.substr(dir.size() - 6) == "/tests");
}

TEST_CASE("a missing or unloadable module is a clear error naming it") {
  const std::string empty = MakeTempDir("persam_no_modules");
  const std::string broken = MakeTempDir("persam_broken_modules");
  const std::string sha(64, 'a');
  SUBCASE("download: not found, with the directory searched and the variable to set") {
    const auto r = PersamWithModuleDir(empty, "download --url http://127.0.0.1:1/a.pth --sha256 " + sha +
                                                  " --dir " + empty + "/out");
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "cannot download http://127.0.0.1:1/a.pth: could not find "
                                     "libpersam_download.so (the downloader, libcurl and libcrypto) in " + empty),
                  r.output);
    CHECK(Contains(r.output, "set PERSAM_MODULE_DIR"));
  }
  SUBCASE("download: a file that is no shared library gives the path and the loader's reason") {
    // Longer than an ELF header, so that the loader reads it and refuses it.
    std::ofstream(broken + "/libpersam_download.so") << std::string(256, 'x');
    const auto r = PersamWithModuleDir(broken, "download --url http://127.0.0.1:1/a.pth --sha256 " + sha +
                                                   " --dir " + broken + "/out");
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "could not load " + broken + "/libpersam_download.so (the downloader, "
                                     "libcurl and libcrypto): "),
                  r.output);
    CHECK(Contains(r.output, "invalid ELF header"));
  }
  SUBCASE("serve: not found, before listening") {
    if (!testing::HaveFixtures("module_loader_serve")) return;
    const auto r = PersamWithModuleDir(empty, "serve --model " + testing::FixturePath("models/sam_vit_tiny.pth") +
                                                  " --port 0");
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "could not find libpersam_http.so (the HTTP server, cpp-httplib) in " + empty),
                  r.output);
  }
#if PERSAM_HAVE_FFMPEG
  SUBCASE("video file: not found, naming the video") {
    if (!testing::HaveFixtures("module_loader_video")) return;
    // Any file: the module is loaded before the file is opened.
    const std::string clip = empty + "/clip.mp4";
    std::ofstream(clip) << "x";
    const auto r = PersamWithModuleDir(empty, "video --model " + testing::FixturePath("models/sam_vit_tiny.pth") +
                                                  " --video " + clip + " --first-mask " +
                                                  testing::FixturePath("perseg-mini/Images/cat/01.png") + " --out " +
                                                  empty + "/out");
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "video '" + clip + "': could not find libpersam_ffmpeg.so (the video-file reader, "
                                     "FFmpeg) in " + empty),
                  r.output);
  }
#endif
#if PERSAM_HAVE_HEIF
  SUBCASE("HEIF image: not found, naming the image") {
    if (!testing::HaveFixtures("module_loader_heif")) return;
    // A HEIF header is enough: the module is loaded before any decoding.
    const std::string heic = empty + "/photo.heic";
    std::ofstream(heic, std::ios::binary) << std::string("\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24);
    const auto r = PersamWithModuleDir(empty, "segment --model " + testing::FixturePath("models/sam_vit_tiny.pth") +
                                                  " --image " + heic + " --point 1,1 --out " + empty + "/out");
    CHECK(r.code == 1);
    CHECK_MESSAGE(Contains(r.output, "image '" + heic + "': could not find libpersam_heif.so (the HEIF decoder, "
                                     "libheif) in " + empty),
                  r.output);
  }
#endif
  REQUIRE(std::system(("rm -rf '" + empty + "' '" + broken + "'").c_str()) == 0);
}

}  // namespace
}  // namespace persam
