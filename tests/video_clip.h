// Short video files made inside the tests with FFmpeg's encoders (nothing
// downloaded, no ffmpeg program): lossless clips whose decoded frames are
// known exactly, and a file with an audio stream only.
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
// A Matroska file with one second of 16-bit PCM silence and no video.
void WriteAudioOnlyMatroska(const std::string& path);

}  // namespace persam::testing

#endif  // PERSAM_TESTS_VIDEO_CLIP_H_
