// CPU time of the whole process (every thread), for benchmark counters that
// stay comparable when the machine is shared: wall times there stretch with
// the other processes' load, the CPU time a piece of work takes much less.
#ifndef PERSAM_BENCH_PROCESS_CPU_H_
#define PERSAM_BENCH_PROCESS_CPU_H_

#include <ctime>

namespace persam {

inline double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace persam

#endif  // PERSAM_BENCH_PROCESS_CPU_H_
