// Reading a video file's frames through FFmpeg's libraries (libavformat,
// libavcodec, libswscale): the code of the video-file module
// (video/video_file_module.h); video/video_file.h documents the behaviour.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/error.h"
#include "video/video_file_module.h"

namespace persam {
namespace {

// The demuxers we open (FFmpeg's names): the containers cameras, phones and
// browsers write. Not image sequences, playlists or network formats, which
// would reach for other files or URLs named inside the file.
constexpr const char* kDemuxers = "mov,matroska,avi,mpegts,ogg";
constexpr const char* kContainers = "MP4/MOV, Matroska/WebM, AVI, MPEG-TS or Ogg";
constexpr int kIoBufferSize = 1 << 16;

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

// The bytes libavformat reads: a file of ours or a buffer in memory. Both
// go through our AVIOContext, so FFmpeg opens no file or URL itself.
struct ByteSource {
  std::FILE* file = nullptr;
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
};

int ReadBytes(void* opaque, uint8_t* buf, int size) {
  auto* s = static_cast<ByteSource*>(opaque);
  if (s->file != nullptr) {
    const size_t n = std::fread(buf, 1, static_cast<size_t>(size), s->file);
    if (n == 0) return std::ferror(s->file) ? AVERROR(EIO) : AVERROR_EOF;
    return static_cast<int>(n);
  }
  const size_t n = std::min(static_cast<size_t>(size), s->size - s->pos);
  if (n == 0) return AVERROR_EOF;
  std::memcpy(buf, s->data + s->pos, n);
  s->pos += n;
  return static_cast<int>(n);
}

int64_t SeekBytes(void* opaque, int64_t offset, int whence) {
  auto* s = static_cast<ByteSource*>(opaque);
  whence &= ~AVSEEK_FORCE;
  if (s->file != nullptr) {
    if (whence == AVSEEK_SIZE) {
      const off_t here = ftello(s->file);
      if (fseeko(s->file, 0, SEEK_END) != 0) return AVERROR(EIO);
      const off_t end = ftello(s->file);
      if (fseeko(s->file, here, SEEK_SET) != 0) return AVERROR(EIO);
      return end;
    }
    if (fseeko(s->file, offset, whence) != 0) return AVERROR(EINVAL);
    return ftello(s->file);
  }
  int64_t base = 0;
  if (whence == AVSEEK_SIZE) return static_cast<int64_t>(s->size);
  if (whence == SEEK_CUR) base = static_cast<int64_t>(s->pos);
  if (whence == SEEK_END) base = static_cast<int64_t>(s->size);
  if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return AVERROR(EINVAL);
  const int64_t target = base + offset;
  if (target < 0 || target > static_cast<int64_t>(s->size)) return AVERROR(EINVAL);
  s->pos = static_cast<size_t>(target);
  return target;
}

// A demuxer that names another resource (a reference track, a playlist
// entry) gets nothing: a video file is read on its own.
int RefuseNestedOpen(AVFormatContext*, AVIOContext**, const char* url, int, AVDictionary**) {
  (void)url;
  return AVERROR(EPERM);
}

// One opened stream: the FFmpeg contexts and where the reading is.
struct State {
  std::string name;
  uint64_t max_pixels = 0;              // the host's MaxImagePixels()
  ImageSizeCheck check_size = nullptr;  // the host's CheckImageSize
  ByteSource source;
  AVIOContext* io = nullptr;
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  SwsContext* sws = nullptr;
  AVPacket* packet = nullptr;
  AVFrame* frame = nullptr;
  AVFrame* rgb = nullptr;
  int stream = -1;
  int width = 0, height = 0;
  bool draining = false;
  int64_t frames_read = 0;
  // The latest video packet read: its pts, duration and distance from the
  // one before (in the stream's time base).
  int64_t last_pts = AV_NOPTS_VALUE, last_duration = 0, last_gap = 0;
  int64_t frame_ticks = 0;  // one frame at the stream's stated rate (0: unknown)

  ~State() {
    sws_freeContext(sws);
    av_frame_free(&rgb);
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&codec);
    avformat_close_input(&format);
    if (io != nullptr) av_freep(&io->buffer);
    avio_context_free(&io);
    if (source.file != nullptr) std::fclose(source.file);
  }

  [[noreturn]] void Fail(const std::string& what) const { throw Error("video '" + name + "': " + what); }

  void Open() {
    // FFmpeg's own log off (once per process): our errors name the file
    // and the problem; its lines ("File ended prematurely") would only
    // interleave with the progress output.
    static const bool quiet = [] {
      av_log_set_level(AV_LOG_FATAL);
      return true;
    }();
    (void)quiet;
    auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBufferSize));
    if (buffer == nullptr) Fail("out of memory");
    io = avio_alloc_context(buffer, kIoBufferSize, 0, &source, ReadBytes, nullptr, SeekBytes);
    if (io == nullptr) {
      av_free(buffer);
      Fail("out of memory");
    }
    format = avformat_alloc_context();
    if (format == nullptr) Fail("out of memory");
    format->pb = io;
    format->flags |= AVFMT_FLAG_CUSTOM_IO;
    format->io_open = RefuseNestedOpen;
    AVDictionary* options = nullptr;
    av_dict_set(&options, "format_whitelist", kDemuxers, 0);
    // Frees `format` on failure.
    const int opened = avformat_open_input(&format, nullptr, nullptr, &options);
    av_dict_free(&options);
    if (opened < 0) {
      Fail(std::string("not a video file in a container this build reads (") + kContainers + "): " + AvError(opened));
    }
    const int info = avformat_find_stream_info(format, nullptr);
    if (info < 0) Fail("cannot read the streams (" + AvError(info) + ")");
    const AVCodec* decoder = nullptr;
    stream = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
    if (stream == AVERROR_STREAM_NOT_FOUND) Fail("has no video stream (or its header is cut short)");
    if (stream < 0 || decoder == nullptr) {
      // The first video stream's codec, which nothing here decodes.
      AVCodecID id = AV_CODEC_ID_NONE;
      for (unsigned i = 0; i < format->nb_streams; ++i) {
        if (format->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
          id = format->streams[i]->codecpar->codec_id;
          break;
        }
      }
      Fail(std::string("no decoder in this FFmpeg build for its video codec '") + avcodec_get_name(id) + "'");
    }
    const AVCodecParameters* par = format->streams[stream]->codecpar;
    // Before the decoder allocates a picture: the engine's image limit.
    check_size(name, "video", static_cast<uint64_t>(std::max(par->width, 0)),
                   static_cast<uint64_t>(std::max(par->height, 0)));
    width = par->width, height = par->height;
    const AVStream* s = format->streams[stream];
    const AVRational rate = s->avg_frame_rate.num > 0 ? s->avg_frame_rate : s->r_frame_rate;
    if (rate.num > 0 && rate.den > 0) frame_ticks = av_rescale_q(1, av_inv_q(rate), s->time_base);
    codec = avcodec_alloc_context3(decoder);
    if (codec == nullptr) Fail("out of memory");
    if (avcodec_parameters_to_context(codec, par) < 0) Fail("invalid video stream parameters");
    // One decoding thread: the next frame is decoded while the engine
    // encodes this one (video/video_run.cc), which uses every core.
    codec->thread_count = 1;
    if (max_pixels != 0) codec->max_pixels = static_cast<int64_t>(max_pixels);
    // A damaged frame is an error, not a frame with concealed blocks.
    codec->err_recognition |= AV_EF_EXPLODE;
    const int ok = avcodec_open2(codec, decoder, nullptr);
    if (ok < 0) Fail(std::string("cannot open its ") + avcodec_get_name(par->codec_id) + " decoder (" + AvError(ok) + ")");
    packet = av_packet_alloc();
    frame = av_frame_alloc();
    rgb = av_frame_alloc();
    if (packet == nullptr || frame == nullptr || rgb == nullptr) Fail("out of memory");
    rgb->format = AV_PIX_FMT_RGB24;
    rgb->width = width, rgb->height = height;
    // libswscale writes whole SIMD blocks: its own padded, aligned frame,
    // copied row by row into the image.
    if (av_frame_get_buffer(rgb, 0) < 0) Fail("out of memory");
  }

  void ToRgb(RgbImage* out) {
    const int64_t index = frames_read;
    if (frame->width != width || frame->height != height) {
      Fail("frame " + std::to_string(index) + " is " + std::to_string(frame->width) + "x" + std::to_string(frame->height) +
           " but the stream is " + std::to_string(width) + "x" + std::to_string(height));
    }
    if ((frame->flags & AV_FRAME_FLAG_CORRUPT) || frame->decode_error_flags != 0) {
      Fail("frame " + std::to_string(index) + " is damaged");
    }
    const auto source_format = static_cast<AVPixelFormat>(frame->format);
    // Bicubic chroma upsampling, as OpenCV's FFmpeg reader asks for.
    sws = sws_getCachedContext(sws, width, height, source_format, width, height, AV_PIX_FMT_RGB24,
                               SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
    if (sws == nullptr) {
      Fail(std::string("cannot convert its pixel format '") + av_get_pix_fmt_name(source_format) + "' to RGB");
    }
    // The stream's own colour matrix and range where it states them
    // (BT.601 limited range otherwise, libswscale's default).
    int* inv_table = nullptr;
    int* table = nullptr;
    int src_range = 0, dst_range = 0, brightness = 0, contrast = 0, saturation = 0;
    if (sws_getColorspaceDetails(sws, &inv_table, &src_range, &table, &dst_range, &brightness, &contrast,
                                 &saturation) >= 0) {
      const int space = frame->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : frame->colorspace;
      src_range = frame->color_range == AVCOL_RANGE_JPEG ? 1 : src_range;
      sws_setColorspaceDetails(sws, sws_getCoefficients(space), src_range, table, dst_range, brightness, contrast,
                               saturation);
    }
    if (sws_scale(sws, frame->data, frame->linesize, 0, height, rgb->data, rgb->linesize) != height) {
      Fail("cannot convert frame " + std::to_string(index) + " to RGB");
    }
    out->width = width, out->height = height;
    out->pixels.resize(static_cast<size_t>(width) * height * 3);
    for (int y = 0; y < height; ++y) {
      std::memcpy(out->pixels.data() + static_cast<size_t>(y) * width * 3, rgb->data[0] + static_cast<size_t>(y) * rgb->linesize[0],
                  static_cast<size_t>(width) * 3);
    }
    av_frame_unref(frame);
    ++frames_read;
  }

  // At the end of the stream: a file cut short reads as fewer frames than
  // its header gives (MP4, AVI), as packets ending before the duration its
  // header gives (Matroska: the demuxer itself only logs "File ended
  // prematurely"), or as a read error.
  void CheckComplete() const {
    if (io->error < 0 && io->error != AVERROR_EOF) Fail("read error (" + AvError(io->error) + ")");
    const AVStream* s = format->streams[stream];
    if (s->nb_frames > 0 && frames_read < s->nb_frames) {
      Fail("ends after " + std::to_string(frames_read) + " of the " + std::to_string(s->nb_frames) +
           " frames its header gives (the file is truncated or damaged)");
    }
    if (frames_read == 0) Fail("has no decodable frame");
    // Without a frame count (the better check: MP4's edit lists shift
    // times), the duration to reach, in microseconds from the stream's
    // start: the stream's own, or the file's when the video is its only
    // stream (an audio track may outlast the video). Unknown (a live
    // recording): no check.
    const int64_t start = s->start_time != AV_NOPTS_VALUE ? s->start_time : 0;
    int64_t duration = AV_NOPTS_VALUE;
    if (s->duration != AV_NOPTS_VALUE && s->duration > 0) {
      duration = av_rescale_q(s->duration, s->time_base, AV_TIME_BASE_Q);
    } else if (format->nb_streams == 1 && format->duration != AV_NOPTS_VALUE && format->duration > 0) {
      duration = format->duration;
    }
    if (s->nb_frames > 0 || duration == AV_NOPTS_VALUE || last_pts == AV_NOPTS_VALUE) return;
    // Matroska gives video packets no duration: the last frame lasts as
    // long as the one before it then.
    const int64_t last = last_duration > 0 ? last_duration : last_gap > 0 ? last_gap : frame_ticks;
    const int64_t end = av_rescale_q(last_pts + last - start, s->time_base, AV_TIME_BASE_Q);
    // Half a frame of slack (1 ms at least) for rounding between time bases.
    const AVRational rate = s->avg_frame_rate.num > 0 ? s->avg_frame_rate : s->r_frame_rate;
    const int64_t slack = std::max<int64_t>(rate.num > 0 ? av_rescale(AV_TIME_BASE, rate.den, 2 * int64_t{rate.num}) : 0, 1000);
    if (end < duration - slack) {
      char text[160];
      std::snprintf(text, sizeof(text), "ends at %.3f s but its header gives %.3f s (the file is truncated or damaged)",
                    end / 1e6, duration / 1e6);
      Fail(text);
    }
  }

  bool Next(RgbImage* out) {
    for (;;) {
      const int got = avcodec_receive_frame(codec, frame);
      if (got == 0) {
        ToRgb(out);
        return true;
      }
      if (got == AVERROR_EOF) {
        CheckComplete();
        return false;
      }
      if (got != AVERROR(EAGAIN) || draining) {
        Fail("cannot decode frame " + std::to_string(frames_read) + " (" + AvError(got) + ")");
      }
      const int read = av_read_frame(format, packet);
      if (read == AVERROR_EOF) {
        draining = true;
        avcodec_send_packet(codec, nullptr);
        continue;
      }
      if (read < 0) Fail("cannot read past frame " + std::to_string(frames_read) + " (" + AvError(read) + ")");
      if (packet->stream_index != stream) {
        av_packet_unref(packet);
        continue;
      }
      if (packet->pts != AV_NOPTS_VALUE && (last_pts == AV_NOPTS_VALUE || packet->pts > last_pts)) {
        if (last_pts != AV_NOPTS_VALUE) last_gap = packet->pts - last_pts;
        last_pts = packet->pts;
        last_duration = packet->duration;
      }
      const bool corrupt = (packet->flags & AV_PKT_FLAG_CORRUPT) != 0;
      const int sent = corrupt ? AVERROR_INVALIDDATA : avcodec_send_packet(codec, packet);
      av_packet_unref(packet);
      if (sent < 0) Fail("cannot decode frame " + std::to_string(frames_read) + " (" + AvError(sent) + ")");
    }
  }
};

class FfmpegFrameSource final : public VideoFrameSource {
 public:
  FfmpegFrameSource(const std::string& name, uint64_t max_pixels, ImageSizeCheck check_size) {
    state_.name = name;
    state_.max_pixels = max_pixels;
    state_.check_size = check_size;
  }
  State& state() { return state_; }
  bool Next(RgbImage* frame) override { return state_.Next(frame); }
  int width() const override { return state_.width; }
  int height() const override { return state_.height; }
  int64_t frames_read() const override { return state_.frames_read; }

 private:
  State state_;
};

VideoFrameSource* OpenFile(const std::string& path, uint64_t max_pixels, ImageSizeCheck check_size) {
  auto source = std::make_unique<FfmpegFrameSource>(path, max_pixels, check_size);
  State& s = source->state();
  s.source.file = std::fopen(path.c_str(), "rb");
  if (s.source.file == nullptr) s.Fail(std::string("cannot open (") + std::strerror(errno) + ")");
  s.Open();
  return source.release();
}

VideoFrameSource* OpenMemory(const uint8_t* data, size_t size, const std::string& name, uint64_t max_pixels,
                             ImageSizeCheck check_size) {
  auto source = std::make_unique<FfmpegFrameSource>(name, max_pixels, check_size);
  State& s = source->state();
  s.source.data = data;
  s.source.size = size;
  s.Open();
  return source.release();
}

constexpr VideoFileModule kModule = {kVideoFileModuleVersion, &OpenFile, &OpenMemory};

}  // namespace
}  // namespace persam

extern "C" __attribute__((visibility("default"))) const persam::VideoFileModule* persam_video_file_module() {
  return &persam::kModule;
}
