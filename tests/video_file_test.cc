// Video files (video/video_file.cc): lossless clips made here decode to the
// exact frames they were made from, `persam video --video` gives the same
// label maps as the same frames as a folder, and bad files (truncated, no
// video stream, not a video, too large) are reported naming the file.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/image.h"
#include "tests/cli_test_util.h"
#include "tests/fixtures.h"
#include "tests/video_first_mask.h"
#include "video/label_png.h"
#include "video/video_file.h"
#if PERSAM_HAVE_FFMPEG
#include "tests/video_clip.h"
#endif

namespace persam {
namespace {

namespace fs = std::filesystem;
using testing::MakeTempDir;
using testing::PathExists;
using testing::RunPersam;

#if PERSAM_HAVE_FFMPEG

// Frames with fine detail in every channel (any chroma subsampling or
// rounding would change them) and a square that moves.
std::vector<RgbImage> Clip(int count, int height, int width) {
  std::vector<RgbImage> frames;
  for (int t = 0; t < count; ++t) {
    RgbImage im;
    im.height = height, im.width = width;
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        const bool square = x >= width / 4 + 2 * t && x < width / 2 + 2 * t && y >= height / 4 && y < height / 2;
        for (int c = 0; c < 3; ++c) {
          im.pixels.push_back(square ? static_cast<uint8_t>(200 + 20 * c) : static_cast<uint8_t>((x * 7 + y * 13 + c * 91 + t * 5) & 255));
        }
      }
    }
    frames.push_back(std::move(im));
  }
  return frames;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string Contents(const std::string& path) {
  const std::vector<uint8_t> b = ReadBytes(path);
  return std::string(b.begin(), b.end());
}

// The error message of reading every frame of `path`, or "" when it reads.
std::string ReadAllError(const std::string& path) {
  try {
    VideoFileReader reader(path);
    RgbImage frame;
    while (reader.Next(&frame)) {
    }
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

TEST_CASE("video file: lossless clips decode to exactly the frames they were made from") {
  const std::string dir = MakeTempDir("video_file_exact");
  const std::vector<RgbImage> frames = Clip(4, 30, 46);
  for (const auto& [container, name] : {std::pair<std::string, std::string>{"matroska", "clip.mkv"}, {"mov", "clip.mov"}}) {
    CAPTURE(container);
    const std::string path = dir + "/" + name;
    testing::WriteLosslessVideo(path, container, frames);
    VideoFileReader reader(path);
    CHECK(reader.width() == 46);
    CHECK(reader.height() == 30);
    RgbImage frame;
    size_t t = 0;
    while (reader.Next(&frame)) {
      REQUIRE(t < frames.size());
      CHECK(frame.width == 46);
      CHECK(frame.height == 30);
      CHECK(frame.pixels == frames[t].pixels);
      ++t;
    }
    CHECK(t == frames.size());
    CHECK(reader.frames_read() == 4);
    CHECK(!reader.Next(&frame));  // stays at the end
    // The same bytes from memory (the fuzz target's path).
    const std::vector<uint8_t> bytes = ReadBytes(path);
    VideoFileReader memory(bytes.data(), bytes.size(), "in memory");
    size_t n = 0;
    while (memory.Next(&frame)) CHECK(frame.pixels == frames[n++].pixels);
    CHECK(n == frames.size());
  }
  fs::remove_all(dir);
}

// Twelve flat, mostly saturated 16 x 16 patches (where the BT.601 and BT.709
// matrices and the two ranges give clearly different colours) above a
// strip where a square moves, so the encoders make real P and B frames.
constexpr uint8_t kPatchColours[12][3] = {{220, 30, 30},  {30, 200, 40},  {40, 50, 220},  {230, 220, 40},
                                          {40, 210, 220}, {210, 40, 200}, {240, 140, 20}, {128, 128, 128},
                                          {20, 20, 20},   {235, 235, 235}, {120, 60, 20}, {60, 20, 120}};

std::vector<RgbImage> PatchClip(int count) {
  std::vector<RgbImage> frames;
  for (int t = 0; t < count; ++t) {
    RgbImage im;
    im.height = 64, im.width = 64;
    im.pixels.resize(64 * 64 * 3);
    for (int y = 0; y < 64; ++y) {
      for (int x = 0; x < 64; ++x) {
        uint8_t* p = &im.pixels[(y * 64 + x) * 3];
        if (y < 48) {
          std::copy(kPatchColours[(y / 16) * 4 + x / 16], kPatchColours[(y / 16) * 4 + x / 16] + 3, p);
        } else {
          const bool square = y >= 52 && y < 60 && x >= 4 * t && x < 4 * t + 8;
          std::fill(p, p + 3, square ? 230 : 60);
        }
      }
    }
    frames.push_back(std::move(im));
  }
  return frames;
}

// R'G'B' (0-255) of 8-bit Y'CbCr by the textbook inverse: what a reader
// that assumed this matrix and range would show for `rgb`'s code values
// written with the other ones.
std::array<double, 3> Reinterpret(const uint8_t rgb[3], bool bt709_written, bool full_written, bool bt709_read,
                                  bool full_read) {
  auto forward = [](const uint8_t c[3], bool bt709, bool full) {
    const double kr = bt709 ? 0.2126 : 0.299, kb = bt709 ? 0.0722 : 0.114, kg = 1 - kr - kb;
    const double r = c[0] / 255.0, g = c[1] / 255.0, b = c[2] / 255.0, luma = kr * r + kg * g + kb * b;
    const double ys = full ? 255 : 219, cs = full ? 255 : 224, y0 = full ? 0 : 16;
    return std::array<double, 3>{std::round(y0 + ys * luma), std::round(128 + cs * (b - luma) / (2 * (1 - kb))),
                                 std::round(128 + cs * (r - luma) / (2 * (1 - kr)))};
  };
  const std::array<double, 3> ycc = forward(rgb, bt709_written, full_written);
  const double kr = bt709_read ? 0.2126 : 0.299, kb = bt709_read ? 0.0722 : 0.114, kg = 1 - kr - kb;
  const double ys = full_read ? 255 : 219, cs = full_read ? 255 : 224, y0 = full_read ? 0 : 16;
  const double luma = (ycc[0] - y0) / ys, pb = (ycc[1] - 128) / cs, pr = (ycc[2] - 128) / cs;
  const double r = luma + 2 * (1 - kr) * pr, b = luma + 2 * (1 - kb) * pb, g = (luma - kr * r - kb * b) / kg;
  return {std::clamp(255 * r, 0.0, 255.0), std::clamp(255 * g, 0.0, 255.0), std::clamp(255 * b, 0.0, 255.0)};
}

TEST_CASE("video file: lossy 4:2:0 clips decode to their colours with the matrix and range they state") {
  const std::string dir = MakeTempDir("video_file_lossy");
  const std::vector<RgbImage> frames = PatchClip(12);
  struct Case {
    const char* name;
    testing::LossyVideo how;
  };
  // H.264 in MP4 (phones, cameras, editors), tagged BT.709 limited range;
  // untagged, which readers (OpenCV, ours) take as BT.601 limited range;
  // VP9 in WebM, tagged BT.601 full range.
  const Case cases[] = {{"h264_bt709.mp4", {"mp4", "libx264", true, false, true}},
                        {"h264_untagged.mp4", {"mp4", "libx264", false, false, false}},
                        {"h264_bt709.mkv", {"matroska", "libx264", true, false, true}},
                        {"vp9_bt601_full.webm", {"webm", "libvpx-vp9", false, true, true}}};
  // Within a patch's interior the codecs' loss and 8-bit rounding move a
  // channel by a few levels; reading with the other matrix or range moves
  // some patch by far more (checked below, so the bound can catch it).
  constexpr double kTolerance = 6;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    double wrong_reading = 0;
    for (const auto& colour : kPatchColours) {
      for (const auto& [bt709, full] : {std::pair{!c.how.bt709, c.how.full_range}, {c.how.bt709, !c.how.full_range}}) {
        const std::array<double, 3> seen = Reinterpret(colour, c.how.bt709, c.how.full_range, bt709, full);
        double worst = 0;
        for (int k = 0; k < 3; ++k) worst = std::max(worst, std::abs(seen[k] - colour[k]));
        wrong_reading = std::max(wrong_reading, worst);
      }
    }
    REQUIRE(wrong_reading > 2 * kTolerance);
    const std::string path = dir + "/" + c.name;
    testing::WriteLossyVideo(path, c.how, frames);
    VideoFileReader reader(path);
    RgbImage frame;
    size_t t = 0;
    double worst = 0;
    while (reader.Next(&frame)) {
      REQUIRE(t < frames.size());
      REQUIRE(frame.width == 64);
      REQUIRE(frame.height == 64);
      for (int patch = 0; patch < 12; ++patch) {
        const int y0 = (patch / 4) * 16, x0 = (patch % 4) * 16;
        for (int y = y0 + 4; y < y0 + 12; ++y) {
          for (int x = x0 + 4; x < x0 + 12; ++x) {
            for (int k = 0; k < 3; ++k) {
              worst = std::max(worst, std::abs(static_cast<double>(frame.pixels[(y * 64 + x) * 3 + k]) - kPatchColours[patch][k]));
            }
          }
        }
      }
      ++t;
    }
    CHECK(t == frames.size());  // B-frames reordered, MP4 edit lists: every frame, once
    CHECK(worst <= kTolerance);
  }
  fs::remove_all(dir);
}

TEST_CASE("video file: truncated, audio-only, non-video and oversized files are errors naming the file") {
  const std::string dir = MakeTempDir("video_file_bad");
  const std::vector<RgbImage> frames = Clip(5, 24, 32);
  testing::WriteLosslessVideo(dir + "/clip.mkv", "matroska", frames);
  testing::WriteLosslessVideo(dir + "/clip.mov", "mov", frames);
  SUBCASE("cut short anywhere: never fewer frames without an error") {
    for (const std::string name : {"clip.mkv", "clip.mov"}) {
      const std::vector<uint8_t> bytes = ReadBytes(dir + "/" + name);
      for (const double keep : {0.95, 0.8, 0.5, 0.2, 0.01}) {
        CAPTURE(name);
        CAPTURE(keep);
        const std::string cut = dir + "/cut_" + name;
        std::ofstream(cut, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size() * keep));
        const std::string error = ReadAllError(cut);
        CHECK(error.find("video '" + cut + "'") == 0);
      }
    }
    // The Matroska cut after 4 of 5 frames: its header's duration.
    const std::vector<uint8_t> bytes = ReadBytes(dir + "/clip.mkv");
    std::ofstream(dir + "/cut.mkv", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                            static_cast<std::streamsize>(bytes.size() * 0.95));
    CHECK(ReadAllError(dir + "/cut.mkv").find("(the file is truncated or damaged)") != std::string::npos);
  }
  SUBCASE("no video stream") {
    testing::WriteAudioOnlyMatroska(dir + "/audio.mkv");
    CHECK(ReadAllError(dir + "/audio.mkv") == "video '" + dir + "/audio.mkv': has no video stream (or its header is cut short)");
  }
  SUBCASE("not a video") {
    SavePng(dir + "/image.mp4", frames[0]);
    CHECK(ReadAllError(dir + "/image.mp4").find("video '" + dir + "/image.mp4': not a video file in a container") == 0);
    CHECK(ReadAllError(dir + "/missing.mp4").find("video '" + dir + "/missing.mp4': cannot open") == 0);
  }
  SUBCASE("frames above the engine's image limit, before any is decoded") {
    SetMaxImagePixels(24 * 32 - 1);
    const std::string error = ReadAllError(dir + "/clip.mkv");
    SetMaxImagePixels(kDefaultMaxImagePixels);
    CHECK(error.find("clip.mkv': video header claims 32 x 24 pixels, more than the limit of 767 pixels") != std::string::npos);
    CHECK(ReadAllError(dir + "/clip.mkv").empty());
  }
  fs::remove_all(dir);
}

TEST_CASE("cli video: a video file gives the same label maps as its frames as a folder") {
  if (!testing::HaveFixtures("cli video file")) return;
  const std::string dir = MakeTempDir("video_file_cli");
  const std::vector<RgbImage> frames = Clip(3, 48, 64);
  fs::create_directories(dir + "/clip");
  char name[32];
  for (size_t t = 0; t < frames.size(); ++t) {
    std::snprintf(name, sizeof(name), "/clip/%05zu.png", t);
    SavePng(dir + name, frames[t]);
  }
  testing::WriteLosslessVideo(dir + "/clip.mkv", "matroska", frames);
  testing::WriteSquareFirstMask(dir + "/first.png", 48, 64);
  const std::string model = "--model '" + testing::FixturePath("models/sam_vit_tiny.pth") + "'";
  const std::string tail = " --first-mask '" + dir + "/first.png' --mode corrected";
  const testing::CliRun from_folder = RunPersam("video " + model + " --frames '" + dir + "/clip'" + tail + " --out '" + dir + "/a'");
  REQUIRE_MESSAGE(from_folder.code == 0, from_folder.output);
  const testing::CliRun from_video = RunPersam("video " + model + " --video '" + dir + "/clip.mkv'" + tail + " --overlay --out '" + dir + "/b'");
  REQUIRE_MESSAGE(from_video.code == 0, from_video.output);
  CHECK(!PathExists(dir + "/b/clip/00000.png"));  // frame 0 carries the mask
  for (const std::string f : {"00001.png", "00002.png"}) {
    CAPTURE(f);
    REQUIRE(PathExists(dir + "/b/clip/" + f));
    CHECK(Contents(dir + "/a/clip/" + f) == Contents(dir + "/b/clip/" + f));
  }
  CHECK(PathExists(dir + "/b/clip/overlay/00002.jpg"));
  CHECK(!PathExists(dir + "/b/clip/00003.png"));
  fs::remove_all(dir);
}

TEST_CASE("cli video: bad video files are reported before the model loads") {
  const std::string dir = MakeTempDir("video_file_cli_bad");
  const std::vector<RgbImage> frames = Clip(3, 24, 32);
  testing::WriteLosslessVideo(dir + "/clip.mkv", "matroska", frames);
  testing::WriteAudioOnlyMatroska(dir + "/audio.mkv");
  testing::WriteSquareFirstMask(dir + "/first.png", 24, 32);
  testing::WriteSquareFirstMask(dir + "/wide.png", 24, 40);
  // No model file at all: every one of these fails on its input first.
  const std::string model = "--model '" + dir + "/no-model.pth'";
  SUBCASE("no video stream") {
    const testing::CliRun r = RunPersam("video " + model + " --video '" + dir + "/audio.mkv' --first-mask '" + dir + "/first.png' --out '" + dir + "/out'");
    CHECK(r.code != 0);
    CHECK(r.output.find("audio.mkv': has no video stream") != std::string::npos);
  }
  SUBCASE("a first mask of another size") {
    const testing::CliRun r = RunPersam("video " + model + " --video '" + dir + "/clip.mkv' --first-mask '" + dir + "/wide.png' --out '" + dir + "/out'");
    CHECK(r.code != 0);
    CHECK(r.output.find("wide.png' is 40x24 but video '" + dir + "/clip.mkv' is 32x24") != std::string::npos);
  }
  SUBCASE("--video without --first-mask") {
    const testing::CliRun r = RunPersam("video " + model + " --video '" + dir + "/clip.mkv' --out '" + dir + "/out'");
    CHECK(r.code != 0);
    CHECK(r.output.find("--video needs --first-mask MASK.png") != std::string::npos);
  }
  CHECK(!PathExists(dir + "/out"));
  fs::remove_all(dir);
}

TEST_CASE("cli video: a truncated video file stops with an error naming it") {
  if (!testing::HaveFixtures("cli video truncated file")) return;
  const std::string dir = MakeTempDir("video_file_cli_cut");
  testing::WriteLosslessVideo(dir + "/clip.mkv", "matroska", Clip(4, 24, 32));
  const std::vector<uint8_t> bytes = ReadBytes(dir + "/clip.mkv");
  std::ofstream(dir + "/cut.mkv", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                          static_cast<std::streamsize>(bytes.size() * 0.9));
  testing::WriteSquareFirstMask(dir + "/first.png", 24, 32);
  const testing::CliRun r = RunPersam("video --model '" + testing::FixturePath("models/sam_vit_tiny.pth") + "' --video '" + dir +
                                      "/cut.mkv' --first-mask '" + dir + "/first.png' --mode corrected --out '" + dir + "/out'");
  CHECK(r.code != 0);
  CHECK_MESSAGE(r.output.find("video '" + dir + "/cut.mkv': ends at") != std::string::npos, r.output);
  fs::remove_all(dir);
}

#else

TEST_CASE("video file: a build without FFmpeg says how to get one") {
  CHECK(!VideoFilesBuiltIn());
  try {
    VideoFileReader reader("clip.mp4");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("video 'clip.mp4': this build reads no video files") == 0);
    CHECK(std::string(e.what()).find("meson -Dffmpeg=enabled") != std::string::npos);
  }
}

#endif

}  // namespace
}  // namespace persam
