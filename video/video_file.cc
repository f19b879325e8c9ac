#include "video/video_file.h"

#include "base/error.h"
#include "engine/image_formats.h"
#include "video/video_file_module.h"

#if PERSAM_HAVE_FFMPEG
#include "base/module_loader.h"
#endif

namespace persam {

bool VideoFilesBuiltIn() { return PERSAM_HAVE_FFMPEG != 0; }

namespace {

// The FFmpeg module's interface, loaded on the first call; throws naming
// the video when the build has no FFmpeg or the module does not load.
const VideoFileModule& Module(const std::string& name) {
#if PERSAM_HAVE_FFMPEG
  return LoadModule<VideoFileModule>("libpersam_ffmpeg.so", "persam_video_file_module",
                                     "the video-file reader, FFmpeg", kVideoFileModuleVersion,
                                     "video '" + name + "'");
#else
  throw Error("video '" + name +
              "': this build reads no video files (install libavformat-dev libavcodec-dev libswscale-dev "
              "libavutil-dev and reconfigure with meson -Dffmpeg=enabled), or give the frames as a folder "
              "with --frames");
#endif
}

}  // namespace

VideoFileReader::VideoFileReader(const std::string& path)
    : source_(Module(path).open_file(path, MaxImagePixels(), &CheckImageSize)) {}

VideoFileReader::VideoFileReader(const uint8_t* data, size_t size, const std::string& name)
    : source_(Module(name).open_memory(data, size, name, MaxImagePixels(), &CheckImageSize)) {}

VideoFileReader::~VideoFileReader() = default;

bool VideoFileReader::Next(RgbImage* frame) { return source_->Next(frame); }
int VideoFileReader::width() const { return source_->width(); }
int VideoFileReader::height() const { return source_->height(); }
int64_t VideoFileReader::frames_read() const { return source_->frames_read(); }

}  // namespace persam
