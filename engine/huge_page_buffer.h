// A float buffer backed by 2 MiB transparent huge pages where the kernel
// allows it (Linux, THP in "madvise" mode or "always").
// The mask decoder's image sweeps stream ~4 MB arrays (positional encoding,
// image tokens) one 128 KiB block at a time: with 4 KiB pages every block
// spans 32 pages, and the hardware prefetchers, which stop at page
// boundaries, restart on each. On huge pages the transformer stage's
// median went from ~8.4 to ~8.0 ms (decoder/point, 2 threads, A/B in one
// loop on a shared, noisy machine).
#ifndef PERSAM_ENGINE_HUGE_PAGE_BUFFER_H_
#define PERSAM_ENGINE_HUGE_PAGE_BUFFER_H_

#include <cstddef>

namespace persam {

class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  ~HugePageBuffer();

  // Makes room for `count` floats; grows only, and growing discards the
  // contents (callers overwrite the buffer).
  void Reserve(size_t count);

  float* data() { return data_; }
  // Floats reserved (at least the last Reserve count).
  const float* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace persam

#endif  // PERSAM_ENGINE_HUGE_PAGE_BUFFER_H_
