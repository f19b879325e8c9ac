// Convolution helpers (kernels/conv.h): im2col gathers and the whole-image
// depthwise 3x3 (a thin wrapper of the row-banded kernel in conv_rows.cc).
// The 2x2 stride-2 transposed convolution is in conv_transpose.cc.
#include "kernels/conv.h"

#include <string.h>

#include <cstdint>
#include <string>

#include "kernels/conv_rows.h"
#include "base/error.h"

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

void DepthwiseConv3x3Hwc(const float* in, int h, int w, int c, const float* weight,
                         const float* bias, float* out) {
  CheckConv("DepthwiseConv3x3Hwc", c, h, w, 3, 1, 1);
  DepthwiseConv3x3HwcRows(in, 0, h, w, c, 1, weight, bias, Epilogue::kNone, 0, h, out);
}

}  // namespace persam::kernels
