// Reduced-precision encoders (issue 7) against the float32 reference
// fixtures: embedding relative RMS error (RMS(diff) / RMS(reference)) bf16 <=
// 1e-2, int8 <= 3e-2, on the native dot-product path of this CPU and on the
// portable (widening) path; the per-layer error growth is printed. Weights
// stored as bf16 / int8 (persam convert --dtype) run exactly the weights a
// float32 file gives at load.
#include "kernels/hwy_target.h"  // before hwy/targets.h: same target list

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/image.h"
#include "engine/precision.h"
#include "engine/preprocess.h"
#include "engine/sam_model.h"
#include "engine/vit_encoder.h"
#include "hwy/targets.h"
#include "kernels/gemm_lowp.h"
#include "persam/run.h"
#include "tests/fixture_prompts.h"
#include "tests/fixtures.h"
#include "weights/cast.h"
#include "weights/checkpoint.h"
#include "base/error.h"
#include "weights/json.h"
#include "weights/npy.h"
#include "weights/quantized.h"
#include "weights/sam_config.h"

namespace persam {
namespace {

using testing::FixturePath;
using testing::HaveFixtures;
using testing::PromptFromJson;

constexpr double kBoundBF16 = 1e-2;  // embedding relative RMS error (issue 7)
constexpr double kBoundInt8 = 3e-2;

double Bound(Precision p) { return p == Precision::kBF16 ? kBoundBF16 : kBoundInt8; }

double RelRms(const float* got, const float* ref, size_t n) {
  double err2 = 0, ref2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(got[i]) - ref[i];
    err2 += d * d;
    ref2 += double(ref[i]) * ref[i];
  }
  return ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
}

struct Fixture {
  TensorMap tensors;
  SamConfig config;
};
const Fixture& Model() {
  static const Fixture f = [] {
    Fixture m;
    const std::string path = FixturePath("models/sam_vit_tiny.pth");
    m.tensors = ReadCheckpoint(path).tensors;
    m.config = InferSamConfig(m.tensors, path);
    return m;
  }();
  return f;
}

std::vector<float> Input(const std::string& image) {
  return PreprocessImage(LoadImage(FixturePath("perseg-mini/Images/" + image)));
}

struct Run {
  std::vector<float> embedding;
  std::map<std::string, std::vector<float>> acts;
};

Run Encode(const ImageEncoder& encoder, const std::vector<float>& input) {
  Run r;
  r.embedding.resize(size_t(256) * 64 * 64);
  const ActivationHook hook = [&](const std::string& module, const float* data,
                                  const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    r.acts[module].assign(data, data + n);
  };
  encoder.Encode(input.data(), r.embedding.data(), nullptr, hook);
  return r;
}

// Relative RMS error of every module output against the float32 engine run
// (itself within 1e-4 of the reference: engine_tests) and of the embedding
// against the reference; prints the growth through the blocks.
double Report(const std::string& what, const Run& low, const Run& f32, const Tensor& ref) {
  std::string line = what + ": rel RMS error per module vs f32:";
  std::vector<std::string> modules = {"patch_embed"};
  for (size_t i = 0; f32.acts.count("blocks." + std::to_string(i)); ++i) modules.push_back("blocks." + std::to_string(i));
  for (const std::string& module : modules) {
    const std::vector<float>& values = f32.acts.at(module);
    const auto it = low.acts.find(module);
    REQUIRE(it != low.acts.end());
    char buf[64];
    std::snprintf(buf, sizeof(buf), " %s %.2e", module.c_str(),
                  RelRms(it->second.data(), values.data(), values.size()));
    line += buf;
  }
  const std::vector<float> r = ref.ToFloat32();
  REQUIRE(r.size() == low.embedding.size());
  const double err = RelRms(low.embedding.data(), r.data(), r.size());
  char buf[96];
  std::snprintf(buf, sizeof(buf), "; embedding vs reference %.2e", err);
  line += buf;
  MESSAGE(line);
  return err;
}

struct Case {
  const char* image;
  const char* embedding;
};
constexpr Case kCases[] = {{"cat/00.png", "ref/vit_enc_embedding.npy"},
                           {"cat/01.png", "ref/vit_pred_embedding.npy"}};

TEST_CASE("precision names parse and print") {
  CHECK(ParsePrecision("bf16", "--precision") == Precision::kBF16);
  CHECK(ParsePrecision("float32", "--precision") == Precision::kF32);
  CHECK(ParsePrecision("int8", "--precision") == Precision::kInt8);
  CHECK(std::string(PrecisionName(Precision::kInt8)) == "int8");
  CHECK_THROWS_AS(ParsePrecision("fp8", "--precision"), Error);
  try {
    ParsePrecision("fp8", "--precision");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("--precision") != std::string::npos);
  }
}

TEST_CASE("bf16 and int8 ViT encoders: embedding error within bounds, native path") {
  if (!HaveFixtures("precision vit encoder")) return;
  const Fixture& m = Model();
  MESSAGE("bf16 GEMM path: " << std::string(kernels::GemmBF16PathName())
                             << ", int8 GEMM path: " << std::string(kernels::GemmI8PathName()));
  const VitEncoder f32(m.tensors, m.config, Precision::kF32);
  for (const Case& c : kCases) {
    CAPTURE(c.image);
    const std::vector<float> input = Input(c.image);
    const Run ref32 = Encode(f32, input);
    const Tensor ref = ReadNpy(FixturePath(c.embedding));
    for (Precision p : {Precision::kBF16, Precision::kInt8}) {
      CAPTURE(PrecisionName(p));
      const VitEncoder enc(m.tensors, m.config, p);
      CHECK(enc.precision() == p);
      CHECK(enc.WeightBytes() < f32.WeightBytes());
      const double err =
          Report(std::string(PrecisionName(p)) + " " + c.image, Encode(enc, input), ref32, ref);
      CHECK(err <= Bound(p));
    }
  }
}

TEST_CASE("bf16 and int8 ViT encoders: portable path (no AVX-512 / Arm dot products)") {
  if (!HaveFixtures("precision vit encoder portable")) return;
#if HWY_ARCH_X86
  if ((hwy::SupportedTargets() & HWY_AVX2) == 0) {
    MESSAGE("skipped: no AVX2 on this CPU");
    return;
  }
  // x86: the dot-product kernels exist in the AVX3_DL target (vpdpbusd,
  // vdpbf16ps) and the AVX2 one (vpmaddwd, int8), the latter behind
  // NativeDotEnabled().
  const auto portable = [] {
    hwy::SetSupportedTargetsForTest(HWY_AVX2);
    kernels::EnableNativeDotForTest(false);
  };
#else
  // Arm: the sdot / svdot kernels are in every target, behind HasInt8Dot().
  const auto portable = [] { kernels::EnableNativeDotForTest(false); };
#endif
  const auto restore = [] {
    hwy::SetSupportedTargetsForTest(0);
    kernels::EnableNativeDotForTest(true);
  };
  const Fixture& m = Model();
  const std::vector<float> input = Input(kCases[0].image);
  const Tensor ref = ReadNpy(FixturePath(kCases[0].embedding));
  const std::vector<float> r = ref.ToFloat32();
  for (Precision p : {Precision::kBF16, Precision::kInt8}) {
    CAPTURE(PrecisionName(p));
    const VitEncoder enc(m.tensors, m.config, p);
    const Run native = Encode(enc, input);
    portable();
    const std::string path =
        p == Precision::kBF16 ? kernels::GemmBF16PathName() : kernels::GemmI8PathName();
    const Run widened = Encode(enc, input);
    restore();
    CHECK(path.find("widening") != std::string::npos);
    const double err = RelRms(widened.embedding.data(), r.data(), r.size());
    const double diff = RelRms(widened.embedding.data(), native.embedding.data(), r.size());
    MESSAGE(std::string(PrecisionName(p)) << " on " << path << ": embedding rel RMS error " << err
                             << ", vs the native path " << diff);
    // The two paths round the GEMM operands identically (gemm_test checks the
    // kernels agree), but the rest of the encoder also runs on the other
    // target (LayerNorm, softmax, GELU with other vector widths): last-bit
    // differences flip some bf16 / int8 roundings of the next GEMM's input,
    // and those flips propagate, so the two runs differ by a fraction of the
    // quantisation noise itself (measured ~0.5x), not by float32 rounding.
    CHECK(err <= Bound(p));
    CHECK(diff <= Bound(p));
  }
}

TEST_CASE("weights stored as bf16 or int8 run exactly what a float32 file gives") {
  if (!HaveFixtures("precision stored weights")) return;
  const Fixture& m = Model();
  const std::vector<float> input = Input(kCases[0].image);
  // bf16: every float tensor rounded to bf16 (persam convert --dtype bf16).
  {
    TensorMap stored;
    for (const auto& [name, t] : m.tensors) {
      stored[name] = name.rfind("image_encoder.", 0) == 0 && name.find("weight") != std::string::npos &&
                             t.shape.size() >= 2
                         ? CastTensor(t, DType::kBF16)
                         : t;
    }
    CHECK(StoredPrecision(stored) == Precision::kBF16);
    const VitEncoder a(m.tensors, m.config, Precision::kBF16);
    const VitEncoder b(stored, m.config, Precision::kBF16);
    const Run ra = Encode(a, input), rb = Encode(b, input);
    CHECK(std::memcmp(ra.embedding.data(), rb.embedding.data(), ra.embedding.size() * 4) == 0);
  }
  // int8: the GEMM weights as int8 + per-channel scales (persam convert
  // --dtype int8 minus its other roundings: position embedding, float16).
  {
    TensorMap stored = m.tensors;
    const std::vector<std::string> int8 = Int8Weights(m.config);
    CHECK(int8.size() == size_t(4 * m.config.vit.depth + 1));  // 4 per block, patch embed
    for (const std::string& name : int8) {
      auto [q, s] = QuantizeInt8PerRow(m.tensors.at(name), name);
      stored[name] = q;
      stored[name + kInt8ScaleSuffix] = s;
    }
    for (const std::string& name : NeckWeights(m.config)) stored[name] = CastTensor(stored.at(name), DType::kBF16);
    CHECK(StoredPrecision(stored) == Precision::kInt8);
    const VitEncoder a(m.tensors, m.config, Precision::kInt8);
    const VitEncoder b(stored, m.config, Precision::kInt8);
    const Run ra = Encode(a, input), rb = Encode(b, input);
    CHECK(std::memcmp(ra.embedding.data(), rb.embedding.data(), ra.embedding.size() * 4) == 0);
    // And they still run at float32 (dequantised at load).
    const VitEncoder c(stored, m.config, Precision::kF32);
    const Run rc = Encode(c, input);
    const double diff = RelRms(rc.embedding.data(), ra.embedding.data(), ra.embedding.size());
    MESSAGE("int8 weights at f32 vs int8 precision: rel RMS difference " << diff);
    CHECK(std::isfinite(diff));
    // Without the scales an int8 weight is not a quantised weight.
    TensorMap broken = stored;
    broken["image_encoder.patch_embed.proj.weight.scale"] = Tensor::FromFloat32({3}, std::vector<float>(3).data());
    CHECK_THROWS_AS(VitEncoder(broken, m.config, Precision::kInt8), Error);
  }
}

// IoU of (a > 0) and (b > 0); 1 when both are empty.
double MaskIou(const float* a, const float* b, size_t n) {
  size_t inter = 0, uni = 0;
  for (size_t i = 0; i < n; ++i) {
    inter += a[i] > 0.0f && b[i] > 0.0f;
    uni += a[i] > 0.0f || b[i] > 0.0f;
  }
  return uni == 0 ? 1.0 : double(inter) / double(uni);
}

// Every vit_predictor prompt (mask inputs chained within the same run, as a
// user would) on an embedding computed at `precision`.
std::vector<Prediction> PredictAll(const SamModel& model, const JsonValue& cs) {
  const RgbImage image = LoadImage(FixturePath("perseg-mini/Images/" + cs.At("image").AsString()));
  Predictor predictor(model);
  predictor.SetImage(image);
  std::map<std::string, size_t> index;
  std::vector<Prediction> out;
  for (const JsonValue& c : cs.At("prompts").Items()) {
    Prompt prompt = PromptFromJson(c);
    std::vector<float> mask_input;
    if (const JsonValue* from = c.Find("mask_input_from")) {
      const Prediction& src = out.at(index.at(from->AsString()));
      const size_t k = static_cast<size_t>(c.At("mask_input_index").AsInt64());
      mask_input.assign(src.low_res.begin() + k * 256 * 256, src.low_res.begin() + (k + 1) * 256 * 256);
      prompt.mask_input = mask_input.data();
    }
    index[c.At("name").AsString()] = out.size();
    out.push_back(predictor.Predict(prompt));
  }
  return out;
}

TEST_CASE("predictor masks at bf16 / int8: IoU with the float32 masks") {
  if (!HaveFixtures("precision predictor")) return;
  const JsonValue manifest = ParseJsonFile(FixturePath("manifest.json"));
  const JsonValue& cs = manifest.At("cases").At("vit_predictor");
  const std::string path = FixturePath("models/sam_vit_tiny.pth");
  // The float32 engine's masks stand for the reference's where the fixtures
  // have no high-res logits (they agree at IoU >= 0.999: engine_decoder_test);
  // where they have them, the reference's own.
  const auto f32_model = SamModel::Load(path);
  CHECK(f32_model->precision() == Precision::kF32);
  const std::vector<Prediction> f32 = PredictAll(*f32_model, cs);
  for (Precision p : {Precision::kBF16, Precision::kInt8}) {
    CAPTURE(std::string(PrecisionName(p)));
    LoadOptions options;
    options.precision = p;
    const auto model = SamModel::Load(path, options);
    CHECK(model->precision() == p);
    const std::vector<Prediction> low = PredictAll(*model, cs);
    const double bound = p == Precision::kBF16 ? 0.98 : 0.95;
    double worst = 1.0;
    std::string line;
    const auto& prompts = cs.At("prompts").Items();
    for (size_t i = 0; i < prompts.size(); ++i) {
      const Prediction& a = low[i];
      const size_t plane = size_t(a.height) * a.width;
      std::vector<float> ref_high;
      if (const JsonValue* hr = prompts[i].Find("high_res")) ref_high = ReadNpy(FixturePath("ref/" + hr->AsString())).ToFloat32();
      const std::vector<float>& ref = ref_high.empty() ? f32[i].high_res : ref_high;
      REQUIRE(ref.size() == a.high_res.size());
      for (int m = 0; m < a.num_masks; ++m) {
        const double iou = MaskIou(a.high_res.data() + m * plane, ref.data() + m * plane, plane);
        worst = std::min(worst, iou);
        char buf[96];
        std::snprintf(buf, sizeof(buf), " %s[%d] %.4f", prompts[i].At("name").AsString().c_str(), m, iou);
        line += buf;
        CHECK(iou >= bound);
      }
    }
    MESSAGE(std::string(PrecisionName(p)) << " predictor mask IoU:" << line << " (min " << worst << ")");
  }
}

TEST_CASE("a whole int8 file (persam convert --dtype int8) meets the int8 bound") {
  if (!HaveFixtures("precision int8 file")) return;
  const Fixture& m = Model();
  TensorMap stored = m.tensors;
  CHECK(QuantizeTensorsForInt8(m.config, &stored) == 4 * m.config.vit.depth + 2);
  CHECK(stored.at("image_encoder.pos_embed.scale").shape == std::vector<int64_t>{1, 64, 64});
  CHECK(stored.at("mask_decoder.iou_token.weight").dtype == DType::kF16);
  CHECK(StoredPrecision(stored) == Precision::kInt8);
  const VitEncoder enc(stored, m.config, Precision::kInt8);
  const Run run = Encode(enc, Input(kCases[0].image));
  const std::vector<float> r = ReadNpy(FixturePath(kCases[0].embedding)).ToFloat32();
  const double err = RelRms(run.embedding.data(), r.data(), r.size());
  MESSAGE("int8 file: embedding rel RMS error " << err);
  CHECK(err <= kBoundInt8);
}

TEST_CASE("PerSAM final masks (perseg-mini) at bf16 / int8: IoU with the reference") {
  if (!HaveFixtures("precision persam")) return;
  const JsonValue manifest = ParseJsonFile(FixturePath("manifest.json"));
  const JsonValue& cs = manifest.At("cases").At("vit_persam");
  for (Precision p : {Precision::kBF16, Precision::kInt8}) {
    CAPTURE(std::string(PrecisionName(p)));
    LoadOptions options;
    options.precision = p;
    const auto model = SamModel::Load(FixturePath("models/sam_vit_tiny.pth"), options);
    const RunReport report = PersonalizeDataset(*model, FixturePath("perseg-mini"), "00", RunOptions());
    const double bound = p == Precision::kBF16 ? 0.97 : 0.93;
    double worst = 1.0;
    std::string line;
    int checked = 0;
    for (const ObjectResult& object : report.objects) {
      const auto& images = cs.At("objects").At(object.name).At("images").Items();
      for (const TargetResult& target : object.targets) {
        const size_t idx = static_cast<size_t>(std::stoi(target.name));
        REQUIRE(idx < images.size());
        const RgbImage ref = LoadImage(FixturePath("ref/" + images[idx].At("final_mask").AsString()));
        const std::vector<uint8_t>& mask = target.outcome.mask;
        REQUIRE(mask.size() * 3 == ref.pixels.size());
        size_t inter = 0, uni = 0;
        for (size_t i = 0; i < mask.size(); ++i) {
          const bool a = mask[i] != 0, b = ref.pixels[3 * i] != 0;
          inter += a && b;
          uni += a || b;
        }
        const double iou = uni == 0 ? 1.0 : double(inter) / double(uni);
        worst = std::min(worst, iou);
        char buf[64];
        std::snprintf(buf, sizeof(buf), " %s/%s %.4f", object.name.c_str(), target.name.c_str(), iou);
        line += buf;
        CHECK(iou >= bound);
        ++checked;
      }
    }
    CHECK(checked == 9);
    MESSAGE(std::string(PrecisionName(p)) << " PerSAM final mask IoU:" << line << " (min " << worst << ")");
  }
}

TEST_CASE("MobileSAM (TinyViT) at bf16 / int8: embedding error within bounds") {
  if (!HaveFixtures("precision tinyvit")) return;
  const JsonValue manifest = ParseJsonFile(FixturePath("manifest.json"));
  const JsonValue& cs = manifest.At("cases").At("tinyvit_encoder");
  const std::string path = FixturePath("models/mobile_sam_rand_fp16.pth");
  const TensorMap tensors = ReadCheckpoint(path).tensors;
  const SamConfig config = InferSamConfig(tensors, path);
  const std::vector<float> input = Input(cs.At("image").AsString());
  const std::vector<float> ref =
      ReadNpy(FixturePath("ref/" + cs.At("files").At("embedding").AsString())).ToFloat32();
  for (Precision p : {Precision::kBF16, Precision::kInt8}) {
    CAPTURE(std::string(PrecisionName(p)));
    const auto encoder = MakeTinyVitEncoder(tensors, config, p);
    std::vector<float> embedding(ref.size());
    encoder->Encode(input.data(), embedding.data(), nullptr);
    const double err = RelRms(embedding.data(), ref.data(), ref.size());
    MESSAGE("TinyViT " << std::string(PrecisionName(p)) << ": embedding rel RMS error " << err);
    CHECK(err <= Bound(p));
  }
}

TEST_CASE("packing stored bf16 / int8 weights equals packing their float values") {
  // Sizes off the 32-column panels and the 2 / 4-deep k groups (padding).
  for (int n : {1, 31, 33, 70}) {
    for (int k : {1, 3, 5, 66}) {
      CAPTURE(n);
      CAPTURE(k);
      std::mt19937 rng(n * 100 + k);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> w(size_t(n) * k), a(size_t(7) * k), bias(n);
      for (float& v : w) v = normal(rng);
      for (float& v : a) v = normal(rng);
      for (float& v : bias) v = normal(rng);
      kernels::GemmEpilogue ep;
      ep.bias = bias.data();
      std::vector<float> c1(size_t(7) * n), c2(size_t(7) * n);

      auto [q, scales] = QuantizeInt8PerRow(Tensor::FromFloat32({n, k}, w.data()), "w");
      kernels::GemmI8(7, a.data(), k, kernels::PackedWeightsI8::Pack(w.data(), n, k, k), ep, c1.data(), n);
      kernels::GemmI8(7, a.data(), k,
                      kernels::PackedWeightsI8::PackQuantized(reinterpret_cast<const int8_t*>(q.data),
                                                              reinterpret_cast<const float*>(scales.data), n, k, k),
                      ep, c2.data(), n);
      CHECK(std::memcmp(c1.data(), c2.data(), c1.size() * 4) == 0);

      const Tensor b16 = CastTensor(Tensor::FromFloat32({n, k}, w.data()), DType::kBF16);
      kernels::GemmBF16(7, a.data(), k, kernels::PackedWeightsBF16::Pack(w.data(), n, k, k), ep, c1.data(), n);
      kernels::GemmBF16(7, a.data(), k,
                        kernels::PackedWeightsBF16::PackBF16(reinterpret_cast<const uint16_t*>(b16.data), n, k, k),
                        ep, c2.data(), n);
      CHECK(std::memcmp(c1.data(), c2.data(), c1.size() * 4) == 0);
    }
  }
}

TEST_CASE("int8 quantisation helpers") {
  const std::vector<float> w = {0.5f, -1.0f, 0.25f, 0.0f, 0.0f, 0.0f, 3.0f, 1.5f, -0.75f};
  const Tensor t = Tensor::FromFloat32({3, 3}, w.data());
  auto [q, s] = QuantizeInt8PerRow(t, "w");
  REQUIRE(q.dtype == DType::kI8);
  REQUIRE(s.shape == std::vector<int64_t>{3});
  TensorMap map{{"w", q}, {"w.scale", s}};
  CHECK(IsQuantizedInt8(map, "w"));
  CHECK(CountQuantizedInt8(map) == 1);
  const std::vector<float> back = DequantizedFloat32(map, "w");
  for (size_t i = 0; i < w.size(); ++i) {
    // Error <= scale / 2 = max|row| / 254.
    const float amax = std::max({std::fabs(w[i / 3 * 3]), std::fabs(w[i / 3 * 3 + 1]), std::fabs(w[i / 3 * 3 + 2])});
    CHECK(std::fabs(back[i] - w[i]) <= amax / 254.0f * 1.0001f);
  }
  CHECK(back[1] == -1.0f);  // the row maximum is exact
  CHECK(back[6] == 3.0f);
  const TensorMap plain = DequantizeInt8Tensors(map);
  CHECK(plain.size() == 1);
  CHECK(plain.at("w").dtype == DType::kF32);
  CHECK(StoredPrecision(map) == Precision::kInt8);
  CHECK_THROWS_AS(QuantizeInt8PerRow(Tensor::FromFloat32({0}, nullptr), "empty"), Error);
  CHECK_THROWS_AS(QuantizeInt8PerRow(t, "w", 2), Error);  // scales need a proper prefix
  // Scales over two leading dimensions (per position of [1, 3, 3]... here [3, 1, 3]).
  const Tensor t3 = Tensor::FromFloat32({3, 1, 3}, w.data());
  auto [q3, s3] = QuantizeInt8PerRow(t3, "w3", 2);
  CHECK(s3.shape == std::vector<int64_t>{3, 1});
  TensorMap map3{{"w3", q3}, {"w3.scale", s3}};
  CHECK(DequantizedFloat32(map3, "w3") == back);
  map3["w3.scale"] = Tensor::FromFloat32({1, 3}, w.data());  // not a prefix of [3, 1, 3]
  CHECK_THROWS_AS(IsQuantizedInt8(map3, "w3"), Error);
}

}  // namespace
}  // namespace persam
