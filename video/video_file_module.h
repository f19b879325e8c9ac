// The video-file reader as a plugin module (libpersam_ffmpeg.so, built by
// modules/meson.build from video/ffmpeg_frame_source.cc): FFmpeg's
// libraries, with their ~130 codec, network and font libraries, are loaded
// only when a video file is read (base/module_loader.h says why and where
// modules are found). video/video_file.cc loads it and checks the version.
#ifndef PERSAM_VIDEO_VIDEO_FILE_MODULE_H_
#define PERSAM_VIDEO_VIDEO_FILE_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/image.h"
#include "engine/image_formats.h"

namespace persam {

// Raised whenever VideoFrameSource or VideoFileModule changes, so that a
// module of another build is refused instead of called through the wrong
// layout.
constexpr int kVideoFileModuleVersion = 1;

// One opened video stream; VideoFileReader (video/video_file.h) documents
// the behaviour and the errors.
class VideoFrameSource {
 public:
  virtual ~VideoFrameSource() = default;
  virtual bool Next(RgbImage* frame) = 0;
  virtual int width() const = 0;
  virtual int height() const = 0;
  virtual int64_t frames_read() const = 0;
};

struct VideoFileModule {
  int version;  // kVideoFileModuleVersion of the build that made the module
  // VideoFileReader's two constructors, given the host's MaxImagePixels()
  // and CheckImageSize (called before a decoder allocates a picture). The
  // caller owns the result (delete); errors are thrown as persam::Error.
  VideoFrameSource* (*open_file)(const std::string& path, uint64_t max_pixels, ImageSizeCheck check_size);
  VideoFrameSource* (*open_memory)(const uint8_t* data, size_t size, const std::string& name, uint64_t max_pixels,
                                   ImageSizeCheck check_size);
};

}  // namespace persam

// The module's one export.
extern "C" const persam::VideoFileModule* persam_video_file_module();

#endif  // PERSAM_VIDEO_VIDEO_FILE_MODULE_H_
