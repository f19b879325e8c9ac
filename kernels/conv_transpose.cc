// ConvTranspose2d kernel 2 stride 2 (kernels/conv.h) as one GEMM plus an
// in-place reorder: every input pixel produces its 4 output children at
// once. (SAM's mask decoder does not call this: it keeps the children as GEMM
// rows through LayerNorm/GELU and the second upscaling, engine/mask_decoder.cc.)
#include <string.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "base/error.h"

namespace persam::kernels {

// GEMM row n = (dy * 2 + dx) * cout + co holds W[:, co, dy, dx], so one
// product of the input [h * w, cin] gives every output pixel's 4 children.
PackedWeights PackConvTranspose2x2(const float* weight, int cin, int cout) {
  if (cin <= 0 || cout <= 0) {
    throw Error("PackConvTranspose2x2: cin and cout must be positive, got " +
                std::to_string(cin) + ", " + std::to_string(cout));
  }
  std::vector<float> b(static_cast<size_t>(4) * cout * cin);
  for (int ci = 0; ci < cin; ++ci) {
    for (int co = 0; co < cout; ++co) {
      for (int t = 0; t < 4; ++t) {
        b[(static_cast<size_t>(t) * cout + co) * cin + ci] = weight[(ci * cout + co) * 4 + t];
      }
    }
  }
  return PackedWeights::Pack(b.data(), 4 * cout, cin, cin);
}

void ConvTranspose2x2Stride2Hwc(const float* in, int h, int w, int cin,
                                const PackedWeights& packed, const float* bias, int cout,
                                float* out) {
  if (packed.n() != 4 * cout || packed.k() != cin) {
    throw Error("ConvTranspose2x2Stride2Hwc: packed weights are [" +
                std::to_string(packed.n()) + ", " + std::to_string(packed.k()) +
                "], expected [" + std::to_string(4 * cout) + ", " + std::to_string(cin) +
                "] (4 * cout, cin)");
  }
  // 4 * cout floats: the bias of every child column.
  std::vector<float> bias4;
  GemmEpilogue epilogue;
  if (bias) {
    bias4.resize(static_cast<size_t>(4) * cout);
    for (int t = 0; t < 4; ++t) {
      memcpy(&bias4[static_cast<size_t>(t) * cout], bias, sizeof(float) * cout);
    }
    epilogue.bias = bias4.data();
  }
  // The GEMM writes straight into `out`, which is exactly [h * w, 4 * cout]:
  // input row y's products land on output rows 2y and 2y + 1 as [x][dy][dx,
  // co], and only need reordering to [dy][x][dx, co] in place (no
  // [h * w, 4 * cout] intermediate).
  const int m = h * w;
  Gemm(m, in, cin, packed, epilogue, out, 4 * cout);
  const size_t pair = static_cast<size_t>(2) * cout;  // the (dx = 0, 1) children
#pragma omp parallel if (static_cast<int64_t>(m) * cout > (1 << 16))
  {
    std::vector<float> second(static_cast<size_t>(w) * pair);  // one output row
#pragma omp for schedule(static)
    for (int y = 0; y < h; ++y) {
      float* block = out + static_cast<size_t>(y) * w * 2 * pair;
      for (int x = 0; x < w; ++x) {
        memcpy(&second[x * pair], block + (2 * x + 1) * pair, sizeof(float) * pair);
      }
      // Forward: the destination x * pair never passes the source 2x * pair.
      for (int x = 1; x < w; ++x) {
        memmove(block + x * pair, block + 2 * x * pair, sizeof(float) * pair);
      }
      memcpy(block + w * pair, second.data(), sizeof(float) * w * pair);
    }
  }
}

}  // namespace persam::kernels
