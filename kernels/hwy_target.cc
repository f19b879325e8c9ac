// Run-time CPU feature checks that Highway 1.0.3 does not expose
// (AVX512_BF16 is not part of any 1.0.3 target).
#include "kernels/hwy_target.h"

#include "hwy/targets.h"

#include <atomic>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace persam::kernels {
namespace {

#if defined(__x86_64__) || defined(__i386__)
struct CpuFeatures {
  bool avx512_bf16 = false;
  bool avx512_vnni = false;

  CpuFeatures() {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return;
    const bool osxsave = (ecx >> 27) & 1;
    if (!osxsave) return;
    // XCR0: SSE, AVX and the three AVX-512 state components (opmask, ZMM_Hi256,
    // Hi16_ZMM) must all be enabled by the OS.
    unsigned xcr0_lo, xcr0_hi;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0xE6u) != 0xE6u) return;
    if (__get_cpuid_max(0, nullptr) < 7) return;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const bool avx512f = (ebx >> 16) & 1;
    if (!avx512f) return;
    avx512_vnni = (ecx >> 11) & 1;
    const unsigned max_subleaf = eax;
    if (max_subleaf >= 1) {
      __cpuid_count(7, 1, eax, ebx, ecx, edx);
      avx512_bf16 = (eax >> 5) & 1;
    }
  }
};
#else
struct CpuFeatures {
  bool avx512_bf16 = false;
  bool avx512_vnni = false;
  bool arm_dotprod = false;

#if defined(__aarch64__) && defined(__linux__)
  CpuFeatures() {
    // HWCAP_ASIMDDP (bit 20 of AT_HWCAP, <asm/hwcap.h>): sdot / udot.
    arm_dotprod = (getauxval(AT_HWCAP) >> 20) & 1;
  }
#endif
};
#endif

std::atomic<bool> g_native_dot_enabled{true};

const CpuFeatures& Features() {
  static const CpuFeatures features;
  return features;
}

}  // namespace

bool HasAvx512Bf16() { return Features().avx512_bf16; }
bool HasAvx512Vnni() { return Features().avx512_vnni; }

bool HasInt8Dot() {
  if (!g_native_dot_enabled.load(std::memory_order_relaxed)) return false;
#if defined(__aarch64__)
  return Features().arm_dotprod;
#else
  return Features().avx512_vnni;
#endif
}

void EnableNativeDotForTest(bool enabled) { g_native_dot_enabled.store(enabled); }

bool NativeDotEnabled() { return g_native_dot_enabled.load(std::memory_order_relaxed); }

const char* DispatchedTargetName() {
  const int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  return targets == 0 ? "none" : hwy::TargetName(targets & -targets);
}

}  // namespace persam::kernels
