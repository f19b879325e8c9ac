// PerSAM-F: hand-derived gradients vs finite differences, the vectorised pass
// vs the double reference, and the optimiser/scheduler vs PyTorch's formulas.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "persam/mask_loss.h"
#include "persam/mask_weights.h"

namespace persam {
namespace {

struct RandomProblem {
  std::vector<float> logits;   // [3, n]
  std::vector<uint8_t> target;
  int64_t n;
};

// Logits spread over [-scale, scale] (saturated and unsaturated pixels), a
// blob-shaped target correlated with L1.
RandomProblem MakeProblem(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-scale, scale);
  RandomProblem p{std::vector<float>(3 * n), std::vector<uint8_t>(n), n};
  for (int64_t i = 0; i < 3 * n; ++i) p.logits[i] = uni(rng);
  for (int64_t i = 0; i < n; ++i) p.target[i] = (p.logits[n + i] + uni(rng) * 0.5f) > 0.3f * scale;
  return p;
}

TEST_CASE("PerSAM-F loss: reference gradient matches central finite differences") {
  for (float scale : {0.5f, 4.0f, 30.0f}) {
    const RandomProblem p = MakeProblem(777, scale, 7);
    for (const auto& w : std::vector<std::pair<double, double>>{{1.0 / 3, 1.0 / 3}, {0.1, 0.7}, {-0.4, 1.2}}) {
      const MaskLossValue v = EvaluateMaskLossReference(p.logits.data(), p.target.data(), p.n, w.first, w.second);
      const double h = 1e-6;
      for (int k = 0; k < 2; ++k) {
        const double dk0 = k == 0 ? h : 0, dk1 = k == 1 ? h : 0;
        const MaskLossValue plus = EvaluateMaskLossReference(p.logits.data(), p.target.data(), p.n,
                                                             w.first + dk0, w.second + dk1);
        const MaskLossValue minus = EvaluateMaskLossReference(p.logits.data(), p.target.data(), p.n,
                                                              w.first - dk0, w.second - dk1);
        const double fd = (plus.loss() - minus.loss()) / (2 * h);
        // Central differences: truncation O(h^2 L''') + rounding ~1e-16 / h.
        CHECK(v.grad[k] == doctest::Approx(fd).epsilon(1e-6).scale(1e-8));
      }
    }
  }
}

TEST_CASE("PerSAM-F loss: vectorised pass matches the double reference") {
  // Sizes around the block size and the vector width, both groups non-empty
  // and one group empty.
  for (int64_t n : {1, 15, 17, 4095, 4097, 3 * 4096 + 5, 100000}) {
    for (float scale : {1.0f, 12.0f, 60.0f}) {
      RandomProblem p = MakeProblem(n, scale, static_cast<uint32_t>(n));
      const MaskMixtureProblem problem(p.logits.data(), p.target.data(), n);
      for (const auto& w : std::vector<std::pair<float, float>>{{1.0f / 3, 1.0f / 3}, {0.05f, 0.8f}, {-0.3f, 0.2f}}) {
        const MaskLossValue fast = EvaluateMaskLoss(problem, w.first, w.second);
        const MaskLossValue ref = EvaluateMaskLossReference(p.logits.data(), p.target.data(), n, w.first, w.second);
        // float32 logits mixing (relative 1e-7 of |L| <= 60) and float lane
        // accumulation over <= 256 terms: ~1e-5 relative.
        CHECK(fast.dice == doctest::Approx(ref.dice).epsilon(1e-5));
        CHECK(fast.focal == doctest::Approx(ref.focal).epsilon(2e-5).scale(1e-6));
        for (int k = 0; k < 2; ++k) {
          CHECK(fast.grad[k] == doctest::Approx(ref.grad[k]).epsilon(2e-4).scale(1e-5));
        }
      }
    }
  }
  // Every pixel foreground / background.
  for (uint8_t t : {0, 1}) {
    RandomProblem p = MakeProblem(5000, 5.0f, 3);
    std::fill(p.target.begin(), p.target.end(), t);
    const MaskMixtureProblem problem(p.logits.data(), p.target.data(), p.n);
    const MaskLossValue fast = EvaluateMaskLoss(problem, 0.2f, 0.3f);
    const MaskLossValue ref = EvaluateMaskLossReference(p.logits.data(), p.target.data(), p.n, 0.2f, 0.3f);
    CHECK(fast.dice == doctest::Approx(ref.dice).epsilon(1e-5));
    CHECK(fast.focal == doctest::Approx(ref.focal).epsilon(1e-5));
  }
}

// One pixel per problem, L0 = L1 = L2 = x: the pass's value is that pixel's
// own terms, so this sweeps the per-pixel math (2^-a, reciprocal, log1p and
// the three tiers) against double precision. Error budget: x is stored as
// fl(x / ln2), relative 2^-24, which moves exp(-|x|) by |x| 2^-24 relative and
// a confidently right pixel's focal term (~exp(-3|x|)) by 3 |x| 2^-24 =
// 1.8e-7 |x|; plus the 2^-a (1.7e-7), log1p (1.7e-7) and series (6e-8)
// bounds and a few float roundings in the terms.
TEST_CASE("PerSAM-F loss: per-pixel math over the tiers matches double precision") {
  for (uint8_t t : {0, 1}) {
    for (double x = -40.0; x <= 40.0; x += 0.0371) {
      const float xf = static_cast<float>(x);
      const float logits[3] = {xf, xf, xf};
      const MaskMixtureProblem problem(logits, &t, 1);
      const MaskLossValue fast = EvaluateMaskLoss(problem, 0.25f, 0.5f);
      const MaskLossValue ref = EvaluateMaskLossReference(logits, &t, 1, 0.25, 0.5);
      const double tol = 8e-7 + 2e-7 * std::fabs(x);
      // Focal of a confidently right pixel is ~exp(-3|x|): below the deep
      // threshold it is dropped (< 1e-22), so compare it with an absolute floor.
      CHECK(std::fabs(fast.focal - ref.focal) <= tol * ref.focal + 1e-21);
      CHECK(fast.dice == doctest::Approx(ref.dice).epsilon(tol));
    }
  }
}

// The fused pass's gradient against central differences of the double
// reference loss, at weights where each tier dominates: large logits (deep
// and series tiers) and small ones (general tier), both groups.
TEST_CASE("PerSAM-F loss: fused gradient matches finite differences of the double loss") {
  for (float scale : {2.0f, 9.0f, 40.0f}) {
    const RandomProblem p = MakeProblem(30011, scale, 21);
    const MaskMixtureProblem problem(p.logits.data(), p.target.data(), p.n);
    for (const auto& w : std::vector<std::pair<float, float>>{{1.0f / 3, 1.0f / 3}, {0.7f, -0.2f}}) {
      const MaskLossValue fast = EvaluateMaskLoss(problem, w.first, w.second);
      const double h = 1e-5;
      for (int k = 0; k < 2; ++k) {
        const double d0 = k == 0 ? h : 0, d1 = k == 1 ? h : 0;
        const double plus = EvaluateMaskLossReference(p.logits.data(), p.target.data(), p.n,
                                                      w.first + d0, w.second + d1).loss();
        const double minus = EvaluateMaskLossReference(p.logits.data(), p.target.data(), p.n,
                                                       w.first - d0, w.second - d1).loss();
        const double fd = (plus - minus) / (2 * h);
        // float32 per-pixel terms summed over 30k pixels: ~1e-5 relative;
        // differences: O(h^2) truncation, 1e-16 / h rounding.
        CHECK(fast.grad[k] == doctest::Approx(fd).epsilon(1e-4).scale(1e-6));
      }
    }
  }
}

TEST_CASE("PerSAM-F loss: part sums combine to the pass for any split, run to run identical") {
  const RandomProblem p = MakeProblem(50000, 10.0f, 5);
  const MaskMixtureProblem problem(p.logits.data(), p.target.data(), p.n);
  const MaskLossValue ref = EvaluateMaskLossReference(p.logits.data(), p.target.data(), p.n, 0.2, 0.5);
  for (int parts : {1, 2, 3, 7, 40}) {
    std::vector<double> sums(static_cast<size_t>(kMaskLossPartSums) * parts);
    for (int part = 0; part < parts; ++part) {
      MaskLossPartSums(problem, 0.2f, 0.5f, part, parts, sums.data() + kMaskLossPartSums * part);
    }
    const MaskLossValue v = CombineMaskLossSums(problem, sums.data(), parts);
    CHECK(v.dice == doctest::Approx(ref.dice).epsilon(1e-5));
    CHECK(v.focal == doctest::Approx(ref.focal).epsilon(2e-5));
    for (int k = 0; k < 2; ++k) CHECK(v.grad[k] == doctest::Approx(ref.grad[k]).epsilon(2e-4).scale(1e-5));
    // The same split again gives the same bits.
    std::vector<double> again(sums.size());
    for (int part = 0; part < parts; ++part) {
      MaskLossPartSums(problem, 0.2f, 0.5f, part, parts, again.data() + kMaskLossPartSums * part);
    }
    CHECK(again == sums);
  }
  // Training twice gives the same weights bit for bit (one thread count).
  MaskWeightsOptions options;
  options.steps = 50;
  const MaskWeightsResult a = TrainMaskWeights(problem, options);
  const MaskWeightsResult b = TrainMaskWeights(problem, options);
  CHECK(a.weights == b.weights);
}

TEST_CASE("CosineAnnealingLR recursion follows the closed form and the reference's log") {
  CosineAnnealingLr scheduler(1e-3, 1000);
  for (int epoch = 1; epoch <= 1000; ++epoch) {
    scheduler.Step();
    const double closed = 1e-3 * (1 + std::cos(M_PI * epoch / 1000.0)) / 2;
    REQUIRE(scheduler.lr() == doctest::Approx(closed).epsilon(1e-9).scale(1e-15));
    // persam_f.py prints get_last_lr() after step 200 k: "LR: 0.000904" ...
    if (epoch == 201) CHECK(std::fabs(scheduler.lr() - 0.000904) < 5e-7);
    if (epoch == 401) CHECK(std::fabs(scheduler.lr() - 0.000653) < 5e-7);
    if (epoch == 801) CHECK(std::fabs(scheduler.lr() - 0.000095) < 5e-7);
  }
}

TEST_CASE("AdamW step matches PyTorch's decoupled update") {
  // Two steps written out from torch.optim.AdamW's documentation in double.
  AdamW adam(1, 0.9, 0.999, 1e-4, 0.01);
  float w = 0.5f;
  double wd = 0.5, m = 0, v = 0;
  const double grads[3] = {0.2, -0.05, 1e-5};
  const double lrs[3] = {1e-3, 9e-4, 5e-4};
  for (int t = 1; t <= 3; ++t) {
    const float g = static_cast<float>(grads[t - 1]);
    adam.Step(&w, &g, lrs[t - 1]);
    wd *= 1 - lrs[t - 1] * 0.01;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * double(g) * g;
    const double mhat = m / (1 - std::pow(0.9, t)), vhat = v / (1 - std::pow(0.999, t));
    wd -= lrs[t - 1] * mhat / (std::sqrt(vhat) + 1e-4);
    CHECK(w == doctest::Approx(wd).epsilon(1e-6));
  }
}

TEST_CASE("TrainMaskWeights lowers the loss and keeps the weights summing to one") {
  RandomProblem p = MakeProblem(20000, 6.0f, 11);
  MaskWeightsOptions options;
  options.steps = 300;
  const MaskWeightsResult result = TrainMaskWeights(p.logits.data(), p.target.data(), p.n, options);
  REQUIRE(result.log.size() == 2);
  CHECK(result.log[0].step == 0);
  CHECK(result.log[1].step == 200);
  const double first = result.log[0].dice + result.log[0].focal;
  CHECK(result.final_dice + result.final_focal < first);
  CHECK(result.weights[0] + result.weights[1] + result.weights[2] == doctest::Approx(1.0f).epsilon(1e-6));
}

}  // namespace
}  // namespace persam

namespace persam {
namespace {

// Synthetic data both this test and a scratch script running persam_f.py's
// training loop under PyTorch 1.13 generate from the same LCG.
RandomProblem LcgProblem(int64_t n, uint64_t seed) {
  std::vector<double> v(4 * n);
  uint64_t s = seed;
  for (auto& x : v) {
    s = (s * 1103515245u + 12345u) % (uint64_t{1} << 31);
    x = static_cast<double>(s) / static_cast<double>(uint64_t{1} << 31);
  }
  RandomProblem p{std::vector<float>(3 * n), std::vector<uint8_t>(n), n};
  for (int k = 0; k < 3; ++k) {
    for (int64_t i = 0; i < n; ++i) {
      const float ramp = static_cast<float>(static_cast<float>((i % 97) / 97.0 * 10 - 5));
      p.logits[k * n + i] = static_cast<float>((v[k * n + i] * 2 - 1) * 8) + ramp;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    p.target[i] = static_cast<double>(p.logits[n + i]) + (v[3 * n + i] * 2 - 1) * 4 > 1.0;
  }
  return p;
}

TEST_CASE("TrainMaskWeights reproduces persam_f.py's learned weights (PyTorch 1.13 run)") {
  struct Case {
    int64_t n;
    uint64_t seed;
    float weights[3];     // printed by the PyTorch run
    double dice0, focal0;  // its step-0 losses
  };
  const Case cases[] = {
      {20000, 12345, {0.13291049f, 0.72400546f, 0.14308402f}, 0.3207111358642578, 0.2987615168094635},
      {3001, 7, {0.12315059f, 0.72090060f, 0.15594883f}, 0.30927950143814087, 0.2707585394382477},
  };
  for (const Case& c : cases) {
    const RandomProblem p = LcgProblem(c.n, c.seed);
    const MaskWeightsResult result = TrainMaskWeights(p.logits.data(), p.target.data(), p.n);
    for (int k = 0; k < 3; ++k) CHECK(std::fabs(result.weights[k] - c.weights[k]) < 1e-4);
    REQUIRE(result.log.size() == 5);
    CHECK(result.log[0].dice == doctest::Approx(c.dice0).epsilon(1e-5));
    CHECK(result.log[0].focal == doctest::Approx(c.focal0).epsilon(1e-5));
  }
}

}  // namespace
}  // namespace persam
