// Thread count for the OpenMP regions of every kernel.
#ifndef PERSAM_KERNELS_PARALLEL_H_
#define PERSAM_KERNELS_PARALLEL_H_

namespace persam::kernels {

void SetNumThreads(int threads);  // <= 0: all cores
int NumThreads();  // 1 inside a parallel region

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_PARALLEL_H_
