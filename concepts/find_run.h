// The loop of `persam find` over its targets: decode (the next image is
// decoded, hashed and looked up in the cache on a second thread while the
// current one is encoded), encoder or cache, Finder, outputs, one line of
// results.jsonl per image; --keep-going and --resume. The CLI adds options,
// the progress line and the summary; benchmarks run the same loop.
#ifndef PERSAM_CONCEPTS_FIND_RUN_H_
#define PERSAM_CONCEPTS_FIND_RUN_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "concepts/embedding_cache.h"
#include "concepts/find_outputs.h"
#include "concepts/finder.h"
#include "concepts/target_list.h"
#include "engine/sam_model.h"
#include "engine/timing.h"

namespace persam {

struct FindRunOptions {
  FindOptions find;
  FindOutputOptions outputs;
  bool keep_going = false;  // an image that fails gets an "error" line; the rest is processed
  bool resume = false;      // keep results.jsonl's finished lines, skip those images
};

struct FindRunSummary {
  int processed = 0, present = 0, instances = 0, cached = 0, already_done = 0;
  std::vector<std::string> failed;    // --keep-going: the errors
  std::vector<std::string> warnings;  // "path: warning"
  StageTimings totals;                // decode, encoder (or cache), similarity, decoder..., output
};

// Before image done + 1 of total (the images this run processes): its path.
using FindProgress = std::function<void(size_t done, size_t total, const std::string& path)>;

// Writes out_dir/results.jsonl and the per-image files (find_outputs.h).
// `cache` may be null. Without keep_going the first failing image stops the
// run with its error, nothing written for it.
FindRunSummary RunFindOverTargets(const SamModel& model, const Finder& finder, EmbeddingCache* cache,
                                  const std::vector<TargetImage>& targets, const std::string& out_dir,
                                  const FindRunOptions& options, const FindProgress& progress = nullptr);

}  // namespace persam

#endif  // PERSAM_CONCEPTS_FIND_RUN_H_
