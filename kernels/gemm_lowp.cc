// bf16 / int8 GEMM entry points: weight packing (once, at load), argument
// checks and one Highway dynamic dispatch per call into gemm_lowp-inl.h.
#include "kernels/hwy_target.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm_lowp.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/gemm_lowp-inl.h"

#if HWY_ONCE

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "hwy/aligned_allocator.h"
#include "kernels/gemm_lowp.h"
#include "kernels/gemm_pack.h"
#include "kernels/parallel.h"
#include "base/error.h"

namespace persam::kernels {

HWY_EXPORT(GemmBF16Impl);
HWY_EXPORT(GemmI8Impl);

namespace {

template <typename T>
std::shared_ptr<T> AllocateShared(size_t count, const char* what) {
  T* p = static_cast<T*>(hwy::AllocateAlignedBytes(
      HWY_MAX(count, size_t{1}) * sizeof(T), nullptr, nullptr));
  if (p == nullptr) {
    throw Error(std::string(what) + ": out of memory allocating " +
                std::to_string(count * sizeof(T)) + " bytes");
  }
  return std::shared_ptr<T>(
      p, [](T* q) { hwy::FreeAlignedBytes(q, nullptr, nullptr); });
}

void CheckPack(const char* fn, const float* w, int n, int k, int ldw) {
  if (n < 0 || k < 0) {
    throw Error(std::string(fn) + ": negative size n=" + std::to_string(n) +
                " k=" + std::to_string(k));
  }
  if (ldw < k) {
    throw Error(std::string(fn) + ": row stride ldw=" + std::to_string(ldw) +
                " must be >= k=" + std::to_string(k));
  }
  if (w == nullptr && n > 0 && k > 0) {
    throw Error(std::string(fn) + ": null weight pointer");
  }
}

void CheckCall(const char* fn, bool empty, int m, int n, int k, int lda,
               int ldc, const GemmEpilogue& ep) {
  if (empty) throw Error(std::string(fn) + ": weights are not packed");
  if (m < 0) throw Error(std::string(fn) + ": negative m=" + std::to_string(m));
  if (lda < k || ldc < n || (ep.residual && ep.ldr < n)) {
    throw Error(std::string(fn) + ": row strides lda=" + std::to_string(lda) +
                " ldc=" + std::to_string(ldc) + " ldr=" +
                std::to_string(ep.ldr) + " must be >= k=" + std::to_string(k) +
                " / n=" + std::to_string(n));
  }
}

// bf16 bits of f, rounded to nearest even; NaN stays a (quiet) NaN.
uint16_t BF16FromF32RNE(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return uint16_t((bits >> 16) | 0x0040u);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

// Residual that aliases C is only safe to fold into the first K block with
// a linear epilogue (see gemm-inl.h); otherwise the caller gets a copy.
const float* ResidualForKernel(int m, int n, const GemmEpilogue& ep,
                               const float* c, int ldc, size_t* ldr,
                               hwy::AlignedFreeUniquePtr<float[]>* copy) {
  *ldr = size_t(ep.ldr);
  if (ep.residual == nullptr || m == 0 || n == 0) return ep.residual;
  const float* r0 = ep.residual;
  const float* r1 = ep.residual + size_t(m - 1) * ep.ldr + n;
  const float* c0 = c;
  const float* c1 = c + size_t(m - 1) * ldc + n;
  const bool overlap = r0 < c1 && c0 < r1;
  const bool same = ep.residual == c && ep.ldr == ldc;
  if (!overlap || (same && ep.activation == Epilogue::kNone)) {
    return ep.residual;
  }
  *copy = hwy::AllocateAligned<float>(size_t(m) * n);
  for (int i = 0; i < m; ++i) {
    std::memcpy(copy->get() + size_t(i) * n, ep.residual + size_t(i) * ep.ldr,
                n * sizeof(float));
  }
  *ldr = n;
  return copy->get();
}

}  // namespace

PackedWeightsBF16 PackedWeightsBF16::Pack(const float* w, int n, int k,
                                          int ldw) {
  CheckPack("PackedWeightsBF16::Pack", w, n, k, ldw);
  PackedWeightsBF16 packed;
  packed.n_ = n;
  packed.k_ = k;
  const size_t kp = (size_t(k) + 1) / 2;
  const size_t npanels = (size_t(n) + kGemmNR - 1) / kGemmNR;
  // Panel layout: [panel][pair][32 columns][2] bf16.
  packed.panels_ = AllocateShared<uint16_t>(npanels * kp * kGemmNR * 2,
                                            "PackedWeightsBF16::Pack");
  uint16_t* out = packed.panels_.get();
#pragma omp parallel for schedule(static) if (size_t(n) * k > 65536)
  for (int64_t jp = 0; jp < int64_t(npanels); ++jp) {
    uint16_t* panel = out + size_t(jp) * kp * kGemmNR * 2;
    for (size_t jj = 0; jj < kGemmNR; ++jj) {
      const size_t j = size_t(jp) * kGemmNR + jj;
      for (size_t p = 0; p < 2 * kp; ++p) {
        const bool valid = j < size_t(n) && p < size_t(k);
        panel[((p / 2) * kGemmNR + jj) * 2 + p % 2] =
            valid ? BF16FromF32RNE(w[j * ldw + p]) : 0;
      }
    }
  }
  return packed;
}

PackedWeightsI8 PackedWeightsI8::Pack(const float* w, int n, int k, int ldw) {
  CheckPack("PackedWeightsI8::Pack", w, n, k, ldw);
  PackedWeightsI8 packed;
  packed.n_ = n;
  packed.k_ = k;
  const size_t kq = (size_t(k) + 3) / 4;
  const size_t npanels = (size_t(n) + kGemmNR - 1) / kGemmNR;
  const size_t n_pad = npanels * kGemmNR;
  packed.panels_ = AllocateShared<int8_t>(npanels * kq * kGemmNR * 4,
                                          "PackedWeightsI8::Pack");
  packed.scales_ = AllocateShared<float>(n_pad, "PackedWeightsI8::Pack");
  packed.col_sums_ = AllocateShared<int32_t>(n_pad, "PackedWeightsI8::Pack");
  int8_t* out = packed.panels_.get();
  float* scales = packed.scales_.get();
  int32_t* sums = packed.col_sums_.get();
#pragma omp parallel for schedule(static) if (size_t(n) * k > 65536)
  for (int64_t jp = 0; jp < int64_t(npanels); ++jp) {
    int8_t* panel = out + size_t(jp) * kq * kGemmNR * 4;
    for (size_t jj = 0; jj < kGemmNR; ++jj) {
      const size_t j = size_t(jp) * kGemmNR + jj;
      // Symmetric per-channel scale: max |w_j| maps to 127.
      float amax = 0.0f;
      if (j < size_t(n)) {
        for (size_t p = 0; p < size_t(k); ++p) {
          amax = std::fmax(amax, std::fabs(w[j * ldw + p]));
        }
      }
      const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
      const float inv = 1.0f / scale;
      int32_t sum = 0;
      for (size_t p = 0; p < 4 * kq; ++p) {
        int8_t q = 0;
        if (j < size_t(n) && p < size_t(k)) {
          const float v = std::nearbyint(w[j * ldw + p] * inv);
          q = int8_t(std::fmin(std::fmax(v, -127.0f), 127.0f));
        }
        sum += q;
        panel[((p / 4) * kGemmNR + jj) * 4 + p % 4] = q;
      }
      scales[j] = j < size_t(n) ? scale : 0.0f;
      sums[j] = sum;
    }
  }
  return packed;
}

PackedWeightsBF16 PackedWeightsBF16::PackBF16(const uint16_t* w, int n, int k, int ldw) {
  CheckPack("PackedWeightsBF16::PackBF16", reinterpret_cast<const float*>(w), n, k, ldw);
  PackedWeightsBF16 packed;
  packed.n_ = n;
  packed.k_ = k;
  const size_t kp = (size_t(k) + 1) / 2;
  const size_t npanels = (size_t(n) + kGemmNR - 1) / kGemmNR;
  packed.panels_ = AllocateShared<uint16_t>(npanels * kp * kGemmNR * 2, "PackedWeightsBF16::PackBF16");
  uint16_t* out = packed.panels_.get();
#pragma omp parallel for schedule(static) if (size_t(n) * k > 65536)
  for (int64_t jp = 0; jp < int64_t(npanels); ++jp) {
    uint16_t* panel = out + size_t(jp) * kp * kGemmNR * 2;
    for (size_t jj = 0; jj < kGemmNR; ++jj) {
      const size_t j = size_t(jp) * kGemmNR + jj;
      for (size_t p = 0; p < 2 * kp; ++p) {
        uint16_t v = 0;
        if (j < size_t(n) && p < size_t(k)) std::memcpy(&v, w + j * ldw + p, 2);  // may be unaligned (mmap)
        panel[((p / 2) * kGemmNR + jj) * 2 + p % 2] = v;
      }
    }
  }
  return packed;
}

PackedWeightsI8 PackedWeightsI8::PackQuantized(const int8_t* q, const float* scales, int n, int k, int ldq) {
  CheckPack("PackedWeightsI8::PackQuantized", reinterpret_cast<const float*>(q), n, k, ldq);
  if (scales == nullptr && n > 0) throw Error("PackedWeightsI8::PackQuantized: null scales");
  PackedWeightsI8 packed;
  packed.n_ = n;
  packed.k_ = k;
  const size_t kq = (size_t(k) + 3) / 4;
  const size_t npanels = (size_t(n) + kGemmNR - 1) / kGemmNR;
  const size_t n_pad = npanels * kGemmNR;
  packed.panels_ = AllocateShared<int8_t>(npanels * kq * kGemmNR * 4, "PackedWeightsI8::PackQuantized");
  packed.scales_ = AllocateShared<float>(n_pad, "PackedWeightsI8::PackQuantized");
  packed.col_sums_ = AllocateShared<int32_t>(n_pad, "PackedWeightsI8::PackQuantized");
  int8_t* out = packed.panels_.get();
  float* out_scales = packed.scales_.get();
  int32_t* sums = packed.col_sums_.get();
#pragma omp parallel for schedule(static) if (size_t(n) * k > 65536)
  for (int64_t jp = 0; jp < int64_t(npanels); ++jp) {
    int8_t* panel = out + size_t(jp) * kq * kGemmNR * 4;
    for (size_t jj = 0; jj < kGemmNR; ++jj) {
      const size_t j = size_t(jp) * kGemmNR + jj;
      int32_t sum = 0;
      for (size_t p = 0; p < 4 * kq; ++p) {
        const int8_t v = j < size_t(n) && p < size_t(k) ? q[j * ldq + p] : int8_t{0};
        sum += v;
        panel[((p / 4) * kGemmNR + jj) * 4 + p % 4] = v;
      }
      float scale = 0.0f;
      if (j < size_t(n)) std::memcpy(&scale, scales + j, 4);  // may be unaligned (mmap)
      out_scales[j] = scale;
      sums[j] = sum;
    }
  }
  return packed;
}

void GemmBF16(int m, const float* a, int lda, const PackedWeightsBF16& b,
              const GemmEpilogue& epilogue, float* c, int ldc) {
  CheckCall("GemmBF16", b.empty(), m, b.n(), b.k(), lda, ldc, epilogue);
  if (m == 0 || b.n() == 0) return;
  size_t ldr;
  hwy::AlignedFreeUniquePtr<float[]> copy;
  const float* residual =
      ResidualForKernel(m, b.n(), epilogue, c, ldc, &ldr, &copy);
  HWY_DYNAMIC_DISPATCH(GemmBF16Impl)(
      m, a, lda, b.panels(), b.n(), b.k(), epilogue.bias, epilogue.activation,
      residual, ldr, c, ldc, NumThreads(), HasAvx512Bf16());
}

void GemmI8(int m, const float* a, int lda, const PackedWeightsI8& b,
            const GemmEpilogue& epilogue, float* c, int ldc) {
  CheckCall("GemmI8", b.empty(), m, b.n(), b.k(), lda, ldc, epilogue);
  if (m == 0 || b.n() == 0) return;
  size_t ldr;
  hwy::AlignedFreeUniquePtr<float[]> copy;
  const float* residual =
      ResidualForKernel(m, b.n(), epilogue, c, ldc, &ldr, &copy);
  HWY_DYNAMIC_DISPATCH(GemmI8Impl)(
      m, a, lda, b.panels(), b.scales(), b.col_sums(), b.n(), b.k(),
      epilogue.bias, epilogue.activation, residual, ldr, c, ldc, NumThreads(),
      HasInt8Dot(), NativeDotEnabled());
}

const char* GemmBF16PathName() {
  const std::string target = DispatchedTargetName();
  if (target == "AVX3_DL" && HasAvx512Bf16()) return "AVX3_DL+vdpbf16ps";
  static thread_local std::string name;
  name = target + " (widening)";
  return name.c_str();
}

const char* GemmI8PathName() {
  const std::string target = DispatchedTargetName();
  if (target == "AVX3_DL" && HasInt8Dot()) return "AVX3_DL+vpdpbusd";
  if (target == "NEON" && HasInt8Dot()) return "NEON+sdot";
  if (target == "AVX2" && NativeDotEnabled()) return "AVX2+vpmaddwd";
  if (target.rfind("SVE", 0) == 0 && HasInt8Dot()) {
    static thread_local std::string sve;
    sve = target + "+svdot";
    return sve.c_str();
  }
  static thread_local std::string name;
  name = target + " (widening)";
  return name.c_str();
}

}  // namespace persam::kernels

#endif  // HWY_ONCE
