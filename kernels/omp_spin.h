// How long OpenMP threads spin at a barrier before they sleep.
#ifndef PERSAM_KERNELS_OMP_SPIN_H_
#define PERSAM_KERNELS_OMP_SPIN_H_

namespace persam::kernels {

// libgomp spins ~300000 rounds (milliseconds) at every barrier before it
// sleeps. On a machine where another process holds a core, a spinning thread
// takes the CPU from the team member the barrier waits for, and the encoders
// ran 4-15x slower with two threads than with one (issue 17). libgomp reads
// its wait policy only when it is loaded, before main(): a program calls this
// first thing in main(); unless the user set OMP_WAIT_POLICY or
// GOMP_SPINCOUNT, it sets GOMP_SPINCOUNT to kShortSpinCount and executes
// itself again (/proc/self/exe, same argv), so the new libgomp reads it. It
// returns when nothing is to be done or the exec failed (libgomp's default
// then stays).
inline constexpr const char* kShortSpinCount = "1000";  // libgomp's own value for an oversubscribed team
void UseShortOpenMpSpin(char** argv);

}  // namespace persam::kernels

#endif  // PERSAM_KERNELS_OMP_SPIN_H_
