// The JSON pieces the `personalize` reports share (--report): points,
// sizes, timings, a reference's summary, one decoder call.
#ifndef PERSAM_PERSAM_REPORT_JSON_H_
#define PERSAM_PERSAM_REPORT_JSON_H_

#include <string>
#include <vector>

#include "engine/timing.h"
#include "persam/personalizer.h"
#include "weights/json.h"

namespace persam {

template <class T>
JsonValue NumbersJson(const T* values, size_t n) {
  std::vector<JsonValue> items;
  for (size_t i = 0; i < n; ++i) items.push_back(JsonValue::Number(static_cast<double>(values[i])));
  return JsonValue::Array(std::move(items));
}

JsonValue PointJson(const PointPrompt& p);
JsonValue PointsJson(const std::vector<PointPrompt>& points);
JsonValue TimingsJson(const StageTimings& timings);
JsonValue StringsJson(const std::vector<std::string>& strings);
JsonValue SizeJson(int height, int width);
// Size, selected cells, warnings; with PerSAM-F the training point, weights and loss log.
JsonValue ReferenceJson(const ReferenceSummary& ref);
// Points, box, mask input or not, scores, chosen index and its area.
JsonValue StepJson(const DecoderStep& s);

}  // namespace persam

#endif  // PERSAM_PERSAM_REPORT_JSON_H_
