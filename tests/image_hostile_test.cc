// Issue 15's hostile images: each decoded in a child process, which must
// fail with a clear error, quickly and within a small peak RSS (measured
// from a reset high-water mark, so the test binary's own memory is not
// counted). Peak and time are printed for the closing note.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "base/error.h"
#include "engine/image.h"
#include "tests/cli_test_util.h"
#include "tests/image_test_files.h"

namespace persam {
namespace {

using testing::Bytes;

struct ChildResult {
  std::string message;  // the decoder's error, or "decoded" / a crash note
  long peak_kib = -1;   // VmHWM after reset, in KiB
  double seconds = 0;
};

long HighWaterKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Decodes `bytes` in a forked child (through DecodeImage, as uploads are).
ChildResult DecodeInChild(const Bytes& bytes, const std::string& name) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    // "5" resets the peak RSS to the current RSS (Linux >= 4.0).
    const int clear = open("/proc/self/clear_refs", O_WRONLY);
    const bool reset = clear >= 0 && write(clear, "5", 1) == 1;
    if (clear >= 0) close(clear);
    const long base = HighWaterKib();
    std::string message = "decoded";
    try {
      DecodeImage(bytes.data(), bytes.size(), name);
    } catch (const Error& e) {
      message = e.what();
    }
    const long peak = reset ? HighWaterKib() : -1;
    const std::string report = std::to_string(peak < 0 ? -1 : peak - base) + "\n" + message;
    if (write(fds[1], report.data(), report.size()) < 0) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) report.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ChildResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    result.message = "child died (status " + std::to_string(status) + ")";
    return result;
  }
  const size_t eol = report.find('\n');
  result.peak_kib = std::stol(report.substr(0, eol));
  result.message = report.substr(eol + 1);
  return result;
}

// The bounds every hostile file must stay under: the issue measured
// 1.5-4.5 GB and 40-167 s for these files.
constexpr long kMaxPeakKib = 64 * 1024;
constexpr double kMaxSeconds = 10.0;

void ExpectRefused(const Bytes& bytes, const std::string& name, const std::string& expected) {
  const ChildResult r = DecodeInChild(bytes, name);
  MESSAGE(name << " (" << bytes.size() << " bytes): peak +" << r.peak_kib << " KiB, " << r.seconds
               << " s: " << r.message);
  CAPTURE(r.message);
  CHECK(r.message.find("image '" + name + "': " + expected) == 0);
  if (r.peak_kib >= 0) CHECK(r.peak_kib < kMaxPeakKib);
  CHECK(r.seconds < kMaxSeconds);
}

TEST_CASE("Hostile BMP headers: refused before any pixel is allocated") {
  const Bytes square = testing::MakeHostileBmp(17000, 17000);
  REQUIRE(square.size() == 126);
  ExpectRefused(square, "17000x17000.bmp", "BMP header claims 17000 x 17000 pixels, more than the limit");
  ExpectRefused(testing::MakeHostileBmp(16777216, 16), "16777216x16.bmp",
                "BMP header claims 16777216 x 16 pixels, more than the limit");
  // Height -2^31 (top-down): its magnitude does not fit an int32 (stb's
  // signed overflow under UBSan).
  ExpectRefused(testing::MakeHostileBmp(4, INT32_MIN), "min_height.bmp",
                "BMP header claims 4 x 2147483648 pixels, more than the limit of 536870911 per side");
  // Within the pixel limit, the data check catches what the limit lets through.
  ExpectRefused(testing::MakeHostileBmp(4000, 4000), "4000x4000.bmp", "BMP file ends before its pixels do");
}

TEST_CASE("Hostile RLE TGA: the packets must cover the claimed pixels") {
  const Bytes tga = testing::MakeHostileTga(17000, 17000);
  REQUIRE(tga.size() == 30);
  ExpectRefused(tga, "17000x17000.tga", "TGA header claims 17000 x 17000 pixels, more than the limit");
  ExpectRefused(testing::MakeHostileTga(10000, 10000), "10000x10000.tga",
                "TGA file ends before its pixels do (RLE packets cover 12 of 100000000 pixels)");
}

TEST_CASE("Hostile PNGs: gigapixel zero images refused from the header") {
  const Bytes grey = testing::MakeZeroPng(20000, 20000, 0);
  const Bytes rgb = testing::MakeZeroPng(18000, 18000, 2);
  MESSAGE("generated PNGs: grey " << grey.size() << " bytes, RGB " << rgb.size() << " bytes");
  ExpectRefused(grey, "20000x20000.png", "PNG header claims 20000 x 20000 pixels, more than the limit");
  ExpectRefused(rgb, "18000x18000.png", "PNG header claims 18000 x 18000 pixels, more than the limit");
  // Within the limit but cut in half: refused (rows are decoded into
  // an image grown row by row, so a cut costs only the rows present).
  Bytes cut = testing::MakeZeroPng(4000, 4000, 2);
  cut.resize(cut.size() / 2);
  ExpectRefused(cut, "cut_4000.png", "PNG data is cut or corrupt");
}

// A baseline greyscale JPEG header claiming width x height (quantisation
// table of ones, one-symbol Huffman tables) and `scan_bytes` zero bytes of
// scan data, no EOI.
Bytes JpegHeaderOnly(uint16_t width, uint16_t height, size_t scan_bytes) {
  Bytes jpeg = {0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00};
  jpeg.insert(jpeg.end(), 64, 1);
  const uint8_t sof[] = {0xFF, 0xC0, 0x00, 0x0B, 0x08, uint8_t(height >> 8), uint8_t(height), uint8_t(width >> 8),
                         uint8_t(width), 0x01, 0x01, 0x11, 0x00};
  jpeg.insert(jpeg.end(), sof, sof + sizeof(sof));
  const uint8_t dht[] = {0xFF, 0xC4, 0x00, 0x26, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                         0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  jpeg.insert(jpeg.end(), dht, dht + sizeof(dht));
  const uint8_t sos[] = {0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00};
  jpeg.insert(jpeg.end(), sos, sos + sizeof(sos));
  jpeg.insert(jpeg.end(), scan_bytes, 0x00);
  return jpeg;
}

TEST_CASE("Hostile JPEGs: corrupt and cut files refused, bounded") {
  // 60000 x 2900 (174 Mpx, under the pixel limit) in 166 bytes: it would
  // need 340 KB of scan data at the least, so it is refused before libjpeg
  // allocates anything.
  ExpectRefused(JpegHeaderOnly(60000, 2900, 32), "claims_60000.jpg",
                "JPEG header claims 60000 x 2900 pixels, which need at least 340313 bytes of coded data");
  // Plausibly sized but cut: refused at the end of the data.
  ExpectRefused(JpegHeaderOnly(2000, 2000, 9000), "cut_2000.jpg", "cannot decode JPEG (Premature end of JPEG file)");
  // Garbage after a JPEG signature.
  ExpectRefused({0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF, 0x12, 0x34}, "garbage.jpg", "cannot decode JPEG");
}

void WriteFile(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

TEST_CASE("persam --max-image-pixels: the CLI's limit, hostile files refused by a command") {
  // `persam eval` reads PNG-named masks without a model; the decoder goes by
  // the bytes, so the hostile BMP named 01.png is caught as a BMP.
  const std::string dir = testing::MakeTempDir("persam_image_cli_");
  for (const char* side : {"/gt/a", "/pred/a"}) {
    REQUIRE(std::system(("mkdir -p '" + dir + side + "'").c_str()) == 0);
    WriteFile(dir + side + "/00.png", testing::MakePng(10, 10, 8, 0, std::vector<Bytes>(10, Bytes(10, 255))));
    WriteFile(dir + side + "/01.png", testing::MakePng(10, 10, 8, 0, std::vector<Bytes>(10, Bytes(10, 255))));
  }
  const std::string args = "eval --gt '" + dir + "/gt' --pred '" + dir + "/pred'";
  CHECK(testing::RunPersam(args).code == 0);
  const testing::CliRun limited = testing::RunPersam(args + " --max-image-pixels 99");
  CHECK(limited.code == 1);
  CHECK(limited.output.find("PNG header claims 10 x 10 pixels, more than the limit of 99 pixels") !=
        std::string::npos);
  CHECK(testing::RunPersam(args + " --max-image-pixels -1").code == 2);
  WriteFile(dir + "/pred/a/01.png", testing::MakeHostileBmp(17000, 17000));
  const testing::CliRun hostile = testing::RunPersam(args);
  CHECK(hostile.code == 1);
  CHECK(hostile.output.find("01.png': BMP header claims 17000 x 17000 pixels") != std::string::npos);
  std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
}  // namespace persam
