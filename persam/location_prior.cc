#include "persam/location_prior.h"

#include <algorithm>
#include <cmath>

#include "engine/preprocess.h"
#include "kernels/ops.h"
#include "kernels/resize.h"
#include "base/error.h"

namespace persam {
namespace {

// The full-resolution passes below (1.6 MP for a 1280 x 1280 image) run over
// fixed chunks in parallel; partial results are combined in chunk order, so
// the result does not depend on the thread count.
constexpr int64_t kChunk = 1 << 15;

int64_t NumChunks(int64_t n) { return (n + kChunk - 1) / kChunk; }

int Channels(const ImageEmbedding& e, int* grid) {
  *grid = 64;
  const size_t positions = static_cast<size_t>(*grid) * *grid;
  if (e.data.empty() || e.data.size() % positions != 0) {
    throw Error("PerSAM: image embedding of " + std::to_string(e.data.size()) + " values is not [C, 64, 64]");
  }
  return static_cast<int>(e.data.size() / positions);
}

}  // namespace

TargetFeatures ComputeTargetFeatures(const ImageEmbedding& embedding, const std::vector<uint8_t>& cells,
                                     TargetPooling pooling) {
  return ComputeTargetFeatures(std::vector<const ImageEmbedding*>{&embedding},
                               std::vector<const std::vector<uint8_t>*>{&cells}, pooling);
}

TargetFeatures ComputeTargetFeatures(const std::vector<const ImageEmbedding*>& embeddings,
                                     const std::vector<const std::vector<uint8_t>*>& cells, TargetPooling pooling) {
  if (embeddings.empty() || embeddings.size() != cells.size()) throw Error("PerSAM: no reference to pool");
  int grid = 0;
  const int channels = Channels(*embeddings[0], &grid);
  const size_t positions = static_cast<size_t>(grid) * grid;
  std::vector<double> sum(channels, 0.0);
  std::vector<float> max(channels, -INFINITY);
  int count = 0;
  for (size_t r = 0; r < embeddings.size(); ++r) {
    const ImageEmbedding& embedding = *embeddings[r];
    if (Channels(embedding, &grid) != channels) throw Error("PerSAM: reference embeddings differ in channels");
    if (cells[r]->size() != positions) throw Error("PerSAM: reference cell map is not 64 x 64");
    for (size_t p = 0; p < positions; ++p) {
      if (!(*cells[r])[p]) continue;
      ++count;
      for (int c = 0; c < channels; ++c) {
        const float v = embedding.data[c * positions + p];
        sum[c] += v;
        max[c] = std::max(max[c], v);
      }
    }
  }
  if (count == 0) throw Error("PerSAM: no reference cell selected");
  TargetFeatures t;
  t.embedding.resize(channels);
  t.feat.resize(channels);
  for (int c = 0; c < channels; ++c) t.embedding[c] = static_cast<float>(sum[c] / count);
  for (int c = 0; c < channels; ++c) {
    // ref: persam_f.py target_feat_max / 2 + target_feat_mean / 2 (float32).
    t.feat[c] = pooling == TargetPooling::kMean ? t.embedding[c] : max[c] / 2 + t.embedding[c] / 2;
  }
  double norm = 0;
  for (float v : t.feat) norm += static_cast<double>(v) * v;
  const float inv = static_cast<float>(std::sqrt(norm));
  for (float& v : t.feat) v /= inv;
  return t;
}

std::vector<float> SimilarityMap(const ImageEmbedding& embedding, const std::vector<float>& feat) {
  int grid = 0;
  const int channels = Channels(embedding, &grid);
  if (static_cast<int>(feat.size()) != channels) {
    throw Error("PerSAM: target feature of " + std::to_string(feat.size()) + " values for a " +
                std::to_string(channels) + "-channel embedding");
  }
  const size_t positions = static_cast<size_t>(grid) * grid;
  // ref: test_feat / test_feat.norm(dim=0); sim = target_feat @ test_feat.
  std::vector<float> sim(positions);
  constexpr int64_t kBlock = 256;  // positions per task (channels walked inside)
  const int64_t blocks = (static_cast<int64_t>(positions) + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const size_t p0 = static_cast<size_t>(blk * kBlock);
    const size_t count = std::min(static_cast<size_t>(kBlock), positions - p0);
    double dot[kBlock] = {}, norm2[kBlock] = {};
    for (int c = 0; c < channels; ++c) {
      const float* row = embedding.data.data() + c * positions + p0;
      const double f = feat[c];
      for (size_t i = 0; i < count; ++i) {
        dot[i] += f * row[i];
        norm2[i] += static_cast<double>(row[i]) * row[i];
      }
    }
    for (size_t i = 0; i < count; ++i) {
      sim[p0 + i] = norm2[i] > 0 ? static_cast<float>(dot[i] / std::sqrt(norm2[i])) : 0.0f;
    }
  }
  const int low = 4 * grid;  // F.interpolate(sim, scale_factor=4)
  std::vector<float> up(static_cast<size_t>(low) * low);
  kernels::ResizeBilinear(sim.data(), 1, grid, grid, up.data(), low, low);
  return PostprocessMaps(up.data(), 1, low, low, embedding.orig_height, embedding.orig_width);
}

namespace {

// Index of the first extreme element (as std::max_element / min_element):
// per-chunk extremes, then the first chunk holding the overall one.
template <class Better>
size_t FirstExtreme(const std::vector<float>& v, Better better) {
  const int64_t n = static_cast<int64_t>(v.size()), chunks = NumChunks(n);
  std::vector<size_t> best(chunks);
#pragma omp parallel for schedule(static)
  for (int64_t ci = 0; ci < chunks; ++ci) {
    const auto begin = v.begin() + ci * kChunk, end = v.begin() + std::min(n, (ci + 1) * kChunk);
    size_t b = static_cast<size_t>(begin - v.begin());
    for (auto it = begin; it != end; ++it) {
      if (better(*it, v[b])) b = static_cast<size_t>(it - v.begin());
    }
    best[ci] = b;
  }
  size_t b = best.empty() ? 0 : best[0];
  for (size_t x : best) {
    if (better(v[x], v[b])) b = x;
  }
  return b;
}

}  // namespace

PointPrompt ArgMaxPoint(const std::vector<float>& sim, int width) {
  const size_t i = FirstExtreme(sim, [](float a, float b) { return a > b; });
  return PointPrompt{static_cast<double>(i % width), static_cast<double>(i / width), 1};
}

PointPrompt ArgMinPoint(const std::vector<float>& sim, int width) {
  const size_t i = FirstExtreme(sim, [](float a, float b) { return a < b; });
  return PointPrompt{static_cast<double>(i % width), static_cast<double>(i / width), 0};
}

std::vector<float> TargetGuidedAttention(const std::vector<float>& sim, int height, int width, int grid) {
  const size_t n = static_cast<size_t>(height) * width;
  const int64_t chunks = NumChunks(static_cast<int64_t>(n));
  auto chunk_sum = [&](auto term) {
    std::vector<double> part(chunks, 0.0);
#pragma omp parallel for schedule(static)
    for (int64_t ci = 0; ci < chunks; ++ci) {
      const size_t end = std::min(n, static_cast<size_t>((ci + 1) * kChunk));
      double acc = 0;
      for (size_t i = static_cast<size_t>(ci * kChunk); i < end; ++i) acc += term(sim[i]);
      part[ci] = acc;
    }
    double total = 0;
    for (double x : part) total += x;
    return total;
  };
  const double mean = chunk_sum([](float v) { return static_cast<double>(v); }) / static_cast<double>(n);
  const double ss = chunk_sum([mean](float v) { return (v - mean) * (v - mean); });
  const double std_dev = std::sqrt(ss / static_cast<double>(n > 1 ? n - 1 : 1));
  std::vector<float> standardised(n);
  const float fmean = static_cast<float>(mean), fstd = static_cast<float>(std_dev);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) standardised[i] = (sim[i] - fmean) / fstd;
  std::vector<float> out(static_cast<size_t>(grid) * grid);
  kernels::ResizeBilinear(standardised.data(), 1, height, width, out.data(), grid, grid);
  kernels::Sigmoid(out.data(), out.size());
  return out;
}

std::optional<BoxPrompt> MaskBox(const float* logits, int height, int width) {
  // Rows in parallel, each with its first and last foreground column.
  std::vector<int> firsts(height, -1), lasts(height, -1);
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(height) * width > kChunk)
  for (int y = 0; y < height; ++y) {
    const float* row = logits + static_cast<size_t>(y) * width;
    for (int x = 0; x < width; ++x) {
      if (row[x] > 0.0f) {
        if (firsts[y] < 0) firsts[y] = x;
        lasts[y] = x;
      }
    }
  }
  int x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (int y = 0; y < height; ++y) {
    if (firsts[y] < 0) continue;
    x0 = std::min(x0, firsts[y]);
    x1 = std::max(x1, lasts[y]);
    y0 = std::min(y0, y);
    y1 = y;
  }
  if (x1 < 0) return std::nullopt;
  return BoxPrompt{static_cast<double>(x0), static_cast<double>(y0), static_cast<double>(x1),
                   static_cast<double>(y1)};
}

int64_t MaskArea(const float* logits, int64_t count) {
  int64_t area = 0;
#pragma omp parallel for schedule(static) reduction(+ : area)
  for (int64_t i = 0; i < count; ++i) area += logits[i] > 0.0f;
  return area;
}

}  // namespace persam
