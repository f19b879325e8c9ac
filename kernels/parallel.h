// Thread count for the OpenMP regions of every kernel.
#ifndef PERSAM_KERNELS_PARALLEL_H_
#define PERSAM_KERNELS_PARALLEL_H_

#include <cstdint>
#include <string>

namespace persam::kernels {

void SetNumThreads(int threads);  // <= 0: all cores (the default); callers check MaxThreads()
// The most threads a caller may ask for: 4 per core. More only costs memory
// and scheduling, and OpenMP runtimes fail (libgomp crashes near 100000)
// long before INT_MAX; the CLI, the C API and Python refuse more.
int MaxThreads();
int NumThreads();  // 1 inside a parallel region
bool InParallel();  // inside an active OpenMP parallel region

// Threads for a long stage starting now (an image encoder: hundreds of
// milliseconds to seconds, a few barriers per layer). An explicit count
// (SetNumThreads(n > 0), or OMP_NUM_THREADS when SetNumThreads was never
// called) is kept. The default, all cores, is lowered by the threads of
// other processes running right now (/proc/loadavg's runnable count minus
// this process's runnable threads, the least of three reads 0.2 ms apart
// so that a worker still spinning after the last region is not counted),
// never below 1:
// with a CPU-bound process on one of two cores, two threads waiting at
// every barrier for the one that shares its core ran the MobileSAM encoder
// 6 % slower than one thread (issue 17). Inside a parallel region: 1.
int ThreadsForLongStage();
// The runnable-thread count in the text of /proc/loadavg ("0.52 0.58 0.59
// 3/91 1234" -> 3), or -1 if the text does not have that form.
int RunnableInLoadavg(const std::string& text);

// Sets the thread count of the parallel regions the calling thread opens
// (omp_set_num_threads) for its lifetime, then restores the previous one.
class ScopedThreadCount {
 public:
  explicit ScopedThreadCount(int threads);
  ~ScopedThreadCount();
  ScopedThreadCount(const ScopedThreadCount&) = delete;
  ScopedThreadCount& operator=(const ScopedThreadCount&) = delete;

 private:
  int previous_;
};

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
