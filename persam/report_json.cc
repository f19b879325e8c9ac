#include "persam/report_json.h"

#include <utility>

namespace persam {

JsonValue PointJson(const PointPrompt& p) {
  return JsonValue::Object({{"x", JsonValue::Number(p.x)}, {"y", JsonValue::Number(p.y)},
                            {"label", JsonValue::Integer(p.label)}});
}

JsonValue TimingsJson(const StageTimings& timings) {
  std::vector<std::pair<std::string, JsonValue>> members;
  for (const auto& [name, seconds] : timings.entries()) members.emplace_back(name, JsonValue::Number(seconds));
  return JsonValue::Object(std::move(members));
}

JsonValue StringsJson(const std::vector<std::string>& strings) {
  std::vector<JsonValue> items;
  for (const auto& s : strings) items.push_back(JsonValue::String(s));
  return JsonValue::Array(std::move(items));
}

JsonValue SizeJson(int height, int width) {
  return JsonValue::Array({JsonValue::Integer(height), JsonValue::Integer(width)});
}

JsonValue ReferenceJson(const ReferenceSummary& ref) {
  std::vector<std::pair<std::string, JsonValue>> m = {
      {"size", SizeJson(ref.height, ref.width)},
      {"selected_cells", JsonValue::Integer(ref.selected_cells)},
      {"cell_fallback", JsonValue::Bool(ref.cell_fallback)},
      {"warnings", StringsJson(ref.warnings)},
  };
  if (ref.training) {
    std::vector<JsonValue> log;
    for (const MaskWeightsLogEntry& e : ref.training->log) {
      log.push_back(JsonValue::Object({{"step", JsonValue::Integer(e.step)},
                                       {"lr", JsonValue::Number(e.lr)},
                                       {"dice", JsonValue::Number(e.dice)},
                                       {"focal", JsonValue::Number(e.focal)}}));
    }
    m.emplace_back("training_point", PointJson(*ref.training_point));
    m.emplace_back("mask_weights", NumbersJson(ref.training->weights.data(), 3));
    m.emplace_back("log", JsonValue::Array(std::move(log)));
  }
  m.emplace_back("timings", TimingsJson(ref.timings));
  return JsonValue::Object(std::move(m));
}

JsonValue StepJson(const DecoderStep& s) {
  JsonValue box = JsonValue::Null();
  if (s.box) {
    box = JsonValue::Array({JsonValue::Number(s.box->x0), JsonValue::Number(s.box->y0),
                            JsonValue::Number(s.box->x1), JsonValue::Number(s.box->y1)});
  }
  std::vector<JsonValue> points;
  for (const PointPrompt& p : s.points) points.push_back(PointJson(p));
  return JsonValue::Object({
      {"points", JsonValue::Array(std::move(points))},
      {"box", std::move(box)},
      {"has_mask_input", JsonValue::Bool(s.has_mask_input)},
      {"multimask", JsonValue::Bool(s.multimask)},
      {"scores", NumbersJson(s.scores.data(), s.scores.size())},
      {"chosen", JsonValue::Integer(s.chosen)},
      {"chosen_mask_area", JsonValue::Integer(s.chosen_mask_area)},
  });
}

JsonValue PointsJson(const std::vector<PointPrompt>& points) {
  std::vector<JsonValue> items;
  for (const PointPrompt& p : points) items.push_back(PointJson(p));
  return JsonValue::Array(std::move(items));
}

}  // namespace persam
