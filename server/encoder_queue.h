// Uploaded images and their embeddings: the image encoder runs on one
// background thread, one image at a time (a single encoder call already uses
// every engine thread; two at once would only contend), in upload order.
// Requests wait on an image's state with a timeout.
#ifndef PERSAM_SERVER_ENCODER_QUEUE_H_
#define PERSAM_SERVER_ENCODER_QUEUE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/image.h"
#include "engine/sam_model.h"

namespace persam::server {

enum class ImageState { kQueued, kEncoding, kReady, kFailed };
const char* ImageStateName(ImageState state);

struct StoredImage {
  std::string id;
  RgbImage image;
  // Written by the encoder thread under EncoderQueue's mutex; once state is
  // kReady the embedding is never written again, so readers that saw kReady
  // read it without the lock. Atomic so that the cache can read it lock-free.
  std::atomic<ImageState> state{ImageState::kQueued};
  std::string error;
  ImageEmbedding embedding;
  double encode_seconds = 0;
};

class EncoderQueue {
 public:
  // `threads`: the engine threads of each encoder call (<= 0: all cores).
  // `encoded(image)` runs on the encoder thread after each image (ready or
  // failed), before waiters wake.
  EncoderQueue(const SamModel& model, int threads, std::function<void(const StoredImage&)> encoded = nullptr);
  ~EncoderQueue();  // finishes the running encode, drops the queue

  // Images waiting (not counting the one being encoded).
  size_t Queued();
  void Submit(std::shared_ptr<StoredImage> image);
  // The state after waiting up to `timeout` for the image to leave the
  // queue (kReady or kFailed), with *error set for kFailed.
  ImageState Wait(const StoredImage& image, std::chrono::milliseconds timeout, std::string* error);
  ImageState State(const StoredImage& image, std::string* error, int* queue_position);
  void Stop();

 private:
  void Loop();

  const SamModel& model_;
  const int threads_;
  const std::function<void(const StoredImage&)> encoded_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<StoredImage>> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace persam::server

#endif  // PERSAM_SERVER_ENCODER_QUEUE_H_
