// Prompts recorded in the fixtures' manifest.json (the `vit_predictor` /
// `tinyvit_predictor` prompt cases and the PerSAM steps) as engine Prompts.
#ifndef PERSAM_TESTS_FIXTURE_PROMPTS_H_
#define PERSAM_TESTS_FIXTURE_PROMPTS_H_

#include "engine/sam_model.h"
#include "weights/json.h"

namespace persam::testing {

// point_coords + point_labels (absent or null: none), box (absent or null:
// none) and multimask_output; the mask input is left to the caller.
Prompt PromptFromJson(const JsonValue& recorded);

}  // namespace persam::testing

#endif  // PERSAM_TESTS_FIXTURE_PROMPTS_H_
