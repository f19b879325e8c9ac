#include "concepts/find_run.h"

#include <fstream>
#include <future>
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
  std::future<Loaded> next;
  if (!todo.empty()) next = start_load(0);
  for (size_t i = 0; i < todo.size(); ++i) {
    const TargetImage& target = *todo[i];
    if (progress) progress(i, todo.size(), target.path);
    std::future<Loaded> current = std::move(next);
    if (i + 1 < todo.size()) next = start_load(i + 1);
    std::string json;
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
      const FindResult result = finder.Find(embedding, options.find);
      for (const auto& [name, seconds] : result.timings.entries()) summary.totals.Add(name, seconds);
      ScopedStage stage(&summary.totals, "output");
      json = WriteFindOutputs(out_dir, target, loaded.image, result, options.outputs);
      summary.present += result.present;
      summary.instances += static_cast<int>(result.instances.size());
      for (const std::string& w : result.warnings) summary.warnings.push_back(target.path + ": " + w);
    } catch (const Error& e) {
      if (!options.keep_going) {
        if (next.valid()) next.wait();  // no thread outlives the run
        throw;
      }
      json = FindErrorJson(target, e.what());
      summary.failed.push_back(e.what());
    }
    results << json << '\n';
    results.flush();
    if (!results) throw Error("cannot write '" + results_path + "'");
    ++summary.processed;
  }
  return summary;
}

}  // namespace persam
