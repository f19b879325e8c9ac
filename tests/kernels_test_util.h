// Helpers for the kernel tests (ops, attention, conv, resize): NaN-guarded
// misaligned buffers, the size sweep around the vector widths, and the
// every-Highway-target loop (hwy/tests/hwy_gtest.h without gtest).
#ifndef PERSAM_TESTS_KERNELS_TEST_UTIL_H_
#define PERSAM_TESTS_KERNELS_TEST_UTIL_H_

#include "kernels/hwy_target.h"  // first: the same target list as the kernels

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "hwy/targets.h"

namespace persam::kernels::testing_kernels {

constexpr double kEps = 1.0 / (1 << 24);  // float unit roundoff

// Lengths around every vector width we compile for (4, 8, 16 lanes):
// {1, N-1, N, N+1, 3N, 8N+2} for each N, plus a few odd sizes.
inline std::vector<int> SweepSizes() {
  return {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 34, 48, 66, 130, 257};
}

// n floats starting `offset` floats past an aligned base, surrounded by NaN
// guards that must survive the kernel (over-reads would propagate NaN into
// results, over-writes would clobber the guards).
class Guarded {
 public:
  static constexpr int kGuard = 32;
  Guarded(size_t n, int offset)
      : n_(n), offset_(offset),
        storage_(n + 2 * kGuard + offset, std::numeric_limits<float>::quiet_NaN()) {}
  float* data() { return storage_.data() + kGuard + offset_; }
  const float* data() const { return storage_.data() + kGuard + offset_; }
  float& operator[](size_t i) { return data()[i]; }
  float operator[](size_t i) const { return data()[i]; }
  size_t size() const { return n_; }
  void FillUniform(std::mt19937& rng, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    for (size_t i = 0; i < n_; ++i) data()[i] = dist(rng);
  }
  bool GuardsIntact() const {
    for (size_t i = 0; i < storage_.size(); ++i) {
      const size_t begin = kGuard + static_cast<size_t>(offset_);
      const bool inside = i >= begin && i < begin + n_;
      if (!inside && !std::isnan(storage_[i])) return false;
    }
    return true;
  }

 private:
  size_t n_;
  int offset_;
  std::vector<float> storage_;
};

// Runs f(target_name) once per Highway target compiled into the kernels and
// supported by this CPU, with dispatch forced to that target.
template <class F>
void ForEachTarget(const F& f) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    f(hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);
}

// x rounded to bfloat16, nearest even (frexp arithmetic: independent of
// the kernels' bit tricks).
inline float RoundBF16(float x) {
  int e;
  const double m = std::frexp(double(x), &e);  // [0.5, 1)
  return float(std::ldexp(std::nearbyint(std::ldexp(m, 8)), e - 8));
}

// Distance in units in the last place between two floats (same sign scale).
inline int64_t UlpDistance(float a, float b) {
  if (a == b) return 0;
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<int64_t>::max();
  auto key = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
  };
  const int64_t d = key(a) - key(b);
  return d < 0 ? -d : d;
}

}  // namespace persam::kernels::testing_kernels

#endif  // PERSAM_TESTS_KERNELS_TEST_UTIL_H_
