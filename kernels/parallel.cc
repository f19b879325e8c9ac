#include "kernels/parallel.h"

#include <omp.h>

namespace persam::kernels {

void SetNumThreads(int threads) {
  omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
}

int NumThreads() { return omp_get_max_threads(); }

}  // namespace persam::kernels
