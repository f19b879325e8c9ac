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

// Iterations per chunk of a dynamically scheduled loop over `count` equal
// iterations: ~8 chunks per thread. A static split waits for its slowest
// thread, and on a machine where another process shares a core that thread
// runs at half speed: two threads then took as long as one (issue 17). With
// chunks the other thread takes the rest; 8 per thread bound the imbalance
// to 1/16 of the loop and keep the atomic dispatches few.
inline int64_t DynamicChunk(int64_t count, int threads) {
  const int64_t per = count / (8 * static_cast<int64_t>(threads > 0 ? threads : 1));
  return per > 1 ? per : 1;
}

// body(i) for i in [0, count), split over the threads in DynamicChunk
// chunks when `parallel` holds and no parallel region is active, inline
// otherwise. Each body(i) must depend on i only (not on which thread runs
// it), so results do not depend on the thread count or the schedule. An
// `omp parallel if (false)` still opens a one-thread team (~0.6 us; ~1.5 us
// inside another region), which kernels called per block inside a caller's
// parallel loop (the decoder's) would pay thousands of times per call.
template <class Body>
void ParallelFor(int64_t count, bool parallel, const Body& body) {
  if (parallel && count > 1 && !InParallel()) {
    const int64_t chunk = DynamicChunk(count, NumThreads());
#pragma omp parallel for schedule(dynamic, chunk)
    for (int64_t i = 0; i < count; ++i) body(i);
  } else {
    for (int64_t i = 0; i < count; ++i) body(i);
  }
}

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_PARALLEL_H_
