// IdentifyModel (concepts/model_identity.h): apart from the hashing, so that
// the concept reader (and its fuzz target) does not link the engine.
#include <filesystem>

#include "concepts/model_identity.h"
#include "weights/checkpoint.h"

namespace persam {

ConceptModelIdentity IdentifyModel(const std::string& model_path, const SamModel& model) {
  ConceptModelIdentity id;
  id.architecture = ArchitectureName(model.config().encoder);
  id.weights_hash = WeightsHash(ReadCheckpoint(model_path).tensors);
  id.precision = PrecisionName(model.precision());
  id.file = std::filesystem::path(model_path).filename().string();
  return id;
}

}  // namespace persam
