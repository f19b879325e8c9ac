// libFuzzer: bytes through the video-file reader from memory (our
// AVIOContext, the demuxer whitelist, the size checks, truncation checks,
// RGB conversion) must give consistent frames or a persam::Error: no crash,
// no out-of-bounds access. The FFmpeg module's code is compiled into the
// target (instrumented) and called directly, without dlopen; FFmpeg itself
// is Debian's build, not instrumented.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/error.h"
#include "engine/image.h"
#include "engine/image_formats.h"
#include "video/video_file_module.h"

// 1 Mpx frames at most, and 16 frames per input: enough for every path of
// the reader while one input stays far below libFuzzer's time limit.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  persam::SetMaxImagePixels(uint64_t{1} << 20);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const std::unique_ptr<persam::VideoFrameSource> reader(persam_video_file_module()->open_memory(
        data, size, "fuzz", persam::MaxImagePixels(), &persam::CheckImageSize));
    persam::RgbImage frame;
    for (int t = 0; t < 16 && reader->Next(&frame); ++t) {
      if (frame.width != reader->width() || frame.height != reader->height() ||
          frame.pixels.size() != size_t(frame.height) * frame.width * 3) {
        __builtin_trap();  // a frame inconsistent with the stream
      }
    }
  } catch (const persam::Error&) {
  }
  return 0;
}
