// Thread count for the OpenMP regions of every kernel.
#ifndef PERSAM_KERNELS_PARALLEL_H_
#define PERSAM_KERNELS_PARALLEL_H_

#include <cstdint>

namespace persam::kernels {

void SetNumThreads(int threads);  // <= 0: all cores; callers check MaxThreads()
// The most threads a caller may ask for: 4 per core. More only costs memory
// and scheduling, and OpenMP runtimes fail (libgomp crashes near 100000)
// long before INT_MAX; the CLI, the C API and Python refuse more.
int MaxThreads();
int NumThreads();  // 1 inside a parallel region
bool InParallel();  // inside an active OpenMP parallel region

// body(i) for i in [0, count), statically split over the threads when
// `parallel` holds and no parallel region is active, inline otherwise. An
// `omp parallel if (false)` still opens a one-thread team (~0.6 us; ~1.5 us
// inside another region), which kernels called per block inside a caller's
// parallel loop (the decoder's) would pay thousands of times per call.
template <class Body>
void ParallelFor(int64_t count, bool parallel, const Body& body) {
  if (parallel && count > 1 && !InParallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) body(i);
  } else {
    for (int64_t i = 0; i < count; ++i) body(i);
  }
}

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_PARALLEL_H_
