#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "weights/tensor.h"

namespace persam {
namespace {

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

TEST_CASE("half conversion round-trips every finite half exactly") {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const uint16_t half = static_cast<uint16_t>(h);
    if ((half & 0x7C00u) == 0x7C00u && (half & 0x3FFu) != 0) continue;  // nan
    REQUIRE(FloatToHalf(HalfToFloat(half)) == half);
  }
}

TEST_CASE("float to half rounds to nearest even") {
  CHECK(FloatToHalf(1.0f) == 0x3C00u);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0).
  CHECK(FloatToHalf(1.0f + std::ldexp(1.0f, -11)) == 0x3C00u);
  // 1 + 3 * 2^-11 is halfway between odd and even: rounds up to even.
  CHECK(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02u);
  CHECK(FloatToHalf(65504.0f) == 0x7BFFu);
  CHECK(FloatToHalf(70000.0f) == 0x7C00u);
  CHECK(FloatToHalf(std::ldexp(1.0f, -24)) == 0x0001u);     // smallest subnormal
  CHECK(FloatToHalf(std::ldexp(1.0f, -26)) == 0x0000u);     // below half of it
  CHECK(FloatToHalf(std::ldexp(3.0f, -26)) == 0x0001u);     // above half of it
  CHECK(FloatToHalf(-0.0f) == 0x8000u);
}

TEST_CASE("float to bfloat16 rounds to nearest even") {
  CHECK(FloatToBF16(1.0f) == 0x3F80u);
  CHECK(FloatToBF16(FromBits(0x3F808000u)) == 0x3F80u);  // tie, even stays
  CHECK(FloatToBF16(FromBits(0x3F818000u)) == 0x3F82u);  // tie, odd rounds up
  CHECK(FloatToBF16(FromBits(0x3F808001u)) == 0x3F81u);
  CHECK(std::isnan(BF16ToFloat(FloatToBF16(std::numeric_limits<float>::quiet_NaN()))));
}

}  // namespace
}  // namespace persam
