// Float32 GEMM: C = A * B^T (+ bias) (+ epilogue) (+ residual).
// B is a weight matrix in PyTorch's Linear layout [n, k], packed once at load
// into BLIS-style k x NR micro-panels. Threads: OpenMP over the M/N blocks;
// call from outside any parallel region (inside one it runs single-threaded).
// Implementation, register tile and cache blocking: kernels/gemm-inl.h;
// bf16 / int8 weights: kernels/gemm_lowp.h.
// Lane type float32; A, C, bias and residual need no alignment. Error: each
// output is an in-order float32 FMA chain over k, |C - C_exact| <=
// (k + 2) * 2^-24 * (sum_k |a b| + |bias|) before the epilogue (GELU: exact-erf
// form, kernels/gelu-inl.h). C is never read (beta = 0) except as residual.
// NaN/Inf in A or B propagate to the affected rows/columns only.
#ifndef PERSAM_KERNELS_GEMM_H_
#define PERSAM_KERNELS_GEMM_H_

#include <cstddef>
#include <memory>

namespace persam::kernels {

enum class Epilogue { kNone, kGelu, kRelu };

// Weights [n, k] (row stride ldw >= k), bias folded in at pack time is not
// assumed: bias is passed to Gemm. Opaque layout, owned, 64-byte aligned.
class PackedWeights {
 public:
  PackedWeights() = default;
  static PackedWeights Pack(const float* w, int n, int k, int ldw);
  // Panels already in this layout (gemm_pack.h: PackedPanelFloats(n, k)
  // floats, e.g. mapped from a file written by `persam convert --packed`),
  // used where they are, read-only: `owner` keeps them alive. Any alignment
  // (the kernel loads B unaligned). Repack into such weights allocates.
  static PackedWeights FromPanels(std::shared_ptr<const void> owner, const float* panels, int n, int k);
  // Packing of operands that change per call (activations as the B side of
  // a product): the storage is kept and reused when it is large enough and
  // not shared with a copy, so a per-call repack costs no page faults.
  // Repack: B = w (+ addend: another packed [n, k] operand, e.g. a constant
  // packed once; reading it in packed order streams where a row-major
  // addend would be read 32 rows at a time).
  void Repack(const float* w, int n, int k, int ldw, const PackedWeights* addend = nullptr);
  // RepackTransposed: B = wt^T from wt [k, n] (row stride ldwt), e.g.
  // channel-last activations [positions, channels] as B [channels,
  // positions] of a sum over positions: whole rows of wt are copied, no
  // transpose pass.
  void RepackTransposed(const float* wt, int k, int n, int ldwt);
  // The same in blocks, for operands produced block by block inside the
  // caller's own parallel loop (each block packed while it is in cache):
  // Resize(n, k) once outside the loop, then fill disjoint ranges from any
  // thread, serially within each call. RepackRows packs rows [r0, r1) of
  // Repack's w [n, k] (w points at row 0; r0 a multiple of kGemmNR = 32 and
  // r1 one or n: whole panels). RepackTransposedRows packs rows [p0, p1) of
  // RepackTransposed's wt [k, n] (any range). The result of all ranges
  // together is bit for bit that of Repack / RepackTransposed.
  void Resize(int n, int k) { Reserve(n, k); }
  void RepackRows(const float* w, int ldw, int r0, int r1, const PackedWeights* addend = nullptr);
  void RepackTransposedRows(const float* wt, int ldwt, int p0, int p1);
  int n() const { return n_; }
  int k() const { return k_; }
  const float* panels() const { return panels_.get(); }
  bool empty() const { return panels_ == nullptr; }

 private:
  float* Reserve(int n, int k);  // sets n_, k_; returns the panels to fill

  int n_ = 0, k_ = 0;
  size_t capacity_ = 0;  // floats allocated in panels_
  std::shared_ptr<float> panels_;
  bool borrowed_ = false;  // FromPanels: never written
};

struct GemmEpilogue {
  const float* bias = nullptr;      // [n], added first
  Epilogue activation = Epilogue::kNone;
  const float* residual = nullptr;  // [m, n] with row stride ldr, added last
  int ldr = 0;                      // (may alias c with ldr == ldc)
};

// C[m, n] = act(A[m, k] * B^T + bias) + residual. A row stride lda >= k.
void Gemm(int m, const float* a, int lda, const PackedWeights& b,
          const GemmEpilogue& epilogue, float* c, int ldc);

// Both operands are activations: C[m, n] = alpha * A[m, k] * B[n, k]^T.
// Packs B on the fly, with alpha folded into the packed copy (exact for
// powers of two such as 1 / sqrt(64)), then runs the same kernel.
void GemmABt(int m, int n, int k, float alpha, const float* a, int lda,
             const float* b, int ldb, float* c, int ldc);

// Name of the Highway target the GEMM dispatches to on this CPU ("AVX3", ...).
const char* GemmTargetName();

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_GEMM_H_
