#include "engine/huge_page_buffer.h"

#include <cstdlib>
#include <new>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace persam {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

HugePageBuffer::~HugePageBuffer() { std::free(data_); }

void HugePageBuffer::Reserve(size_t count) {
  if (count <= size_) return;
  std::free(data_);
  data_ = nullptr;
  size_ = 0;
  // aligned_alloc wants a multiple of the alignment.
  const size_t bytes = (count * sizeof(float) + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, bytes);
  if (p == nullptr) throw std::bad_alloc();
#ifdef __linux__
  // Advice only: without THP the buffer keeps 4 KiB pages.
  (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
  data_ = static_cast<float*>(p);
  size_ = count;
}

}  // namespace persam
