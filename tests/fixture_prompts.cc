#include "tests/fixture_prompts.h"

namespace persam::testing {

Prompt PromptFromJson(const JsonValue& recorded) {
  Prompt prompt;
  if (const JsonValue* coords = recorded.Find("point_coords"); coords != nullptr && !coords->IsNull()) {
    const auto& labels = recorded.At("point_labels").Items();
    for (size_t i = 0; i < coords->size(); ++i) {
      const auto& xy = coords->Items()[i].Items();
      prompt.points.push_back({xy[0].AsDouble(), xy[1].AsDouble(), static_cast<int>(labels[i].AsInt64())});
    }
  }
  if (const JsonValue* box = recorded.Find("box"); box != nullptr && !box->IsNull()) {
    const auto& b = box->Items();
    prompt.box = BoxPrompt{b[0].AsDouble(), b[1].AsDouble(), b[2].AsDouble(), b[3].AsDouble()};
  }
  prompt.multimask = recorded.At("multimask_output").AsBool();
  return prompt;
}

}  // namespace persam::testing
