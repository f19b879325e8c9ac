// ConvTranspose2d kernel 2 stride 2 (kernels/conv.h) as one GEMM plus a
// scatter: every input pixel produces its 4 output children at once.
#include <string.h>

#include <string>
#include <vector>

#include "kernels/conv.h"
#include "weights/error.h"

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
  std::vector<float> bias4;
  GemmEpilogue epilogue;
  if (bias) {
    bias4.resize(static_cast<size_t>(4) * cout);
    for (int t = 0; t < 4; ++t) memcpy(&bias4[static_cast<size_t>(t) * cout], bias, sizeof(float) * cout);
    epilogue.bias = bias4.data();
  }
  const int m = h * w;
  std::vector<float> prod(static_cast<size_t>(m) * 4 * cout);
  Gemm(m, in, cin, packed, epilogue, prod.data(), 4 * cout);
  const int ow = 2 * w;
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(m) * cout > (1 << 16))
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float* p = &prod[(static_cast<size_t>(y) * w + x) * 4 * cout];
      for (int dy = 0; dy < 2; ++dy) {
        // (dx = 0, 1) children are adjacent in both layouts: one 2*cout copy.
        float* o = out + ((static_cast<int64_t>(2 * y + dy) * ow) + 2 * x) * cout;
        memcpy(o, p + static_cast<size_t>(dy) * 2 * cout, sizeof(float) * 2 * cout);
      }
    }
  }
}

}  // namespace persam::kernels
