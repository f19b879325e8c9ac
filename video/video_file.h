// Reading the frames of a video file (MP4/MOV, Matroska/WebM, AVI, MPEG-TS,
// Ogg) one at a time as RGB, through FFmpeg's libraries (libavformat,
// libavcodec, libswscale) when the build has them (meson -Dffmpeg). Frames
// stream: the reader holds one decoded frame, never the whole video, so a
// long clip costs no more memory than a short one. FFmpeg lives in a plugin
// module (video/video_file_module.h), loaded by the first reader.
#ifndef PERSAM_VIDEO_VIDEO_FILE_H_
#define PERSAM_VIDEO_VIDEO_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/image.h"

namespace persam {

// Whether this build reads video files (FFmpeg's libraries were found).
bool VideoFilesBuiltIn();

class VideoFrameSource;

class VideoFileReader {
 public:
  // Opens the file and its first video stream. Throws persam::Error naming
  // the file when the build has no FFmpeg, its module cannot be loaded
  // (base/module_loader.h), the file cannot be read or is no
  // video container we read, it has no video stream, its codec cannot be
  // decoded, or its frames exceed MaxImagePixels() (engine/image.h).
  explicit VideoFileReader(const std::string& path);
  // The same from bytes in memory (kept by the caller for the reader's life);
  // `name` names them in errors.
  VideoFileReader(const uint8_t* data, size_t size, const std::string& name);
  ~VideoFileReader();
  VideoFileReader(const VideoFileReader&) = delete;
  VideoFileReader& operator=(const VideoFileReader&) = delete;

  // The next frame in presentation order, as RGB24; false after the last.
  // Throws naming the file and frame when a frame cannot be read or decoded,
  // changes size, or the file ends before the frames its header promises.
  bool Next(RgbImage* frame);
  int width() const;
  int height() const;
  // Frames read so far.
  int64_t frames_read() const;

 private:
  std::unique_ptr<VideoFrameSource> source_;
};

}  // namespace persam

#endif  // PERSAM_VIDEO_VIDEO_FILE_H_
