#include "kernels/parallel.h"

#include <omp.h>

namespace persam::kernels {

void SetNumThreads(int threads) {
  omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
}

// Inside a parallel region a kernel's own region runs with one thread
// (nesting is off), so say so: the kernels then tile for one thread instead
// of splitting work into tasks and packing shared buffers for a team that
// never comes (e.g. the decoder's per-band upscaling GEMMs).
int MaxThreads() { return 4 * omp_get_num_procs(); }

int NumThreads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

bool InParallel() { return omp_in_parallel() != 0; }

}  // namespace persam::kernels
