// Dispatching entry points of kernels/ops.h: one HWY_DYNAMIC_DISPATCH per
// call; the per-target bodies are the array drivers of ops-inl.h.
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/hwy_target.h"  // first: target policy

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/hwy_target.h"
#include "kernels/ops-inl.h"
#include "kernels/parallel.h"

HWY_BEFORE_NAMESPACE();
namespace persam::kernels::HWY_NAMESPACE {
namespace {

void LayerNormRowsT(int rows, int cols, const float* x, int64_t ldx,
                    const float* gamma, const float* beta, float eps, float* out,
                    int64_t ldo) {
  // Rows are independent; big calls (4096 tokens) are worth the threads.
  ParallelFor(rows, static_cast<int64_t>(rows) * cols > (1 << 16), [&](int64_t r) {
    LayerNormRow(x + r * ldx, static_cast<size_t>(cols), gamma, beta, eps, out + r * ldo);
  });
}

// Vectorised across positions: each lane is one position; channels are
// visited with stride `positions` (two passes, like LayerNormRow).
void LayerNormChannelsT(int channels, int64_t positions, const float* x,
                        const float* gamma, const float* beta, float eps,
                        float* out) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const float inv_c = 1.0f / static_cast<float>(channels);
  auto block = [&](int64_t p, size_t n) {
    auto load = [&](const float* ptr) {
      return n == static_cast<size_t>(N) ? hn::LoadU(d, ptr) : LoadN(d, ptr, n);
    };
    auto mean = hn::Zero(d);
    for (int c = 0; c < channels; ++c) mean = hn::Add(mean, load(x + c * positions + p));
    mean = hn::Mul(mean, hn::Set(d, inv_c));
    auto var = hn::Zero(d);
    for (int c = 0; c < channels; ++c) {
      const auto dev = hn::Sub(load(x + c * positions + p), mean);
      var = hn::MulAdd(dev, dev, var);
    }
    var = hn::Mul(var, hn::Set(d, inv_c));
    const auto rstd = hn::Div(hn::Set(d, 1.0f), hn::Sqrt(hn::Add(var, hn::Set(d, eps))));
    for (int c = 0; c < channels; ++c) {
      const auto g = hn::Set(d, gamma ? gamma[c] : 1.0f);
      const auto b = hn::Set(d, beta ? beta[c] : 0.0f);
      const auto y =
          hn::MulAdd(hn::Mul(hn::Sub(load(x + c * positions + p), mean), rstd), g, b);
      if (n == static_cast<size_t>(N)) {
        hn::StoreU(y, d, out + c * positions + p);
      } else {
        StoreN(y, d, out + c * positions + p, n);
      }
    }
  };
  const int64_t full = positions / N;
#pragma omp parallel for schedule(static) if (positions * channels > (1 << 16))
  for (int64_t b = 0; b < full; ++b) block(b * N, static_cast<size_t>(N));
  if (full * N < positions) block(full * N, static_cast<size_t>(positions - full * N));
}

void GeluT(float* x, size_t n) {
  // Chunks of whole cache lines, in parallel for big arrays (the decoder's
  // upscaling: 1M values, ~1 ns each).
  constexpr size_t kChunk = 16384;
  const int64_t chunks = static_cast<int64_t>((n + kChunk - 1) / kChunk);
  ParallelFor(chunks, true, [&](int64_t ci) {
    const size_t begin = static_cast<size_t>(ci) * kChunk;
    const size_t len = std::min(kChunk, n - begin);
    MapArray(x + begin, x + begin, len, GeluFunc());
  });
}
void ReluT(float* x, size_t n) { MapArray(x, x, n, ReluFunc()); }
void SigmoidT(float* x, size_t n) { MapArray(x, x, n, SigmoidFunc()); }

void ErfArrayT(float* x, size_t n) {
  MapArray(x, x, n, [](auto d, auto v) { return Erf(d, v); });
}
const char* OpsTargetNameT() { return hwy::TargetName(HWY_TARGET); }

float ErfT(float x) {
  const hn::ScalableTag<float> d;
  return hn::GetLane(Erf(d, hn::Set(d, x)));
}

void SoftmaxRowsT(int rows, int cols, float* x, int64_t ldx) {
  ParallelFor(rows, static_cast<int64_t>(rows) * cols > (1 << 16),
              [&](int64_t r) { SoftmaxRow(x + r * ldx, static_cast<size_t>(cols)); });
}

void SoftmaxColumnsT(int rows, int cols, float* x, int64_t ldx, const float* row_bias) {
  if (rows <= 0 || cols <= 0) return;
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto block = [&](int64_t c, size_t n) {
    const bool full = n == static_cast<size_t>(N);
    auto load = [&](int r) {
      const float* p = x + r * ldx + c;
      auto v = full ? hn::LoadU(d, p) : LoadN(d, p, n);
      return row_bias != nullptr ? hn::Add(v, hn::Set(d, row_bias[r])) : v;
    };
    auto vmax = load(0);
    for (int r = 1; r < rows; ++r) vmax = hn::Max(vmax, load(r));
    auto sum = hn::Zero(d);
    for (int r = 0; r < rows; ++r) {
      const auto e = hn::Exp(d, hn::Sub(load(r), vmax));
      sum = hn::Add(sum, e);
      if (full) {
        hn::StoreU(e, d, x + r * ldx + c);
      } else {
        StoreN(e, d, x + r * ldx + c, n);
      }
    }
    const auto inv = hn::Div(hn::Set(d, 1.0f), sum);
    for (int r = 0; r < rows; ++r) {
      float* p = x + r * ldx + c;
      if (full) {
        hn::StoreU(hn::Mul(hn::LoadU(d, p), inv), d, p);
      } else {
        StoreN(hn::Mul(LoadN(d, p, n), inv), d, p, n);
      }
    }
  };
  const int64_t full_blocks = cols / N;
  ParallelFor(full_blocks, static_cast<int64_t>(rows) * cols > (1 << 16),
              [&](int64_t b) { block(b * N, static_cast<size_t>(N)); });
  if (full_blocks * N < cols) block(full_blocks * N, static_cast<size_t>(cols - full_blocks * N));
}

void SmallNProductT(int rows, int k, const float* a, int64_t lda, int n, const float* w,
                    float* out, int64_t ldo) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const size_t kk = static_cast<size_t>(k);
  ParallelFor(rows, static_cast<int64_t>(rows) * k * n > (1 << 16), [&](int64_t r) {
    const float* ar = a + r * lda;
    for (int j = 0; j < n; ++j) {
      const float* wj = w + static_cast<size_t>(j) * kk;
      auto acc = hn::Zero(d);
      size_t c = 0;
      for (; c + N <= kk; c += N) acc = hn::MulAdd(hn::LoadU(d, ar + c), hn::LoadU(d, wj + c), acc);
      if (c < kk) acc = hn::MulAdd(LoadN(d, ar + c, kk - c), LoadN(d, wj + c, kk - c), acc);
      out[r * ldo + j] = hn::GetLane(hn::SumOfLanes(d, acc));
    }
  });
}

void AddT(const float* a, const float* b, float* out, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Add(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
  }
  if (i < n) {
    StoreN(hn::Add(LoadN(d, a + i, n - i), LoadN(d, b + i, n - i)), d, out + i,
              n - i);
  }
}

void L2NormalizeRowsT(int rows, int cols, float* x, int64_t ldx) {
  for (int r = 0; r < rows; ++r) L2NormalizeRow(x + r * ldx, static_cast<size_t>(cols));
}

}  // namespace
// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace persam::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace persam::kernels {

HWY_EXPORT(LayerNormRowsT);
HWY_EXPORT(LayerNormChannelsT);
HWY_EXPORT(GeluT);
HWY_EXPORT(ReluT);
HWY_EXPORT(SigmoidT);
HWY_EXPORT(ErfT);
HWY_EXPORT(ErfArrayT);
HWY_EXPORT(OpsTargetNameT);
HWY_EXPORT(SoftmaxRowsT);
HWY_EXPORT(SoftmaxColumnsT);
HWY_EXPORT(SmallNProductT);
HWY_EXPORT(AddT);
HWY_EXPORT(L2NormalizeRowsT);

void LayerNormRows(int rows, int cols, const float* x, int64_t ldx, const float* gamma,
                   const float* beta, float eps, float* out, int64_t ldo) {
  HWY_DYNAMIC_DISPATCH(LayerNormRowsT)(rows, cols, x, ldx, gamma, beta, eps, out, ldo);
}
void LayerNormChannels(int channels, int64_t positions, const float* x,
                       const float* gamma, const float* beta, float eps, float* out) {
  HWY_DYNAMIC_DISPATCH(LayerNormChannelsT)(channels, positions, x, gamma, beta, eps, out);
}
void Gelu(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(GeluT)(x, n); }
void Relu(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(ReluT)(x, n); }
void Sigmoid(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(SigmoidT)(x, n); }
float Erf(float x) { return HWY_DYNAMIC_DISPATCH(ErfT)(x); }
void ErfArray(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(ErfArrayT)(x, n); }
const char* OpsTargetName() { return HWY_DYNAMIC_DISPATCH(OpsTargetNameT)(); }
void SoftmaxRows(int rows, int cols, float* x, int64_t ldx) {
  HWY_DYNAMIC_DISPATCH(SoftmaxRowsT)(rows, cols, x, ldx);
}
void SoftmaxColumns(int rows, int cols, float* x, int64_t ldx, const float* row_bias) {
  HWY_DYNAMIC_DISPATCH(SoftmaxColumnsT)(rows, cols, x, ldx, row_bias);
}
void SmallNProduct(int rows, int k, const float* a, int64_t lda, int n, const float* w,
                   float* out, int64_t ldo) {
  HWY_DYNAMIC_DISPATCH(SmallNProductT)(rows, k, a, lda, n, w, out, ldo);
}
void Add(const float* a, const float* b, float* out, size_t n) {
  HWY_DYNAMIC_DISPATCH(AddT)(a, b, out, n);
}
void L2NormalizeRows(int rows, int cols, float* x, int64_t ldx) {
  HWY_DYNAMIC_DISPATCH(L2NormalizeRowsT)(rows, cols, x, ldx);
}

}  // namespace persam::kernels
#endif  // HWY_ONCE
