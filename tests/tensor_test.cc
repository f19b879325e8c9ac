#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "weights/tensor.h"

namespace persam {
namespace {

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

TEST_CASE("Float32Values points into aligned float32 bytes and widens everything else") {
  const std::vector<float> values = {1.5f, -2.25f, 3.0f, 0.0f, 1e-3f, 7.0f};
  const Tensor f32 = Tensor::FromFloat32({2, 3}, values.data());
  std::vector<float> scratch;
  CHECK(f32.Float32Values(&scratch) == reinterpret_cast<const float*>(f32.data));  // no copy
  CHECK(scratch.empty());
  // Misaligned float32 (a tensor at an odd offset of a file) and half: copies.
  std::vector<uint8_t> bytes(values.size() * 4 + 1);
  std::memcpy(bytes.data() + 1, values.data(), values.size() * 4);
  Tensor odd;
  odd.shape = {6};
  odd.data = bytes.data() + 1;
  const float* got = odd.Float32Values(&scratch);
  CHECK(got == scratch.data());
  CHECK(std::vector<float>(got, got + 6) == values);
  std::vector<uint16_t> halves;
  for (float v : values) halves.push_back(FloatToHalf(v));
  Tensor half;
  half.dtype = DType::kF16;
  half.shape = {6};
  half.data = reinterpret_cast<const uint8_t*>(halves.data());
  got = half.Float32Values(&scratch);
  REQUIRE(got == scratch.data());
  for (size_t i = 0; i < values.size(); ++i) CHECK(got[i] == HalfToFloat(halves[i]));
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

// ToFloat32 chooses the conversion once per tensor: each dtype, and float32
// bytes at an address not aligned to 4 (a tensor inside a mapped file).
TEST_CASE("ToFloat32 converts every dtype, aligned or not") {
  const auto convert = [](DType dtype, const void* bytes, size_t size, int64_t count) {
    std::vector<uint8_t> buffer(size + 1);
    std::vector<std::vector<float>> results;
    for (size_t offset : {size_t{0}, size_t{1}}) {
      std::memcpy(buffer.data() + offset, bytes, size);
      Tensor t;
      t.dtype = dtype;
      t.shape = {count};
      t.data = buffer.data() + offset;
      results.push_back(t.ToFloat32());
    }
    CHECK(results[0] == results[1]);
    return results[0];
  };
  const float f32[] = {1.5f, -2.25f, 3.0e-8f};
  CHECK(convert(DType::kF32, f32, sizeof(f32), 3) == std::vector<float>{1.5f, -2.25f, 3.0e-8f});
  const uint16_t f16[] = {FloatToHalf(0.5f), FloatToHalf(-3.0f)};
  CHECK(convert(DType::kF16, f16, sizeof(f16), 2) == std::vector<float>{0.5f, -3.0f});
  const uint16_t bf16[] = {FloatToBF16(0.75f), FloatToBF16(-8.0f)};
  CHECK(convert(DType::kBF16, bf16, sizeof(bf16), 2) == std::vector<float>{0.75f, -8.0f});
  const double f64[] = {0.1, -1e300};
  const std::vector<float> from_f64 = convert(DType::kF64, f64, sizeof(f64), 2);
  CHECK(from_f64[0] == 0.1f);
  CHECK(std::isinf(from_f64[1]));
  const int64_t i64[] = {-7, int64_t{1} << 40};
  CHECK(convert(DType::kI64, i64, sizeof(i64), 2) == std::vector<float>{-7.0f, 1099511627776.0f});
  const int32_t i32[] = {-70000, 5};
  CHECK(convert(DType::kI32, i32, sizeof(i32), 2) == std::vector<float>{-70000.0f, 5.0f});
  const int16_t i16[] = {-300, 12};
  CHECK(convert(DType::kI16, i16, sizeof(i16), 2) == std::vector<float>{-300.0f, 12.0f});
  const int8_t i8[] = {-128, 127};
  CHECK(convert(DType::kI8, i8, sizeof(i8), 2) == std::vector<float>{-128.0f, 127.0f});
  const uint8_t u8[] = {0, 255};
  CHECK(convert(DType::kU8, u8, sizeof(u8), 2) == std::vector<float>{0.0f, 255.0f});
  CHECK(convert(DType::kBool, u8, sizeof(u8), 2) == std::vector<float>{0.0f, 255.0f});
  CHECK(convert(DType::kF32, f32, 0, 0).empty());
}

}  // namespace
}  // namespace persam
