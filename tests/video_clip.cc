#include "tests/video_clip.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
}

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "base/error.h"

namespace persam::testing {
namespace {

void Check(int code, const std::string& what) {
  if (code < 0) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof(text));
    throw Error("test video: " + what + " (" + text + ")");
  }
}

// One output file with one stream from `codec`; Write() sends frames, the
// destructor frees everything.
struct Muxer {
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVStream* stream = nullptr;
  AVPacket* packet = av_packet_alloc();

  Muxer(const std::string& path, const std::string& container, AVCodecID id,
        const std::function<void(AVCodecContext*)>& configure)
      : Muxer(path, container, avcodec_find_encoder(id), avcodec_get_name(id), configure) {}
  Muxer(const std::string& path, const std::string& container, const AVCodec* encoder, const std::string& codec_name,
        const std::function<void(AVCodecContext*)>& configure) {
    if (encoder == nullptr) throw Error("test video: this FFmpeg build has no encoder " + codec_name);
    Check(avformat_alloc_output_context2(&format, nullptr, container.c_str(), path.c_str()), "container " + container);
    stream = avformat_new_stream(format, nullptr);
    codec = avcodec_alloc_context3(encoder);
    configure(codec);
    if (format->oformat->flags & AVFMT_GLOBALHEADER) codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    Check(avcodec_open2(codec, encoder, nullptr), "open encoder");
    Check(avcodec_parameters_from_context(stream->codecpar, codec), "stream parameters");
    stream->time_base = codec->time_base;
    Check(avio_open(&format->pb, path.c_str(), AVIO_FLAG_WRITE), "create " + path);
    Check(avformat_write_header(format, nullptr), "header");
  }
  ~Muxer() {
    av_packet_free(&packet);
    avcodec_free_context(&codec);
    if (format != nullptr) avio_closep(&format->pb);
    avformat_free_context(format);
  }
  // nullptr flushes the encoder.
  void Write(AVFrame* frame) {
    Check(avcodec_send_frame(codec, frame), "encode");
    for (;;) {
      const int got = avcodec_receive_packet(codec, packet);
      if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return;
      Check(got, "encode");
      // One frame (or audio block) per packet; without a duration the
      // container's length would end at the last frame's start.
      if (packet->duration == 0 && codec->codec_type == AVMEDIA_TYPE_VIDEO) packet->duration = 1;
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      Check(av_interleaved_write_frame(format, packet), "write");
    }
  }
  void Finish() {
    Write(nullptr);
    Check(av_write_trailer(format), "trailer");
  }
};

// A writable picture buffer for one frame of the clip.
AVFrame* NewVideoFrame(AVPixelFormat format, int width, int height) {
  AVFrame* frame = av_frame_alloc();
  if (frame == nullptr) throw Error("test video: out of memory");
  frame->format = format, frame->width = width, frame->height = height;
  Check(av_frame_get_buffer(frame, 0), "frame");
  return frame;
}

}  // namespace

void WriteLosslessVideo(const std::string& path, const std::string& container, const std::vector<RgbImage>& frames) {
  const bool ffv1 = container == "matroska";
  const int width = frames.at(0).width, height = frames.at(0).height;
  const AVPixelFormat pixel_format = ffv1 ? AV_PIX_FMT_0RGB32 : AV_PIX_FMT_RGB24;
  Muxer muxer(path, container, ffv1 ? AV_CODEC_ID_FFV1 : AV_CODEC_ID_PNG, [&](AVCodecContext* c) {
    c->width = width, c->height = height;
    c->pix_fmt = pixel_format;
    c->time_base = AVRational{1, 25};
  });
  AVFrame* frame = NewVideoFrame(pixel_format, width, height);
  for (size_t t = 0; t < frames.size(); ++t) {
    Check(av_frame_make_writable(frame), "frame");
    const RgbImage& im = frames[t];
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        const uint8_t* p = &im.pixels[(static_cast<size_t>(y) * width + x) * 3];
        if (ffv1) {  // one native-endian 32-bit word per pixel: 0, R, G, B from the top
          const uint32_t word = uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2];
          std::memcpy(frame->data[0] + y * frame->linesize[0] + x * 4, &word, 4);
        } else {
          for (int c = 0; c < 3; ++c) frame->data[0][y * frame->linesize[0] + x * 3 + c] = p[c];
        }
      }
    }
    frame->pts = static_cast<int64_t>(t);
    muxer.Write(frame);
  }
  av_frame_free(&frame);
  muxer.Finish();
}

void WriteLossyVideo(const std::string& path, const LossyVideo& how, const std::vector<RgbImage>& frames) {
  const int width = frames.at(0).width, height = frames.at(0).height;
  const AVColorSpace space = how.bt709 ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
  const AVColorRange range = how.full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
  // libx264 prints its settings and statistics at the default level.
  struct QuietLog {
    int level = av_log_get_level();
    QuietLog() { av_log_set_level(AV_LOG_ERROR); }
    ~QuietLog() { av_log_set_level(level); }
  } quiet;
  Muxer muxer(path, how.container, avcodec_find_encoder_by_name(how.codec.c_str()), how.codec, [&](AVCodecContext* c) {
    c->width = width, c->height = height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = AVRational{1, 25};
    c->framerate = AVRational{25, 1};
    c->gop_size = 12;
    c->max_b_frames = 2;
    if (how.tag) c->colorspace = space, c->color_range = range;
    if (how.codec == "libx264") {
      av_opt_set(c->priv_data, "crf", "16", 0);
      av_opt_set(c->priv_data, "preset", "fast", 0);  // B-frames, not "ultrafast"'s none
    } else {
      av_opt_set(c->priv_data, "crf", "12", 0);
      av_opt_set_int(c->priv_data, "deadline", 1, 0);  // VPX_DL_REALTIME: the test stays fast
      c->bit_rate = 0;
    }
  });
  // Y'CbCr from R'G'B' by the matrix's luma weights (ITU-R BT.601 / BT.709);
  // limited range puts Y' in [16, 235] and Cb, Cr in [16, 240].
  const double kr = how.bt709 ? 0.2126 : 0.299, kb = how.bt709 ? 0.0722 : 0.114, kg = 1 - kr - kb;
  const double y_scale = how.full_range ? 255 : 219, c_scale = how.full_range ? 255 : 224;
  const double y_offset = how.full_range ? 0 : 16;
  auto clamp = [](double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0))); };
  AVFrame* frame = NewVideoFrame(AV_PIX_FMT_YUV420P, width, height);
  std::vector<double> cb(static_cast<size_t>(width) * height), cr(cb.size());
  for (size_t t = 0; t < frames.size(); ++t) {
    Check(av_frame_make_writable(frame), "frame");
    const RgbImage& im = frames[t];
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        const uint8_t* p = &im.pixels[(static_cast<size_t>(y) * width + x) * 3];
        const double r = p[0] / 255.0, g = p[1] / 255.0, b = p[2] / 255.0;
        const double luma = kr * r + kg * g + kb * b;
        frame->data[0][y * frame->linesize[0] + x] = clamp(y_offset + y_scale * luma);
        cb[static_cast<size_t>(y) * width + x] = (b - luma) / (2 * (1 - kb));
        cr[static_cast<size_t>(y) * width + x] = (r - luma) / (2 * (1 - kr));
      }
    }
    // 4:2:0: each chroma sample the mean of its 2 x 2 block.
    for (int y = 0; y < (height + 1) / 2; ++y) {
      for (int x = 0; x < (width + 1) / 2; ++x) {
        double sum_b = 0, sum_r = 0;
        int n = 0;
        for (int dy = 0; dy < 2 && 2 * y + dy < height; ++dy) {
          for (int dx = 0; dx < 2 && 2 * x + dx < width; ++dx) {
            const size_t i = static_cast<size_t>(2 * y + dy) * width + 2 * x + dx;
            sum_b += cb[i], sum_r += cr[i], ++n;
          }
        }
        frame->data[1][y * frame->linesize[1] + x] = clamp(128 + c_scale * sum_b / n);
        frame->data[2][y * frame->linesize[2] + x] = clamp(128 + c_scale * sum_r / n);
      }
    }
    frame->pts = static_cast<int64_t>(t);
    muxer.Write(frame);
  }
  av_frame_free(&frame);
  muxer.Finish();
}

void WriteAudioOnlyMatroska(const std::string& path) {
  Muxer muxer(path, "matroska", AV_CODEC_ID_PCM_S16LE, [](AVCodecContext* c) {
    c->sample_fmt = AV_SAMPLE_FMT_S16;
    c->sample_rate = 8000;
    c->ch_layout = AV_CHANNEL_LAYOUT_MONO;
    c->time_base = AVRational{1, 8000};
  });
  AVFrame* frame = av_frame_alloc();
  frame->format = AV_SAMPLE_FMT_S16, frame->sample_rate = 8000, frame->nb_samples = 8000;
  Check(av_channel_layout_copy(&frame->ch_layout, &muxer.codec->ch_layout), "layout");
  Check(av_frame_get_buffer(frame, 0), "audio frame");
  for (int i = 0; i < 8000; ++i) reinterpret_cast<int16_t*>(frame->data[0])[i] = 0;
  frame->pts = 0;
  muxer.Write(frame);
  av_frame_free(&frame);
  muxer.Finish();
}

}  // namespace persam::testing
