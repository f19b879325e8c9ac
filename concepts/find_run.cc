#include "concepts/find_run.h"

#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "base/error.h"

namespace persam {
namespace {

// What can be done for an image before its encoder runs.
struct Loaded {
  RgbImage image;
  std::string key;                      // cache key ("" without a cache)
  std::optional<ImageEmbedding> cached;
  StageTimings timings;
};

Loaded Load(const TargetImage& target, const EmbeddingCache* cache) {
  Loaded l;
  ScopedStage stage(&l.timings, "decode");
  l.image = LoadImage(target.path);
  if (cache) {
    l.key = cache->Key(target.path);
    l.cached = cache->Find(l.key, l.image.height, l.image.width);
  }
  return l;
}

}  // namespace

FindRunSummary RunFindOverTargets(const SamModel& model, const Finder& finder, EmbeddingCache* cache,
                                  const std::vector<TargetImage>& targets, const std::string& out_dir,
                                  const FindRunOptions& options, const FindProgress& progress) {
  FindRunSummary summary;
  const std::string results_path = out_dir + "/results.jsonl";
  const std::set<std::string> done =
      options.resume ? KeepFinishedResults(results_path, targets) : std::set<std::string>();
  summary.already_done = static_cast<int>(done.size());
  std::ofstream results(results_path, std::ios::binary | (done.empty() ? std::ios::trunc : std::ios::app));
  if (!results) throw Error("cannot write '" + results_path + "'");
  std::vector<const TargetImage*> todo;
  for (const TargetImage& t : targets) {
    if (!done.count(t.name)) todo.push_back(&t);
  }
  // The decode of image i + 1 runs while image i is encoded (the encoder's
  // threads leave the decoder's single thread little to contend with).
  const auto start_load = [&](size_t i) {
    return std::async(std::launch::async, Load, std::cref(*todo[i]), static_cast<const EmbeddingCache*>(cache));
  };
  // Likewise image i's outputs (PNG and JPEG encoding, one thread) are
  // written while image i + 1 is found; results.jsonl keeps the images'
  // order, and an image's counts and warnings are taken once its outputs
  // are written, as before.
  struct Pending {
    const TargetImage* target = nullptr;
    std::future<std::string> json;
    double output_seconds = 0;  // written by the task before `json` is ready
    int present = 0, instances = 0;
    std::vector<std::string> warnings;
  };
  std::unique_ptr<Pending> pending;
  const auto write_line = [&](const std::string& json) {
    results << json << '\n';
    results.flush();
    if (!results) throw Error("cannot write '" + results_path + "'");
    ++summary.processed;
  };
  // Image i - 1's line; throws its output error without keep_going.
  const auto finish_pending = [&]() {
    if (!pending) return;
    std::unique_ptr<Pending> p = std::move(pending);
    std::string json;
    try {
      json = p->json.get();
      summary.totals.Add("output", p->output_seconds);
      summary.present += p->present;
      summary.instances += p->instances;
      for (const std::string& w : p->warnings) summary.warnings.push_back(p->target->path + ": " + w);
    } catch (const Error& e) {
      if (!options.keep_going) throw;
      json = FindErrorJson(*p->target, e.what());
      summary.failed.push_back(e.what());
    }
    write_line(json);
  };
  std::future<Loaded> next;
  if (!todo.empty()) next = start_load(0);
  for (size_t i = 0; i < todo.size(); ++i) {
    const TargetImage& target = *todo[i];
    if (progress) progress(i, todo.size(), target.path);
    std::future<Loaded> current = std::move(next);
    if (i + 1 < todo.size()) next = start_load(i + 1);
    RgbImage image;
    std::optional<FindResult> found;
    std::string error_json;
    try {
      Loaded loaded = current.get();
      for (const auto& [name, seconds] : loaded.timings.entries()) summary.totals.Add(name, seconds);
      ImageEmbedding embedding;
      if (loaded.cached) {
        embedding = std::move(*loaded.cached);
        ++summary.cached;
      } else {
        ScopedStage stage(&summary.totals, "encoder");
        embedding = model.EncodeImage(loaded.image, nullptr);
        if (cache) cache->Store(loaded.key, embedding);
      }
      found = finder.Find(embedding, options.find);
      for (const auto& [name, seconds] : found->timings.entries()) summary.totals.Add(name, seconds);
      image = std::move(loaded.image);
    } catch (const Error& e) {
      if (!options.keep_going) {
        finish_pending();  // the images before this one are complete
        throw;             // (`next` is joined on the way out)
      }
      error_json = FindErrorJson(target, e.what());
      summary.failed.push_back(e.what());
    }
    // The previous image's outputs are done before this one's start: a run
    // stopped by an output error writes nothing for the images after it.
    finish_pending();
    if (!found) {
      write_line(error_json);
      continue;
    }
    pending = std::make_unique<Pending>();
    Pending* p = pending.get();
    p->target = &target;
    p->present = found->present;
    p->instances = static_cast<int>(found->instances.size());
    p->warnings = found->warnings;
    p->json = std::async(std::launch::async,
                         [&out_dir, &options, p, image = std::move(image), result = std::move(*found)] {
                           StageTimings t;
                           std::string json;
                           {
                             ScopedStage stage(&t, "output");
                             json = WriteFindOutputs(out_dir, *p->target, image, result, options.outputs);
                           }
                           p->output_seconds = t.Total();
                           return json;
                         });
  }
  finish_pending();
  return summary;
}

}  // namespace persam
