// Short video files made inside the tests with FFmpeg's encoders (nothing
// downloaded, no ffmpeg program): lossless clips whose decoded frames are
// known exactly, lossy 4:2:0 clips, and a file with an audio stream only.
#ifndef PERSAM_TESTS_VIDEO_CLIP_H_
#define PERSAM_TESTS_VIDEO_CLIP_H_

#include <string>
#include <vector>

#include "engine/image.h"

namespace persam::testing {

// `frames` (one size) as lossless video at 25 fps: FFV1 (RGB) when
// `container` is "matroska", PNG frames in "mov"; other containers as
// FFmpeg names them with those codecs. Throws persam::Error on failure.
void WriteLosslessVideo(const std::string& path, const std::string& container, const std::vector<RgbImage>& frames);
// Lossy 4:2:0 video as cameras, phones and editors write it: `frames`
// converted to Y'CbCr by the textbook equations (not libswscale, so the
// reader's conversion is checked against an independent one) with the
// matrix and range given, tagged with them unless `tag` is false, and
// encoded with `codec` ("libx264" or "libvpx-vp9") at high quality with
// B-frames / alt-ref frames (decode order differs from display order).
struct LossyVideo {
  std::string container = "mp4";
  std::string codec = "libx264";
  bool bt709 = false;     // else BT.601
  bool full_range = false;
  bool tag = true;
};
void WriteLossyVideo(const std::string& path, const LossyVideo& how, const std::vector<RgbImage>& frames);
// A Matroska file with one second of 16-bit PCM silence and no video.
void WriteAudioOnlyMatroska(const std::string& path);

}  // namespace persam::testing

#endif  // PERSAM_TESTS_VIDEO_CLIP_H_
