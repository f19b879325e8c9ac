#include "tools/inspect_concept.h"

#include <utility>
#include <vector>

#include "concepts/concept_file.h"
#include "weights/json.h"

namespace persam::cli {

int InspectConcept(const Args& args, const std::string& path) {
  const Concept c = ReadConcept(path);
  if (args.Flag("json")) {
    std::vector<JsonValue> refs;
    for (const ConceptReference& r : c.references) {
      refs.push_back(JsonValue::Object({{"image", JsonValue::String(r.image)},
                                        {"mask", JsonValue::String(r.mask)},
                                        {"size", JsonValue::Array({JsonValue::Integer(r.height),
                                                                   JsonValue::Integer(r.width)})},
                                        {"peak_similarity", JsonValue::Number(r.peak_similarity)},
                                        {"mean_similarity", JsonValue::Number(r.mean_similarity)}}));
    }
    std::vector<std::pair<std::string, JsonValue>> doc = {
        {"file", JsonValue::String(path)},
        {"format", JsonValue::String("persam-concept")},
        {"format_version", JsonValue::Integer(c.format_version)},
        {"method", JsonValue::String(c.method())},
        {"model", JsonValue::Object({{"architecture", JsonValue::String(c.model.architecture)},
                                     {"weights_hash", JsonValue::String(c.model.weights_hash)},
                                     {"precision", JsonValue::String(c.model.precision)},
                                     {"file", JsonValue::String(c.model.file)}})},
        {"channels", JsonValue::Integer(static_cast<int64_t>(c.target.feat.size()))},
        {"references", JsonValue::Array(std::move(refs))},
    };
    if (c.finetune) {
      doc.emplace_back("mask_weights", JsonValue::Array({JsonValue::Number(c.mask_weights[0]),
                                                         JsonValue::Number(c.mask_weights[1]),
                                                         JsonValue::Number(c.mask_weights[2])}));
      doc.emplace_back("train_steps", JsonValue::Integer(c.training.steps));
      doc.emplace_back("train_lr", JsonValue::Number(c.training.lr));
    }
    Say(args, "%s\n", WriteJson(JsonValue::Object(std::move(doc))).c_str());
    return 0;
  }
  Say(args, "file:          %s\n", path.c_str());
  Say(args, "format:        persam concept, version %d\n", c.format_version);
  Say(args, "method:        %s\n", c.finetune ? "PerSAM-F (persam_f)" : "PerSAM (persam)");
  Say(args, "model:         %s\n", c.model.Describe().c_str());
  Say(args, "features:      %zu channels\n", c.target.feat.size());
  if (c.finetune) {
    Say(args, "mask weights:  %.6f %.6f %.6f (%d steps, lr %g)\n", c.mask_weights[0], c.mask_weights[1],
        c.mask_weights[2], c.training.steps, c.training.lr);
  }
  for (size_t i = 0; i < c.references.size(); ++i) {
    const ConceptReference& r = c.references[i];
    Say(args, "reference %zu:   %s (mask %s), %dx%d, in-mask similarity peak %.4f mean %.4f\n", i + 1,
        r.image.c_str(), r.mask.c_str(), r.width, r.height, r.peak_similarity, r.mean_similarity);
  }
  return 0;
}

}  // namespace persam::cli
