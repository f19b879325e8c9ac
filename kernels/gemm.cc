// Float32 GEMM entry points: argument checks, weight packing, and one
// Highway dynamic dispatch per call into gemm-inl.h.
#include "kernels/hwy_target.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/gemm-inl.h"

#if HWY_ONCE

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "hwy/aligned_allocator.h"
#include "kernels/gemm.h"
#include "kernels/gemm_pack.h"
#include "kernels/parallel.h"
#include "kernels/transpose_block.h"
#include "base/error.h"


namespace persam::kernels {

HWY_EXPORT(GemmF32);

namespace {

const char* CurrentTargetName() {
  // The target HWY_DYNAMIC_DISPATCH picks: the best of the supported targets
  // that this file was compiled for.
  const int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  if (targets == 0) return "none";
  return hwy::TargetName(targets & -targets);
}

std::shared_ptr<float> AllocateShared(size_t floats) {
  const size_t bytes = floats * sizeof(float);
  // Packed weights of a model (up to ~2.5 GB) on 2 MiB pages: a load
  // otherwise takes a page fault per 4 KiB while packing (~25 % of a ViT-B
  // load). Small operands keep the allocator's pages.
  constexpr size_t kHugePage = size_t{2} << 20;
  if (bytes >= 2 * kHugePage) {
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (p == nullptr) throw Error("Gemm: out of memory allocating " + std::to_string(bytes) + " bytes");
#ifdef __linux__
    (void)madvise(p, rounded, MADV_HUGEPAGE);  // advice only: without THP the pages stay 4 KiB
#endif
    return std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { std::free(q); });
  }
  float* p = static_cast<float*>(hwy::AllocateAlignedBytes(bytes, nullptr, nullptr));
  if (p == nullptr) {
    throw Error("Gemm: out of memory allocating " + std::to_string(bytes) + " bytes");
  }
  return std::shared_ptr<float>(
      p, [](float* q) { hwy::FreeAlignedBytes(q, nullptr, nullptr); });
}

// Maps the whole pages inside [p, p + bytes) in one system call
// (MADV_POPULATE_READ / _WRITE, Linux 5.14) instead of a page fault per
// 4 KiB page as the packing loop first touches them: in this VM a fault costs
// ~10 us, and faults were ~35 % of a MobileSAM load (issue 17). Advice only:
// older kernels or other systems keep the faults. Small ranges are left to
// the faults (a system call each is no cheaper).
void Populate(const void* p, size_t bytes, bool write) {
#if defined(__linux__) && defined(MADV_POPULATE_READ) && defined(MADV_POPULATE_WRITE)
  constexpr size_t kMinBytes = size_t{64} << 10;
  if (p == nullptr || bytes < kMinBytes) return;
  constexpr uintptr_t kPage = 4096;
  const uintptr_t first = (reinterpret_cast<uintptr_t>(p) + kPage - 1) / kPage * kPage;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(p) + bytes) / kPage * kPage;
  if (first >= last) return;
  (void)madvise(reinterpret_cast<void*>(first), last - first, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
#else
  (void)p;
  (void)bytes;
  (void)write;
#endif
}

void CheckDims(const char* fn, int m, int n, int k) {
  if (m < 0 || n < 0 || k < 0) {
    throw Error(std::string(fn) + ": negative size m=" + std::to_string(m) +
                " n=" + std::to_string(n) + " k=" + std::to_string(k));
  }
}

void CheckStride(const char* fn, const char* name, int ld, int min) {
  if (ld < min) {
    throw Error(std::string(fn) + ": row stride " + name + "=" +
                std::to_string(ld) + " must be >= " + std::to_string(min));
  }
}

// True if [p, p + rows * ld) and [q, q + rows * ldq) overlap (as addresses).
bool Overlaps(const float* p, size_t ld, const float* q, size_t ldq,
              size_t rows, size_t cols) {
  if (rows == 0 || cols == 0) return false;
  const uintptr_t p0 = reinterpret_cast<uintptr_t>(p);
  const uintptr_t p1 =
      reinterpret_cast<uintptr_t>(p + (rows - 1) * ld + cols);
  const uintptr_t q0 = reinterpret_cast<uintptr_t>(q);
  const uintptr_t q1 =
      reinterpret_cast<uintptr_t>(q + (rows - 1) * ldq + cols);
  return p0 < q1 && q0 < p1;
}

// Threads for a product of m x n x k multiply-adds. Below ~1M (~10 us on
// one core) a second thread saves less than an OpenMP fork/join costs, far
// less once the machine is busy (a descheduled worker stalls the barrier for
// a whole time slice): the decoder's token-side linears (7 x 256 x 256) run
// ~50 such products per call. Larger few-row products are kept parallel:
// the decoder's token MLPs (7 x 256 x 2048) stream 2 MB of weights each from
// memory, which two cores do faster.
int GemmThreads(int m, int n, int k) {
  constexpr int64_t kSerialMacs = int64_t{1} << 20;
  return static_cast<int64_t>(m) * n * k < kSerialMacs ? 1 : NumThreads();
}

}  // namespace

void PackPanelsF32(const float* w, size_t n, size_t k, size_t ldw, float scale,
                   float* out) {
  PackPanelsSumF32(w, nullptr, n, k, ldw, scale, out);
}

namespace {

// Panel jp of PackPanelsSumF32 (see there).
void PackPanelSum(const float* w, const float* addend, size_t n, size_t k, size_t ldw, float scale, float* out,
                  size_t jp) {
  // addend is in the packed layout of out: read where out is written.
  auto value = [&](size_t j, size_t p) {
    const float v = w[j * ldw + p];
    if (addend == nullptr) return scale * v;
    const size_t at = (j / kGemmNR) * k * kGemmNR + p * kGemmNR + j % kGemmNR;
    return scale * (v + addend[at]);
  };
  {
    float* panel = out + jp * k * kGemmNR;
    const size_t j0 = jp * kGemmNR;
    const size_t cols = std::min(kGemmNR, n - j0);
    size_t jj = 0;
    // 4 x 4 blocks transposed in registers (TransposeBlock4): four row
    // loads, four 16-byte stores (the scalar order stores one float per
    // 128-byte panel row). Blocks of 16 steps (one 64-byte line of each
    // source row): the 16 panel rows (2 KiB) are completed before moving on,
    // so every line is written whole while it is in L1 (row-group order was
    // 3x slower cold). The addend and scale are applied in registers.
    const size_t k4 = k & ~size_t{3};
    const size_t cols4 = cols & ~size_t{3};
    const bool plain = addend == nullptr && scale == 1.0f;
    const float* panel_addend = addend != nullptr ? addend + (panel - out) : nullptr;
    for (size_t p0 = 0; p0 < k4; p0 += 16) {
      const size_t p1 = std::min(k4, p0 + 16);
      for (size_t j = 0; j < cols4; j += 4) {
        const float* src = w + (j0 + j) * ldw;
        for (size_t p = p0; p < p1; p += 4) {
          float* dst = panel + p * kGemmNR + j;
          if (plain) {
            TransposeBlock4(src + p, static_cast<int64_t>(ldw), dst, kGemmNR);
          } else {
            TransposeBlock4AddScale(src + p, static_cast<int64_t>(ldw),
                                    panel_addend != nullptr ? panel_addend + p * kGemmNR + j : nullptr, scale, dst,
                                    kGemmNR);
          }
        }
      }
    }
    for (; jj < cols4; jj += 4) {
      for (size_t p = k4; p < k; ++p) {
        for (size_t i = 0; i < 4; ++i) panel[p * kGemmNR + jj + i] = value(j0 + jj + i, p);
      }
    }
    for (; jj < cols; ++jj) {
      for (size_t p = 0; p < k; ++p) panel[p * kGemmNR + jj] = value(j0 + jj, p);
    }
    for (; jj < kGemmNR; ++jj) {
      for (size_t p = 0; p < k; ++p) panel[p * kGemmNR + jj] = 0.0f;
    }
  }
}

}  // namespace

void PackPanelsSumF32(const float* w, const float* addend, size_t n, size_t k,
                      size_t ldw, float scale, float* out) {
  const int64_t npanels = static_cast<int64_t>((n + kGemmNR - 1) / kGemmNR);
  // Threads from 256K floats (1 MiB) on: per-call operands such as the
  // decoder's 4096 x 256 image tokens are packed three times per call.
#pragma omp parallel for schedule(static) if (npanels * k * static_cast<int64_t>(kGemmNR) > (1 << 18))
  for (int64_t jp = 0; jp < npanels; ++jp) {
    PackPanelSum(w, addend, n, k, ldw, scale, out, static_cast<size_t>(jp));
  }
}

PackedWeights PackedWeights::Pack(const float* w, int n, int k, int ldw) {
  PackedWeights packed;
  // Load time (weights, once): the source (often a mapped file) and the new
  // panels are mapped up front, not fault by fault (Populate).
  if (w != nullptr && n > 0 && k > 0 && ldw >= k) {
    Populate(w, (static_cast<size_t>(n - 1) * ldw + k) * sizeof(float), /*write=*/false);
    Populate(packed.Reserve(n, k), PackedPanelFloats(n, k) * sizeof(float), /*write=*/true);
  }
  packed.Repack(w, n, k, ldw);
  return packed;
}

PackedWeights PackedWeights::FromPanels(std::shared_ptr<const void> owner, const float* panels, int n, int k) {
  CheckDims("PackedWeights::FromPanels", 0, n, k);
  if (panels == nullptr || owner == nullptr) throw Error("PackedWeights::FromPanels: null panels or owner");
  PackedWeights packed;
  packed.n_ = n;
  packed.k_ = k;
  packed.capacity_ = PackedPanelFloats(n, k);
  // Aliasing shared_ptr: shares `owner`'s count, points at the panels.
  packed.panels_ = std::shared_ptr<float>(std::move(owner), const_cast<float*>(panels));
  packed.borrowed_ = true;
  return packed;
}

float* PackedWeights::Reserve(int n, int k) {
  const size_t floats = std::max<size_t>(PackedPanelFloats(n, k), kGemmNR);
  if (panels_ == nullptr || borrowed_ || panels_.use_count() > 1 || capacity_ < floats) {
    panels_ = AllocateShared(floats);
    capacity_ = floats;
    borrowed_ = false;
  }
  n_ = n;
  k_ = k;
  return panels_.get();
}

void PackedWeights::Repack(const float* w, int n, int k, int ldw, const PackedWeights* addend) {
  CheckDims("PackedWeights::Pack", 0, n, k);
  CheckStride("PackedWeights::Pack", "ldw", ldw, k);
  if (w == nullptr && n > 0 && k > 0) {
    throw Error("PackedWeights::Pack: null weight pointer");
  }
  if (addend != nullptr && (addend->empty() || addend->n() != n || addend->k() != k || addend == this)) {
    throw Error("PackedWeights::Repack: the addend must be another packed [" + std::to_string(n) + ", " +
                std::to_string(k) + "] operand");
  }
  float* out = Reserve(n, k);
  if (n > 0 && k > 0) PackPanelsSumF32(w, addend != nullptr ? addend->panels() : nullptr, n, k, ldw, 1.0f, out);
}

namespace {

// Step p of every panel of RepackTransposed: wt[p, 32 jp .. 32 jp + 31].
void PackTransposedRow(const float* wt, size_t ldwt, size_t n, size_t k, size_t p, float* out) {
  const size_t npanels = (n + kGemmNR - 1) / kGemmNR;
  const size_t tail = n - (npanels - 1) * kGemmNR;
  const float* row = wt + p * ldwt;
  for (size_t jp = 0; jp < npanels; ++jp) {
    float* dst = out + (jp * k + p) * kGemmNR;
    const size_t cols = jp + 1 == npanels ? tail : kGemmNR;
    std::memcpy(dst, row + jp * kGemmNR, cols * sizeof(float));
    if (cols < kGemmNR) std::fill(dst + cols, dst + kGemmNR, 0.0f);
  }
}

}  // namespace

void PackedWeights::RepackTransposed(const float* wt, int k, int n, int ldwt) {
  CheckDims("PackedWeights::RepackTransposed", 0, n, k);
  CheckStride("PackedWeights::RepackTransposed", "ldwt", ldwt, n);
  if (wt == nullptr && n > 0 && k > 0) {
    throw Error("PackedWeights::RepackTransposed: null pointer");
  }
  float* out = Reserve(n, k);
  if (n == 0) return;
  // Step p of panel jp holds wt[p, 32 jp .. 32 jp + 31]: row p of wt is cut
  // into the panels in one sequential read (rows outer: a panels-outer order
  // re-reads wt once per panel with a stride and was 4x slower).
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(n) * k > (1 << 18))
  for (int p = 0; p < k; ++p) PackTransposedRow(wt, ldwt, n, k, p, out);
}

void PackedWeights::RepackRows(const float* w, int ldw, int r0, int r1, const PackedWeights* addend) {
  CheckStride("PackedWeights::RepackRows", "ldw", ldw, k_);
  if (panels_ == nullptr || r0 < 0 || r0 > r1 || r1 > n_ || r0 % static_cast<int>(kGemmNR) != 0 ||
      (r1 != n_ && r1 % static_cast<int>(kGemmNR) != 0)) {
    throw Error("PackedWeights::RepackRows: rows [" + std::to_string(r0) + ", " + std::to_string(r1) +
                ") are not whole 32-row panels of the " + std::to_string(n_) + " rows set by Resize");
  }
  if (addend != nullptr && (addend->empty() || addend->n() != n_ || addend->k() != k_ || addend == this)) {
    throw Error("PackedWeights::RepackRows: the addend must be another packed [" + std::to_string(n_) + ", " +
                std::to_string(k_) + "] operand");
  }
  if (k_ == 0 || r0 == r1) return;
  if (w == nullptr) throw Error("PackedWeights::RepackRows: null pointer");
  const size_t first = static_cast<size_t>(r0) / kGemmNR, last = (static_cast<size_t>(r1) + kGemmNR - 1) / kGemmNR;
  for (size_t jp = first; jp < last; ++jp) {
    PackPanelSum(w, addend != nullptr ? addend->panels() : nullptr, n_, k_, ldw, 1.0f, panels_.get(), jp);
  }
}

void PackedWeights::RepackTransposedRows(const float* wt, int ldwt, int p0, int p1) {
  CheckStride("PackedWeights::RepackTransposedRows", "ldwt", ldwt, n_);
  if (panels_ == nullptr || p0 < 0 || p0 > p1 || p1 > k_) {
    throw Error("PackedWeights::RepackTransposedRows: rows [" + std::to_string(p0) + ", " + std::to_string(p1) +
                ") outside the " + std::to_string(k_) + " set by Resize");
  }
  if (n_ == 0 || p0 == p1) return;
  if (wt == nullptr) throw Error("PackedWeights::RepackTransposedRows: null pointer");
  for (int p = p0; p < p1; ++p) PackTransposedRow(wt, ldwt, n_, k_, p, panels_.get());
}

void Gemm(int m, const float* a, int lda, const PackedWeights& b,
          const GemmEpilogue& epilogue, float* c, int ldc) {
  if (b.empty()) throw Error("Gemm: weights are not packed (empty PackedWeights)");
  const int n = b.n();
  const int k = b.k();
  CheckDims("Gemm", m, n, k);
  CheckStride("Gemm", "lda", lda, k);
  CheckStride("Gemm", "ldc", ldc, n);
  if (epilogue.residual) CheckStride("Gemm", "epilogue.ldr", epilogue.ldr, n);
  if (m == 0 || n == 0) return;
  const float* residual = epilogue.residual;
  size_t ldr = static_cast<size_t>(epilogue.ldr);
  hwy::AlignedFreeUniquePtr<float[]> residual_copy;
  if (residual != nullptr) {
    const bool same = residual == c && epilogue.ldr == ldc;
    const bool overlap = Overlaps(residual, ldr, c, ldc, m, n);
    if (overlap && !(same && epilogue.activation == Epilogue::kNone)) {
      // The kernel folds a residual that aliases C into the first K block,
      // which is only valid for a linear epilogue; otherwise copy it.
      residual_copy = hwy::AllocateAligned<float>(size_t(m) * n);
      for (int i = 0; i < m; ++i) {
        std::memcpy(residual_copy.get() + size_t(i) * n, residual + i * ldr,
                    n * sizeof(float));
      }
      residual = residual_copy.get();
      ldr = n;
    }
  }
  HWY_DYNAMIC_DISPATCH(GemmF32)(m, a, lda, b.panels(), n, k, epilogue.bias,
                                epilogue.activation, residual, ldr, c, ldc,
                                GemmThreads(m, n, k));
}

void GemmABt(int m, int n, int k, float alpha, const float* a, int lda,
             const float* b, int ldb, float* c, int ldc) {
  CheckDims("GemmABt", m, n, k);
  CheckStride("GemmABt", "lda", lda, k);
  CheckStride("GemmABt", "ldb", ldb, k);
  CheckStride("GemmABt", "ldc", ldc, n);
  if (m == 0 || n == 0) return;
  const size_t floats = PackedPanelFloats(n, k);
  hwy::AlignedFreeUniquePtr<float[]> panels =
      hwy::AllocateAligned<float>(floats == 0 ? kGemmNR : floats);
  if (floats != 0) PackPanelsF32(b, n, k, ldb, alpha, panels.get());
  HWY_DYNAMIC_DISPATCH(GemmF32)(m, a, lda, panels.get(), n, k, nullptr,
                                Epilogue::kNone, nullptr, 0, c, ldc,
                                NumThreads());
}

const char* GemmTargetName() { return CurrentTargetName(); }

}  // namespace persam::kernels

#endif  // HWY_ONCE
