#include "server/encoder_queue.h"

#include <chrono>
#include <exception>

#include "kernels/parallel.h"

namespace persam::server {

const char* ImageStateName(ImageState state) {
  switch (state) {
    case ImageState::kQueued: return "queued";
    case ImageState::kEncoding: return "encoding";
    case ImageState::kReady: return "ready";
    case ImageState::kFailed: return "failed";
  }
  return "unknown";
}

EncoderQueue::EncoderQueue(const SamModel& model, int threads, std::function<void(const StoredImage&)> encoded)
    : model_(model), threads_(threads), encoded_(std::move(encoded)), worker_([this] { Loop(); }) {}

EncoderQueue::~EncoderQueue() { Stop(); }

void EncoderQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
}

size_t EncoderQueue::Queued() {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void EncoderQueue::Submit(std::shared_ptr<StoredImage> image) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(image));
  }
  changed_.notify_all();
}

ImageState EncoderQueue::Wait(const StoredImage& image, std::chrono::milliseconds timeout, std::string* error) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_for(lock, timeout, [&] {
    return stopping_ || image.state == ImageState::kReady || image.state == ImageState::kFailed;
  });
  if (image.state == ImageState::kFailed && error != nullptr) *error = image.error;
  return image.state;
}

ImageState EncoderQueue::State(const StoredImage& image, std::string* error, int* queue_position) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (error != nullptr) *error = image.error;
  if (queue_position != nullptr) {
    *queue_position = 0;
    for (size_t i = 0; i < queue_.size(); ++i) {
      if (queue_[i].get() == &image) *queue_position = static_cast<int>(i) + 1;
    }
  }
  return image.state;
}

void EncoderQueue::Loop() {
  // The OpenMP thread count is per thread: set it on this one.
  kernels::SetNumThreads(threads_);
  while (true) {
    std::shared_ptr<StoredImage> image;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      image = std::move(queue_.front());
      queue_.pop_front();
      image->state = ImageState::kEncoding;
    }
    changed_.notify_all();
    ImageEmbedding embedding;
    std::string error;
    const auto start = std::chrono::steady_clock::now();
    try {
      embedding = model_.EncodeImage(image->image);
    } catch (const std::exception& e) {
      error = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      image->encode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (error.empty()) {
        image->embedding = std::move(embedding);
        image->state = ImageState::kReady;
      } else {
        image->error = "encoding failed: " + error;
        image->state = ImageState::kFailed;
      }
    }
    if (encoded_) encoded_(*image);
    changed_.notify_all();
  }
}

}  // namespace persam::server
