#include "kernels/parallel.h"
#include "kernels/omp_spin.h"

#include <omp.h>
#include <unistd.h>

#include <cstdlib>

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

void UseShortOpenMpSpin(char** argv) {
  if (argv == nullptr || argv[0] == nullptr) return;
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  // The variable is set before the exec, so the new image returns above.
  if (setenv("GOMP_SPINCOUNT", kShortSpinCount, 1) != 0) return;
  execv("/proc/self/exe", argv);
}

}  // namespace persam::kernels
