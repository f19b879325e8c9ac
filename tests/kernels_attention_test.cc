// Flash attention and the decoder's small attention against a double
// precision softmax(q k^T) v reference, on every compiled Highway target.
#include "tests/kernels_test_util.h"  // first: target policy

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/attention.h"
#include "kernels/gemm_lowp.h"

namespace persam::kernels {
namespace {

using testing_kernels::ForEachTarget;
using testing_kernels::Guarded;
using testing_kernels::kEps;
using testing_kernels::RoundBF16;

struct Problem {
  int nq, nk, dim, key_rows = 0, key_cols = 0;
  bool rel = false, full_bias = false;
  int pad = 3;  // extra floats per row (strides > dim)
  Guarded q, k, v, out, rel_h, rel_w, bias;
  float scale;
  Problem(int nq_, int nk_, int dim_, std::mt19937& rng, bool rel_, bool full_bias_,
          int offset)
      : nq(nq_), nk(nk_), dim(dim_), rel(rel_), full_bias(full_bias_),
        q(size_t(nq_) * (dim_ + 3), offset), k(size_t(nk_) * (dim_ + 3), offset + 1),
        v(size_t(nk_) * (dim_ + 3), offset + 2), out(size_t(nq_) * (dim_ + 3), offset),
        rel_h(1, 0), rel_w(1, 0), bias(full_bias_ ? size_t(nq_) * (nk_ + 2) : 1, 1),
        scale(1.0f / std::sqrt(float(dim_))) {
    // Grid of keys for the decomposed bias: the most square factorisation.
    key_rows = 1;
    for (int r = 1; r * r <= nk; ++r) {
      if (nk % r == 0) key_rows = r;
    }
    key_cols = nk / key_rows;
    rel_h = Guarded(size_t(nq) * key_rows, 0);
    rel_w = Guarded(size_t(nq) * key_cols, 0);
    auto fill_rows = [&](Guarded& g, int rows) {
      std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
      for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < dim; ++j) g[size_t(i) * (dim + pad) + j] = dist(rng);
      }
    };
    fill_rows(q, nq);
    fill_rows(k, nk);
    fill_rows(v, nk);
    rel_h.FillUniform(rng, -1.0f, 1.0f);
    rel_w.FillUniform(rng, -1.0f, 1.0f);
    if (full_bias) {
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      for (int i = 0; i < nq; ++i) {
        for (int j = 0; j < nk; ++j) bias[size_t(i) * (nk + 2) + j] = dist(rng);
      }
    }
  }
  AttentionArgs Args() {
    AttentionArgs a;
    a.num_queries = nq;
    a.num_keys = nk;
    a.head_dim = dim;
    a.q = q.data();
    a.k = k.data();
    a.v = v.data();
    a.out = out.data();
    a.q_stride = a.k_stride = a.v_stride = a.out_stride = dim + pad;
    a.scale = scale;
    if (rel) {
      a.rel_h = rel_h.data();
      a.rel_w = rel_w.data();
      a.key_rows = key_rows;
      a.key_cols = key_cols;
    }
    if (full_bias) {
      a.bias = bias.data();
      a.bias_stride = nk + 2;
    }
    return a;
  }
  // Checks out against the double reference; post_bias as SmallAttention.
  // bf16 (AttentionBatchBF16): the reference takes the operands the kernel
  // rounds, bf16(float(q * scale)), bf16(k), bf16(v); the kernel's bf16
  // rounding of P (relative <= 2^-9 per weight, normalised by the sum of the
  // rounded weights) moves out by <= 2 * 2^-9 * max|v| on top.
  void Check(const float* post_bias = nullptr, bool bf16 = false) const {
    const int ld = dim + pad;
    auto qv = [&](int i, int t) {
      return bf16 ? double(RoundBF16(q[size_t(i) * ld + t] * scale)) : double(q[size_t(i) * ld + t]);
    };
    auto kv = [&](int j, int t) {
      return bf16 ? double(RoundBF16(k[size_t(j) * ld + t])) : double(k[size_t(j) * ld + t]);
    };
    auto vv = [&](int j, int t) {
      return bf16 ? double(RoundBF16(v[size_t(j) * ld + t])) : double(v[size_t(j) * ld + t]);
    };
    const double qk_scale = bf16 ? 1.0 : scale;  // bf16: scale is in qv
    std::vector<double> s(nk), p(nk);
    for (int i = 0; i < nq; ++i) {
      double smax = -1e300, qk_abs_max = 0, v_abs_max = 0;
      for (int j = 0; j < nk; ++j) {
        double dot = 0, dot_abs = 0;
        for (int t = 0; t < dim; ++t) {
          dot += qv(i, t) * kv(j, t);
          dot_abs += std::fabs(qv(i, t) * kv(j, t));
          v_abs_max = std::max(v_abs_max, std::fabs(vv(j, t)));
        }
        s[j] = dot * qk_scale;
        qk_abs_max = std::max(qk_abs_max, dot_abs * qk_scale);
        if (rel) {
          s[j] += double(rel_h[size_t(i) * key_rows + j / key_cols]) +
                  rel_w[size_t(i) * key_cols + j % key_cols];
        }
        if (full_bias) s[j] += bias[size_t(i) * (nk + 2) + j];
        smax = std::max(smax, s[j]);
      }
      double sum = 0;
      for (int j = 0; j < nk; ++j) sum += (p[j] = std::exp(s[j] - smax));
      for (int j = 0; j < nk; ++j) p[j] /= sum;
      if (post_bias) {
        double m2 = -1e300, sum2 = 0;
        for (int j = 0; j < nk; ++j) m2 = std::max(m2, p[j] + post_bias[j]);
        for (int j = 0; j < nk; ++j) sum2 += (p[j] = std::exp(p[j] + post_bias[j] - m2));
        for (int j = 0; j < nk; ++j) p[j] /= sum2;
      }
      // Each score carries (dim + 4) eps * |q||k| (+ a few eps of the
      // biases); a score error ds moves out by <= 2 ds max|v|; the exp, the
      // sums over nk keys and the P V products add (nk + 8) eps max|v|.
      const double ds = (dim + 4) * kEps * qk_abs_max + 8 * kEps * 4.0;
      const double tol = 2.0 * (2 * ds + (nk + 8) * kEps) * 2.0 + 1e-6 +
                         (bf16 ? 2.0 / 512 * v_abs_max : 0.0);
      for (int t = 0; t < dim; ++t) {
        double ref = 0;
        for (int j = 0; j < nk; ++j) ref += p[j] * vv(j, t);
        const float got = out[size_t(i) * ld + t];
        CHECK(std::fabs(got - ref) <= tol);
      }
    }
    // Padding columns of out and the guards are untouched.
    for (int i = 0; i + 1 < nq; ++i) {
      for (int t = dim; t < ld; ++t) CHECK(std::isnan(out[size_t(i) * ld + t]));
    }
    CHECK(out.GuardsIntact());
  }
};

TEST_CASE("Attention matches the double reference (all targets, shapes, biases)") {
  std::mt19937 rng(7);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    for (int dim : {1, 5, 16, 32, 64, 80}) {
      for (auto [nq, nk] : {std::pair{1, 1}, {5, 7}, {49, 196}, {50, 65}, {97, 64}, {13, 130}}) {
        for (int mode = 0; mode < 3; ++mode) {
          CAPTURE(dim);
          CAPTURE(nq);
          CAPTURE(nk);
          CAPTURE(mode);
          Problem pr(nq, nk, dim, rng, mode == 1, mode == 2, (dim + nq) % 4);
          Attention(pr.Args());
          pr.Check();
        }
      }
    }
  });
}

TEST_CASE("AttentionBatch over mixed items equals per-item results") {
  std::mt19937 rng(8);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    std::vector<Problem> problems;
    problems.reserve(8);
    for (int i = 0; i < 8; ++i) {
      problems.emplace_back(20 + 37 * i, 196 - 11 * i, i % 2 ? 64 : 80, rng, i % 3 == 0,
                            i % 3 == 1, i % 4);
    }
    std::vector<AttentionArgs> args;
    for (auto& p : problems) args.push_back(p.Args());
    AttentionBatch(args.data(), static_cast<int>(args.size()));
    for (auto& p : problems) p.Check();
    // Run again with different values in the same buffers: no stale packed K/V.
    for (auto& p : problems) p.v.FillUniform(rng, -1.0f, 1.0f);
    AttentionBatch(args.data(), static_cast<int>(args.size()));
    for (auto& p : problems) p.Check();
  });
}

TEST_CASE("AttentionBatchBF16 matches the reference on bf16 operands (all targets)") {
  // Shapes around the 32-key panels and key tiles (128 keys), odd head
  // dims (a zero pair half), the ViT windows (196 keys) and a global block.
  std::mt19937 rng(10);
  const std::tuple<int, int, int> shapes[] = {{1, 1, 1},   {5, 7, 5},     {49, 196, 64},
                                              {50, 65, 80}, {97, 129, 33}, {13, 260, 16},
                                              {40, 1024, 64}};
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    CAPTURE(std::string(GemmBF16PathName()));
    for (auto [nq, nk, dim] : shapes) {
      for (int mode = 0; mode < 3; ++mode) {
        CAPTURE(nq);
        CAPTURE(nk);
        CAPTURE(dim);
        CAPTURE(mode);
        Problem pr(nq, nk, dim, rng, mode == 1, mode == 2, (dim + nq) % 4);
        const AttentionArgs args = pr.Args();
        AttentionBatchBF16(&args, 1);
        pr.Check(nullptr, /*bf16=*/true);
      }
    }
    // A batch of mixed items, twice (no stale packed K/V between calls).
    std::vector<Problem> problems;
    problems.reserve(6);
    for (int i = 0; i < 6; ++i) {
      problems.emplace_back(20 + 37 * i, 196 - 11 * i, i % 2 ? 64 : 80, rng, i % 3 == 0,
                            i % 3 == 1, i % 4);
    }
    std::vector<AttentionArgs> args;
    for (auto& p : problems) args.push_back(p.Args());
    for (int round = 0; round < 2; ++round) {
      AttentionBatchBF16(args.data(), static_cast<int>(args.size()));
      for (auto& p : problems) p.Check(nullptr, true);
      for (auto& p : problems) p.v.FillUniform(rng, -1.0f, 1.0f);
    }
  });
}

TEST_CASE("SmallAttention with and without PerSAM's post-softmax bias") {
  std::mt19937 rng(9);
  ForEachTarget([&](const char* target) {
    CAPTURE(target);
    const std::tuple<int, int, int> shapes[] = {{7, 4096, 16}, {4096, 7, 16}, {7, 7, 32}, {3, 33, 5}};
    for (auto [nq, nk, dim] : shapes) {
      CAPTURE(nq);
      CAPTURE(nk);
      Problem pr(nq, nk, dim, rng, false, false, 1);
      SmallAttention(pr.Args(), nullptr);
      pr.Check();
      std::vector<float> post(nk);
      std::uniform_real_distribution<float> dist(0.0f, 1.0f);
      for (float& b : post) b = dist(rng);
      SmallAttention(pr.Args(), post.data());
      pr.Check(post.data());
    }
  });
}

TEST_CASE("Attention rejects inconsistent arguments") {
  AttentionArgs a;
  CHECK_THROWS(Attention(a));
  std::vector<float> buf(64, 0.0f);
  a.num_queries = 2;
  a.num_keys = 4;
  a.head_dim = 4;
  a.q = a.k = a.v = buf.data();
  a.out = buf.data() + 32;
  a.q_stride = a.k_stride = a.v_stride = a.out_stride = 4;
  a.rel_h = buf.data();
  a.rel_w = buf.data();
  a.key_rows = 3;
  a.key_cols = 3;
  CHECK_THROWS(Attention(a));
  a.key_rows = 2;
  a.key_cols = 2;
  CHECK_NOTHROW(Attention(a));
}

}  // namespace
}  // namespace persam::kernels
