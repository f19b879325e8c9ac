#include "amg/rle.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "base/error.h"

namespace persam::amg {
namespace {

// Columns per transposed tile. A tile is kTileColumns x height bytes,
// column-major: 64 columns keep 64 write streams (one cache line each) live
// while the rows are read contiguously, and a 1500-row tile (96 KB) stays in
// L2 for the scan that follows.
constexpr int kTileColumns = 64;

void CheckSize(const char* fn, int height, int width) {
  if (height < 0 || width < 0) {
    throw Error(std::string(fn) + ": mask size must be non-negative, got " +
                std::to_string(height) + " x " + std::to_string(width));
  }
  // counts are uint32_t, and a single run can span the whole mask.
  if (static_cast<uint64_t>(height) * static_cast<uint64_t>(width) >
      std::numeric_limits<uint32_t>::max()) {
    throw Error(std::string(fn) + ": mask " + std::to_string(height) + " x " +
                std::to_string(width) + " has more than 2^32 - 1 pixels");
  }
}

// Index of the first byte in [p, p + n) that differs from `value`, or n.
// Eight bytes per step: masks are mostly long runs.
size_t FindFirstNotEqual(const uint8_t* p, size_t n, uint8_t value) {
  const uint64_t pattern = 0x0101010101010101ull * value;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    const uint64_t diff = word ^ pattern;
    // Little-endian: the lowest set byte is the first differing one.
    if (diff != 0) return i + static_cast<size_t>(__builtin_ctzll(diff) >> 3);
  }
  for (; i < n; ++i) {
    if (p[i] != value) return i;
  }
  return n;
}

// Appends runs of the column-major pixel stream, merging equal neighbours:
// the stream starts with a false run (possibly empty), as the reference's
// mask_to_rle_pytorch does.
class RunBuilder {
 public:
  explicit RunBuilder(std::vector<uint32_t>* counts) : counts_(counts) {}

  void Append(uint8_t value, uint64_t n) {
    if (n == 0) return;
    if (value != current_) Flip();
    run_ += n;
  }
  // `column` holds 0/1 bytes.
  void AppendColumn(const uint8_t* column, size_t n) {
    size_t i = 0;
    while (i < n) {
      const size_t j = i + FindFirstNotEqual(column + i, n - i, current_);
      run_ += j - i;
      if (j < n) Flip();
      i = j;
    }
  }
  void Finish() { counts_->push_back(static_cast<uint32_t>(run_)); }

 private:
  void Flip() {
    counts_->push_back(static_cast<uint32_t>(run_));
    run_ = 0;
    current_ ^= 1;
  }

  std::vector<uint32_t>* counts_;
  uint8_t current_ = 0;
  uint64_t run_ = 0;
};

}  // namespace

// ref: segment_anything/utils/amg.py mask_to_rle_pytorch (after uncrop_masks)
Rle CropMaskToRle(const uint8_t* crop, int crop_height, int crop_width, int x0, int y0, int height,
                  int width) {
  CheckSize("CropMaskToRle", height, width);
  if (crop_height < 0 || crop_width < 0 || x0 < 0 || y0 < 0 ||
      static_cast<int64_t>(x0) + crop_width > width ||
      static_cast<int64_t>(y0) + crop_height > height) {
    throw Error("CropMaskToRle: crop " + std::to_string(crop_height) + " x " +
                std::to_string(crop_width) + " at (x0 " + std::to_string(x0) + ", y0 " +
                std::to_string(y0) + ") must lie inside the " + std::to_string(height) + " x " +
                std::to_string(width) + " mask");
  }
  Rle rle;
  rle.height = height;
  rle.width = width;
  RunBuilder runs(&rle.counts);
  const uint64_t h = static_cast<uint64_t>(height);
  const uint64_t below = static_cast<uint64_t>(height - y0 - crop_height);
  runs.Append(0, h * static_cast<uint64_t>(x0));  // columns left of the crop
  std::vector<uint8_t> tile(static_cast<size_t>(kTileColumns) * crop_height);
  for (int c0 = 0; c0 < crop_width; c0 += kTileColumns) {
    const int nc = std::min(kTileColumns, crop_width - c0);
    // Transpose crop columns c0 .. c0 + nc into `tile`, normalised to 0/1.
    for (int y = 0; y < crop_height; ++y) {
      const uint8_t* row = crop + static_cast<size_t>(y) * crop_width + c0;
      uint8_t* out = tile.data() + y;
      for (int c = 0; c < nc; ++c) out[static_cast<size_t>(c) * crop_height] = row[c] != 0;
    }
    for (int c = 0; c < nc; ++c) {
      runs.Append(0, static_cast<uint64_t>(y0));
      runs.AppendColumn(tile.data() + static_cast<size_t>(c) * crop_height,
                        static_cast<size_t>(crop_height));
      runs.Append(0, below);
    }
  }
  runs.Append(0, h * static_cast<uint64_t>(width - x0 - crop_width));  // columns right of it
  runs.Finish();
  return rle;
}

// ref: segment_anything/utils/amg.py mask_to_rle_pytorch
Rle MaskToRle(const uint8_t* mask, int height, int width) {
  return CropMaskToRle(mask, height, width, 0, 0, height, width);
}

// ref: segment_anything/utils/amg.py rle_to_mask
std::vector<uint8_t> RleToMask(const Rle& rle) {
  CheckSize("RleToMask", rle.height, rle.width);
  const size_t h = static_cast<size_t>(rle.height), w = static_cast<size_t>(rle.width);
  uint64_t sum = 0;
  for (const uint32_t c : rle.counts) sum += c;
  if (sum != static_cast<uint64_t>(h) * w) {
    throw Error("RleToMask: counts sum to " + std::to_string(sum) +
                ", expected height * width = " + std::to_string(h) + " * " + std::to_string(w));
  }
  // Decode column-major (runs are contiguous there), then transpose in tiles.
  std::vector<uint8_t> column_major(h * w, 0);
  size_t pos = 0;
  for (size_t i = 0; i < rle.counts.size(); ++i) {
    if (i % 2 == 1) std::memset(column_major.data() + pos, 1, rle.counts[i]);
    pos += rle.counts[i];
  }
  std::vector<uint8_t> mask(h * w);
  for (size_t c0 = 0; c0 < w; c0 += kTileColumns) {
    const size_t nc = std::min<size_t>(kTileColumns, w - c0);
    for (size_t y = 0; y < h; ++y) {
      uint8_t* row = mask.data() + y * w + c0;
      const uint8_t* in = column_major.data() + c0 * h + y;
      for (size_t c = 0; c < nc; ++c) row[c] = in[c * h];
    }
  }
  return mask;
}

// ref: segment_anything/utils/amg.py area_from_rle
int64_t RleArea(const Rle& rle) {
  int64_t area = 0;
  for (size_t i = 1; i < rle.counts.size(); i += 2) area += rle.counts[i];
  return area;
}

// ref: pycocotools/common/maskApi.c rleToString
std::string RleToCocoString(const Rle& rle) {
  std::string s;
  s.reserve(rle.counts.size() * 2);
  const std::vector<uint32_t>& cnts = rle.counts;
  for (size_t i = 0; i < cnts.size(); ++i) {
    // maskApi.c: `if(i>2) x-=(long) cnts[i-2];` -- from the fourth count on.
    int64_t x = cnts[i];
    if (i > 2) x -= static_cast<int64_t>(cnts[i - 2]);
    bool more = true;
    while (more) {
      char c = static_cast<char>(x & 0x1f);
      x >>= 5;  // arithmetic shift, as `long >>= 5` in the C code
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(static_cast<char>(c + 48));
    }
  }
  return s;
}

// ref: pycocotools/common/maskApi.c rleFrString
Rle CocoStringToRle(const std::string& counts, int height, int width) {
  CheckSize("CocoStringToRle", height, width);
  Rle rle;
  rle.height = height;
  rle.width = width;
  size_t p = 0;
  const size_t n = counts.size();
  while (p < n) {
    const size_t start = p;
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= n) {
        throw Error("CocoStringToRle: string ends inside the count starting at offset " +
                    std::to_string(start));
      }
      const int c = static_cast<unsigned char>(counts[p]) - 48;
      if (c < 0 || c > 0x3f) {
        throw Error("CocoStringToRle: character " + std::to_string(counts[p] + 0) + " at offset " +
                    std::to_string(p) + " is outside '0'..'o'");
      }
      // 7 groups carry 35 bits, enough for any difference of two uint32_t.
      if (k == 7) {
        throw Error("CocoStringToRle: count starting at offset " + std::to_string(start) +
                    " has more than 7 groups");
      }
      x |= static_cast<int64_t>(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= static_cast<int64_t>(~uint64_t{0} << (5 * k));  // sign-extend
    }
    const size_t m = rle.counts.size();
    if (m > 2) x += rle.counts[m - 2];
    if (x < 0 || x > std::numeric_limits<uint32_t>::max()) {
      throw Error("CocoStringToRle: count " + std::to_string(m) + " (offset " +
                  std::to_string(start) + ") decodes to " + std::to_string(x) +
                  ", outside 0..2^32-1");
    }
    rle.counts.push_back(static_cast<uint32_t>(x));
  }
  uint64_t sum = 0;
  for (const uint32_t c : rle.counts) sum += c;
  if (sum != static_cast<uint64_t>(height) * static_cast<uint64_t>(width)) {
    throw Error("CocoStringToRle: counts sum to " + std::to_string(sum) +
                ", expected height * width = " + std::to_string(height) + " * " +
                std::to_string(width));
  }
  return rle;
}

}  // namespace persam::amg
