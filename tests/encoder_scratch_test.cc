// The image encoders' memory-saving entry points (issue 21) compute the
// same embedding as Encode: EncodeConsuming (the input freed once read) and
// an Encode after ReleaseScratch (the scratch allocated again).
#include <doctest/doctest.h>

#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "engine/image_encoder.h"
#include "engine/sam_model.h"
#include "weights/random_checkpoint.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

std::vector<float> RandomInput(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Bit for bit: the same kernels run on the same values in the same order.
void CheckSameEncodings(const ImageEncoder& encoder, const SamConfig& config) {
  const size_t in = static_cast<size_t>(3) * config.image_size * config.image_size;
  const size_t out = static_cast<size_t>(config.prompt_dim) * config.embed_grid * config.embed_grid;
  const std::vector<float> input = RandomInput(in, 21);
  std::vector<float> first(out, std::numeric_limits<float>::quiet_NaN());
  std::vector<float> consumed(out, std::numeric_limits<float>::quiet_NaN());
  std::vector<float> after_release(out, std::numeric_limits<float>::quiet_NaN());
  encoder.Encode(input.data(), first.data(), nullptr);
  encoder.EncodeConsuming(input, consumed.data(), nullptr);
  encoder.ReleaseScratch();
  encoder.Encode(input.data(), after_release.data(), nullptr);
  CHECK(first[0] == first[0]);  // written (not the NaN fill)
  CHECK(std::memcmp(first.data(), consumed.data(), out * sizeof(float)) == 0);
  CHECK(std::memcmp(first.data(), after_release.data(), out * sizeof(float)) == 0);
}

TEST_CASE("TinyViT: EncodeConsuming and Encode after ReleaseScratch equal Encode") {
  const SamConfig config = MobileSamConfig();
  const TensorMap tensors = MakeRandomSamTensors(config, 7);
  CheckSameEncodings(*MakeTinyVitEncoder(tensors, config), config);
}

TEST_CASE("ViT: EncodeConsuming and Encode after ReleaseScratch equal Encode") {
  const SamConfig config = SamVitTinyTestConfig();
  const TensorMap tensors = MakeRandomSamTensors(config, 7);
  CheckSameEncodings(*MakeVitEncoder(tensors, config), config);
}

TEST_CASE("SamModel: EncodeImageConsuming equals EncodeImage and keeps the geometry") {
  const SamConfig config = SamVitTinyTestConfig();
  const std::unique_ptr<SamModel> model = SamModel::FromTensors(MakeRandomSamTensors(config, 7), "random");
  RgbImage image;
  image.height = 300;
  image.width = 500;
  std::mt19937 rng(5);
  image.pixels.resize(static_cast<size_t>(image.height) * image.width * 3);
  for (uint8_t& p : image.pixels) p = static_cast<uint8_t>(rng() & 255);
  const ImageEmbedding kept = model->EncodeImage(image);
  const ImageEmbedding consumed = model->EncodeImageConsuming(image);
  CHECK(consumed.orig_height == 300);
  CHECK(consumed.orig_width == 500);
  CHECK(consumed.input_height == kept.input_height);
  CHECK(consumed.input_width == kept.input_width);
  REQUIRE(consumed.data.size() == kept.data.size());
  CHECK(std::memcmp(consumed.data.data(), kept.data.data(), kept.data.size() * sizeof(float)) == 0);
}

}  // namespace
}  // namespace persam
