// A byte-capped least-recently-used map from id to shared, immutable-ish
// entries. Entries are shared_ptrs, so a request that holds one keeps it
// alive after an eviction; the cap bounds what the cache itself keeps.
#ifndef PERSAM_SERVER_LRU_CACHE_H_
#define PERSAM_SERVER_LRU_CACHE_H_

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace persam::server {

template <class T>
class LruCache {
 public:
  // `pinned(entry)`: entries that must not be evicted yet (e.g. images still
  // waiting for the encoder, which their client has not used once).
  explicit LruCache(size_t capacity_bytes, std::function<bool(const T&)> pinned = nullptr)
      : capacity_(capacity_bytes), pinned_(std::move(pinned)) {}

  // Evicts least recently used unpinned entries until `bytes` fits (pinned
  // ones may keep the total above the capacity for a while); false (nothing
  // stored, nothing evicted) when `bytes` alone exceeds the capacity.
  bool Put(const std::string& id, std::shared_ptr<T> value, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > capacity_) return false;
    EraseLocked(id);
    for (auto it = order_.end(); bytes_ + bytes > capacity_ && it != order_.begin();) {
      --it;
      const Entry& e = entries_.at(*it);
      if (pinned_ && pinned_(*e.value)) continue;
      const std::string victim = *it;
      it = std::next(it);  // stays valid: only the victim's node is erased
      EraseLocked(victim);
    }
    order_.push_front(id);
    entries_[id] = Entry{std::move(value), bytes, order_.begin()};
    bytes_ += bytes;
    return true;
  }

  // The entry (marked most recently used), or null.
  std::shared_ptr<T> Get(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second.position);
    return it->second.value;
  }

  bool Erase(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return EraseLocked(id);
  }

  size_t bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytes_;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    std::shared_ptr<T> value;
    size_t bytes = 0;
    typename std::list<std::string>::iterator position;
  };

  bool EraseLocked(const std::string& id) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    bytes_ -= it->second.bytes;
    order_.erase(it->second.position);
    entries_.erase(it);
    return true;
  }

  const size_t capacity_;
  const std::function<bool(const T&)> pinned_;
  mutable std::mutex mutex_;
  std::list<std::string> order_;  // most recent first
  std::unordered_map<std::string, Entry> entries_;
  size_t bytes_ = 0;
};

}  // namespace persam::server

#endif  // PERSAM_SERVER_LRU_CACHE_H_
