// `persam learn`: a concept file from a reference image and mask (concepts/).
#include <string>
#include <vector>

#include "base/error.h"
#include "concepts/learn.h"
#include "concepts/model_identity.h"
#include "engine/sam_model.h"
#include "tools/cli.h"
#include "tools/precision_option.h"

namespace persam::cli {
namespace {

int RunLearn(const Args& args) {
  const std::string model_path = args.Required("model");
  const std::string out = args.Required("out");
  const std::vector<std::string> images = args.Values("ref-image"), masks = args.Values("ref-mask");
  if (images.empty() || images.size() != masks.size()) {
    throw UsageError{"give --ref-image IMG --ref-mask MASK (one --ref-mask per --ref-image)"};
  }
  if (!args.positionals().empty()) throw UsageError{"unexpected argument '" + args.positionals()[0] + "'"};
  std::vector<ReferenceInput> references;
  for (size_t i = 0; i < images.size(); ++i) references.push_back({images[i], masks[i]});
  PersonalizeOptions options;
  options.finetune = args.Flag("finetune");

  Progress(args, "loading " + model_path);
  const std::unique_ptr<SamModel> model = SamModel::Load(model_path, ModelLoadOptions(args));
  const ConceptModelIdentity identity = IdentifyModel(model_path, *model);
  Progress(args, options.finetune ? "reference + fine-tuning" : "reference");
  LearnResult result;
  try {
    result = LearnConcept(*model, identity, references, options);
  } catch (...) {
    EndProgress(args);
    throw;
  }
  EndProgress(args);
  WriteConcept(out, result.learned);
  for (const ReferenceSummary& s : result.summaries) {
    for (const std::string& w : s.warnings) Say(args, "warning: %s\n", w.c_str());
  }
  const Concept& c = result.learned;
  Say(args, "%s: learned a %s concept from %zu reference(s) with %s\n", out.c_str(), c.method(),
      c.references.size(), identity.Describe().c_str());
  if (c.finetune) Say(args, "  mask weights %.6f %.6f %.6f\n", c.mask_weights[0], c.mask_weights[1], c.mask_weights[2]);
  return 0;
}

}  // namespace

extern const Command kLearnCommand = {
    "learn",
    "learn a concept (\"my dog\") from a reference image and mask into a file",
    "usage: persam learn --model M --ref-image IMG --ref-mask MASK [--ref-image IMG2 --ref-mask MASK2 ...]\n"
    "                    [--finetune] --out NAME.concept\n\n"
    "Runs PerSAM's reference step (with --finetune PerSAM-F's, training the\n"
    "three mask weights) and keeps what 'persam find' needs to segment the\n"
    "concept in other photos: the target features, the PerSAM-F weights, the\n"
    "reference's own similarity inside its mask (the scale of find's\n"
    "'similarity'), and the model's identity (architecture, weights hash,\n"
    "precision). 'persam inspect NAME.concept' describes the file.\n\n"
    "Several references (--ref-image/--ref-mask pairs, in order) are fused:\n"
    "the features pool the masked cells of all of them, and PerSAM-F trains one\n"
    "pair of weights on the sum of their losses. One reference is exactly\n"
    "'persam personalize''s reference step.\n\n"
    "  --model M         SAM checkpoint (.pth / .safetensors)\n"
    "  --ref-image IMG   reference image (repeat for several)\n"
    "  --ref-mask MASK   its mask (any non-zero pixel is foreground), same size\n"
    "  --finetune        PerSAM-F (1000 AdamW steps on the reference)\n"
    "  --out FILE        the concept file to write (safetensors)\n"
    PERSAM_PRECISION_HELP,
    {"model", "ref-image", "ref-mask", "out", kPrecisionOptionName},
    {"finetune"},
    RunLearn,
};

}  // namespace persam::cli
