#include "amg/regions.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "base/error.h"

namespace persam::amg {
namespace {

void CheckSize(const char* fn, int height, int width) {
  if (height < 0 || width < 0) {
    throw Error(std::string(fn) + ": mask size must be non-negative, got " +
                std::to_string(height) + " x " + std::to_string(width));
  }
  // Labels are int32: one per pixel at most.
  if (static_cast<int64_t>(height) * width > std::numeric_limits<int32_t>::max()) {
    throw Error(std::string(fn) + ": mask " + std::to_string(height) + " x " +
                std::to_string(width) + " has more than 2^31 - 1 pixels");
  }
}

// Index of the first nonzero byte in [p, p + n), or n; eight bytes per step.
size_t FindFirstNonzero(const uint8_t* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    if (word != 0) return i + static_cast<size_t>(__builtin_ctzll(word) >> 3);  // little-endian
  }
  for (; i < n; ++i) {
    if (p[i] != 0) return i;
  }
  return n;
}

// Index of the last nonzero byte in [p, p + n), or n when there is none.
size_t FindLastNonzero(const uint8_t* p, size_t n) {
  size_t i = n;
  for (; i >= 8; i -= 8) {
    uint64_t word;
    std::memcpy(&word, p + i - 8, 8);
    if (word != 0) return i - 1 - static_cast<size_t>(__builtin_clzll(word) >> 3);
  }
  for (; i > 0; --i) {
    if (p[i - 1] != 0) return i - 1;
  }
  return n;
}

// Union-find over provisional labels. A root is always the smallest label of
// its tree and every parent is smaller than its child, so one increasing
// pass flattens it (as OpenCV's FlattenL).
class Equivalences {
 public:
  Equivalences() : parent_(1, 0) {}
  int32_t New() {
    const int32_t l = static_cast<int32_t>(parent_.size());
    parent_.push_back(l);
    return l;
  }
  int32_t Find(int32_t l) {
    while (parent_[l] != l) {
      parent_[l] = parent_[parent_[l]];  // path halving keeps parents smaller
      l = parent_[l];
    }
    return l;
  }
  void Union(int32_t a, int32_t b) {
    a = Find(a);
    b = Find(b);
    if (a < b)
      parent_[b] = a;
    else if (b < a)
      parent_[a] = b;
  }
  int32_t size() const { return static_cast<int32_t>(parent_.size()); }
  int32_t parent(int32_t l) const { return parent_[l]; }

 private:
  std::vector<int32_t> parent_;
};

}  // namespace

// ref: segment_anything/utils/amg.py batched_mask_to_box (one mask)
std::array<int, 4> MaskToBox(const uint8_t* mask, int height, int width) {
  CheckSize("MaskToBox", height, width);
  int x_min = width, x_max = -1, y_min = height, y_max = -1;
  const size_t w = static_cast<size_t>(width);
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = mask + static_cast<size_t>(y) * w;
    const size_t first = FindFirstNonzero(row, w);
    if (first == w) continue;
    if (y_min == height) y_min = y;
    y_max = y;
    x_min = std::min(x_min, static_cast<int>(first));
    // Only the part right of the current x_max can move it.
    const size_t from = std::max(first, static_cast<size_t>(x_max + 1));
    const size_t last = FindLastNonzero(row + from, w - from);
    if (last != w - from) x_max = static_cast<int>(from + last);
  }
  if (y_max < 0) return {0, 0, 0, 0};
  return {x_min, y_min, x_max, y_max};
}

// Two-pass labelling with the decision tree of Wu et al. (SAUF, 8-connected):
// of the four already-visited neighbours, "up" touches all the others, and
// "up-right" touches everything except "up-left" and "left", which were
// merged with each other when "left" was visited. OpenCV numbers components
// by the first 2 x 2 block (its BBDT/Grana scan unit) holding one of their
// pixels; every pixel of a block is 8-adjacent to the others, so each block
// belongs to one component and that key is unique. Each provisional label
// remembers the smallest block key of its pixels; the final numbering sorts
// the components by that key.
std::vector<int64_t> LabelComponents8(const uint8_t* mask, int height, int width, uint8_t value,
                                      std::vector<int32_t>* labels) {
  CheckSize("LabelComponents8", height, width);
  if (value > 1) {
    throw Error("LabelComponents8: value must be 0 or 1, got " + std::to_string(value));
  }
  if (labels == nullptr) throw Error("LabelComponents8: labels must not be null");
  const size_t w = static_cast<size_t>(width);
  const size_t n = static_cast<size_t>(height) * w;
  labels->assign(n, 0);
  int32_t* lab = labels->data();
  const int64_t blocks_per_row = (width + 1) / 2;
  const bool want_nonzero = value != 0;

  Equivalences eq;
  std::vector<int64_t> min_key(1, 0);
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = mask + static_cast<size_t>(y) * w;
    int32_t* cur = lab + static_cast<size_t>(y) * w;
    const int32_t* up = y > 0 ? cur - w : nullptr;
    const int64_t block_row_key = static_cast<int64_t>(y >> 1) * blocks_per_row;
    for (int x = 0; x < width; ++x) {
      if ((row[x] != 0) != want_nonzero) continue;
      int32_t l;
      if (up != nullptr && up[x] != 0) {
        l = up[x];
      } else {
        const int32_t ul = (up != nullptr && x > 0) ? up[x - 1] : 0;
        const int32_t ur = (up != nullptr && x + 1 < width) ? up[x + 1] : 0;
        const int32_t left = x > 0 ? cur[x - 1] : 0;
        if (ur != 0) {
          l = ur;
          if (left != 0)
            eq.Union(ur, left);
          else if (ul != 0)
            eq.Union(ur, ul);
        } else if (ul != 0) {
          l = ul;
        } else if (left != 0) {
          l = left;
        } else {
          l = eq.New();
          min_key.push_back(std::numeric_limits<int64_t>::max());
        }
      }
      cur[x] = l;
      const int64_t key = block_row_key + (x >> 1);
      if (key < min_key[l]) min_key[l] = key;
    }
  }

  // Flatten: every parent is smaller than its child, so roots are resolved
  // before the labels that point to them.
  const int32_t n_provisional = eq.size();
  std::vector<int32_t> root(static_cast<size_t>(n_provisional), 0);
  std::vector<int32_t> roots;
  for (int32_t l = 1; l < n_provisional; ++l) {
    if (eq.parent(l) == l) {
      root[l] = l;
      roots.push_back(l);
    } else {
      root[l] = root[eq.Find(l)];
      if (min_key[l] < min_key[root[l]]) min_key[root[l]] = min_key[l];
    }
  }
  std::sort(roots.begin(), roots.end(),
            [&](int32_t a, int32_t b) { return min_key[a] < min_key[b]; });
  std::vector<int32_t> final_label(static_cast<size_t>(n_provisional), 0);
  for (size_t k = 0; k < roots.size(); ++k) final_label[roots[k]] = static_cast<int32_t>(k + 1);
  for (int32_t l = 1; l < n_provisional; ++l) final_label[l] = final_label[root[l]];

  std::vector<int64_t> sizes(roots.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    if (lab[i] != 0) {
      lab[i] = final_label[lab[i]];
      ++sizes[lab[i] - 1];
    }
  }
  return sizes;
}

// ref: segment_anything/utils/amg.py remove_small_regions
bool RemoveSmallRegions(std::vector<uint8_t>* mask, int height, int width, int64_t min_area,
                        RegionMode mode) {
  if (mask == nullptr) throw Error("RemoveSmallRegions: mask must not be null");
  CheckSize("RemoveSmallRegions", height, width);
  if (mask->size() != static_cast<size_t>(height) * static_cast<size_t>(width)) {
    throw Error("RemoveSmallRegions: mask has " + std::to_string(mask->size()) +
                " pixels, expected height * width = " + std::to_string(height) + " * " +
                std::to_string(width));
  }
  const bool holes = mode == RegionMode::kHoles;
  // working_mask = correct_holes ^ mask: holes label the false pixels.
  std::vector<int32_t> labels;
  const std::vector<int64_t> sizes =
      LabelComponents8(mask->data(), height, width, holes ? 0 : 1, &labels);
  // fill[l]: whether pixels of label l end up true (np.isin(regions, fill_labels)).
  std::vector<uint8_t> fill(sizes.size() + 1, 0);
  bool any_small = false;
  for (size_t k = 0; k < sizes.size(); ++k) {
    const bool small = sizes[k] < min_area;
    any_small |= small;
    // holes: [0] + small_regions; islands: every label not in that list.
    fill[k + 1] = holes ? small : !small;
  }
  if (!any_small) return false;
  if (holes) {
    fill[0] = 1;  // the true pixels of the mask
  } else if (std::find(fill.begin() + 1, fill.end(), 1) == fill.end()) {
    // Every island is small: keep the largest, np.argmax's first maximum.
    const size_t largest = std::max_element(sizes.begin(), sizes.end()) - sizes.begin();
    fill[largest + 1] = 1;
  }
  uint8_t* m = mask->data();
  const int32_t* lab = labels.data();
  for (size_t i = 0; i < mask->size(); ++i) m[i] = fill[lab[i]];
  return true;
}

}  // namespace persam::amg
