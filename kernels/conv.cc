// Convolution helpers (kernels/conv.h): im2col gathers, a direct depthwise
// 3x3 (vectorised over channels, HWC keeps them contiguous) and the 2x2
// (the 2x2 stride-2 transposed convolution is in conv_transpose.cc).
#include "kernels/conv.h"

#include <string.h>

#include <string>
#include <vector>

#include "weights/error.h"

#include "kernels/hwy_target.h"  // first: target policy

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/conv.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/hwy_target.h"
#include "kernels/ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace {

// out[y, x, :] = bias + sum over the 3x3 taps inside the image. Lanes are
// channels; the 9 weights of a channel vector are gathered once per call
// into [9, c] so every tap is a contiguous load.
void DepthwiseConv3x3HwcT(const float* in, int h, int w, int c,
                          const float* weight, const float* bias, float* out) {
  const hn::ScalableTag<float> d;
  const int N = static_cast<int>(hn::Lanes(d));
  std::vector<float> taps(static_cast<size_t>(9) * c);  // [tap, channel]
  for (int ch = 0; ch < c; ++ch) {
    for (int t = 0; t < 9; ++t) taps[static_cast<size_t>(t) * c + ch] = weight[ch * 9 + t];
  }
  const float* tp = taps.data();
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(h) * w * c > (1 << 16))
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      float* o = out + (static_cast<int64_t>(y) * w + x) * c;
      for (int ch = 0; ch < c; ch += N) {
        const size_t n = static_cast<size_t>(c - ch < N ? c - ch : N);
        auto load = [&](const float* p) {
          return n == static_cast<size_t>(N) ? hn::LoadU(d, p) : LoadN(d, p, n);
        };
        auto acc = bias ? load(bias + ch) : hn::Zero(d);
        for (int ky = 0; ky < 3; ++ky) {
          const int iy = y + ky - 1;
          if (iy < 0 || iy >= h) continue;
          for (int kx = 0; kx < 3; ++kx) {
            const int ix = x + kx - 1;
            if (ix < 0 || ix >= w) continue;
            const float* src = in + (static_cast<int64_t>(iy) * w + ix) * c + ch;
            acc = hn::MulAdd(load(src), load(tp + (ky * 3 + kx) * c + ch), acc);
          }
        }
        if (n == static_cast<size_t>(N)) {
          hn::StoreU(acc, d, o + ch);
        } else {
          StoreN(acc, d, o + ch, n);
        }
      }
    }
  }
}

}  // namespace
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam::kernels {
namespace {

void CheckConv(const char* what, int c, int h, int w, int kernel, int stride, int pad) {
  if (c <= 0 || h <= 0 || w <= 0 || kernel <= 0 || stride <= 0 || pad < 0 ||
      h + 2 * pad < kernel || w + 2 * pad < kernel) {
    throw Error(std::string(what) + ": invalid geometry c=" + std::to_string(c) +
                " h=" + std::to_string(h) + " w=" + std::to_string(w) +
                " kernel=" + std::to_string(kernel) + " stride=" + std::to_string(stride) +
                " pad=" + std::to_string(pad));
  }
}

}  // namespace

HWY_EXPORT(DepthwiseConv3x3HwcT);

void Im2ColChw(const float* chw, int c, int h, int w, int kernel, int stride, int pad,
               float* cols) {
  CheckConv("Im2ColChw", c, h, w, kernel, stride, pad);
  const int oh = (h + 2 * pad - kernel) / stride + 1;
  const int ow = (w + 2 * pad - kernel) / stride + 1;
  const int64_t row_len = static_cast<int64_t>(c) * kernel * kernel;
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(oh) * ow * row_len > (1 << 18))
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      float* dst = cols + (static_cast<int64_t>(oy) * ow + ox) * row_len;
      const int x0 = ox * stride - pad;
      for (int ch = 0; ch < c; ++ch) {
        for (int ky = 0; ky < kernel; ++ky) {
          const int iy = oy * stride - pad + ky;
          float* d = dst + (static_cast<int64_t>(ch) * kernel + ky) * kernel;
          if (iy < 0 || iy >= h) {
            memset(d, 0, sizeof(float) * kernel);
            continue;
          }
          const float* src = chw + (static_cast<int64_t>(ch) * h + iy) * w;
          if (x0 >= 0 && x0 + kernel <= w) {  // interior: one contiguous run
            memcpy(d, src + x0, sizeof(float) * kernel);
          } else {
            for (int kx = 0; kx < kernel; ++kx) {
              const int ix = x0 + kx;
              d[kx] = (ix >= 0 && ix < w) ? src[ix] : 0.0f;
            }
          }
        }
      }
    }
  }
}

void Im2ColHwc(const float* hwc, int h, int w, int c, int kernel, int stride, int pad,
               float* cols) {
  CheckConv("Im2ColHwc", c, h, w, kernel, stride, pad);
  const int oh = (h + 2 * pad - kernel) / stride + 1;
  const int ow = (w + 2 * pad - kernel) / stride + 1;
  const int kk = kernel * kernel;
  const int64_t row_len = static_cast<int64_t>(c) * kk;
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(oh) * ow * row_len > (1 << 18))
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      float* dst = cols + (static_cast<int64_t>(oy) * ow + ox) * row_len;
      for (int ky = 0; ky < kernel; ++ky) {
        const int iy = oy * stride - pad + ky;
        for (int kx = 0; kx < kernel; ++kx) {
          const int ix = ox * stride - pad + kx;
          float* d = dst + ky * kernel + kx;  // column (ch, ky, kx), stride kk per ch
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
            for (int ch = 0; ch < c; ++ch) d[ch * kk] = 0.0f;
            continue;
          }
          const float* src = hwc + (static_cast<int64_t>(iy) * w + ix) * c;
          for (int ch = 0; ch < c; ++ch) d[ch * kk] = src[ch];
        }
      }
    }
  }
}

void DepthwiseConv3x3Hwc(const float* in, int h, int w, int c, const float* weight,
                         const float* bias, float* out) {
  CheckConv("DepthwiseConv3x3Hwc", c, h, w, 3, 1, 1);
  HWY_DYNAMIC_DISPATCH(DepthwiseConv3x3HwcT)(in, h, w, c, weight, bias, out);
}

}  // namespace persam::kernels
#endif  // HWY_ONCE
