#include "persam/location_prior.h"

#include <algorithm>
#include <cmath>

#include "engine/preprocess.h"
#include "kernels/ops.h"
#include "kernels/resize.h"
#include "weights/error.h"

namespace persam {
namespace {

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
  int grid = 0;
  const int channels = Channels(embedding, &grid);
  const size_t positions = static_cast<size_t>(grid) * grid;
  if (cells.size() != positions) throw Error("PerSAM: reference cell map is not 64 x 64");
  std::vector<double> sum(channels, 0.0);
  std::vector<float> max(channels, -INFINITY);
  int count = 0;
  for (size_t p = 0; p < positions; ++p) {
    if (!cells[p]) continue;
    ++count;
    for (int c = 0; c < channels; ++c) {
      const float v = embedding.data[c * positions + p];
      sum[c] += v;
      max[c] = std::max(max[c], v);
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
  std::vector<double> dot(positions, 0.0), norm2(positions, 0.0);
  for (int c = 0; c < channels; ++c) {
    const float* row = embedding.data.data() + c * positions;
    const double f = feat[c];
    for (size_t p = 0; p < positions; ++p) {
      dot[p] += f * row[p];
      norm2[p] += static_cast<double>(row[p]) * row[p];
    }
  }
  // ref: test_feat / test_feat.norm(dim=0); sim = target_feat @ test_feat.
  std::vector<float> sim(positions);
  for (size_t p = 0; p < positions; ++p) {
    sim[p] = norm2[p] > 0 ? static_cast<float>(dot[p] / std::sqrt(norm2[p])) : 0.0f;
  }
  const int low = 4 * grid;  // F.interpolate(sim, scale_factor=4)
  std::vector<float> up(static_cast<size_t>(low) * low);
  kernels::ResizeBilinear(sim.data(), 1, grid, grid, up.data(), low, low);
  return PostprocessMaps(up.data(), 1, low, low, embedding.orig_height, embedding.orig_width);
}

PointPrompt ArgMaxPoint(const std::vector<float>& sim, int width) {
  const size_t i = static_cast<size_t>(std::max_element(sim.begin(), sim.end()) - sim.begin());
  return PointPrompt{static_cast<double>(i % width), static_cast<double>(i / width), 1};
}

PointPrompt ArgMinPoint(const std::vector<float>& sim, int width) {
  const size_t i = static_cast<size_t>(std::min_element(sim.begin(), sim.end()) - sim.begin());
  return PointPrompt{static_cast<double>(i % width), static_cast<double>(i / width), 0};
}

std::vector<float> TargetGuidedAttention(const std::vector<float>& sim, int height, int width, int grid) {
  const size_t n = static_cast<size_t>(height) * width;
  double sum = 0;
  for (float v : sim) sum += v;
  const double mean = sum / static_cast<double>(n);
  double ss = 0;
  for (float v : sim) ss += (v - mean) * (v - mean);
  const double std_dev = std::sqrt(ss / static_cast<double>(n > 1 ? n - 1 : 1));
  std::vector<float> standardised(n);
  const float fmean = static_cast<float>(mean), fstd = static_cast<float>(std_dev);
  for (size_t i = 0; i < n; ++i) standardised[i] = (sim[i] - fmean) / fstd;
  std::vector<float> out(static_cast<size_t>(grid) * grid);
  kernels::ResizeBilinear(standardised.data(), 1, height, width, out.data(), grid, grid);
  kernels::Sigmoid(out.data(), out.size());
  return out;
}

std::optional<BoxPrompt> MaskBox(const float* logits, int height, int width) {
  int x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (int y = 0; y < height; ++y) {
    const float* row = logits + static_cast<size_t>(y) * width;
    int first = -1, last = -1;
    for (int x = 0; x < width; ++x) {
      if (row[x] > 0.0f) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    x0 = std::min(x0, first);
    x1 = std::max(x1, last);
    y0 = std::min(y0, y);
    y1 = y;
  }
  if (x1 < 0) return std::nullopt;
  return BoxPrompt{static_cast<double>(x0), static_cast<double>(y0), static_cast<double>(x1),
                   static_cast<double>(y1)};
}

int64_t MaskArea(const float* logits, int64_t count) {
  int64_t area = 0;
  for (int64_t i = 0; i < count; ++i) area += logits[i] > 0.0f;
  return area;
}

}  // namespace persam
