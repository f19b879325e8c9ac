#include "server/request.h"

#include <cmath>
#include <set>

#include "base/error.h"
#include "weights/json.h"

namespace persam::server {
namespace {

[[noreturn]] void Bad(const std::string& message) { throw RequestError(400, message); }

JsonValue ParseBody(const char* body, size_t size) {
  if (size == 0) Bad("empty request body: expected a JSON object");
  try {
    JsonValue value = ParseJson(body, size, "request body");
    if (!value.IsObject()) Bad("request body: expected a JSON object");
    return value;
  } catch (const Error& e) {
    Bad(e.what());
  }
}

// Unknown members are refused: a misspelt "multimask" must not be ignored.
void CheckMembers(const JsonValue& object, const std::string& where, const std::set<std::string>& allowed) {
  for (const auto& [key, value] : object.Members()) {
    if (allowed.count(key) == 0) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Bad(where + ": unknown member '" + key + "' (expected " + list + ")");
    }
  }
}

double FiniteNumber(const JsonValue& v, const std::string& field) {
  if (!v.IsNumber()) Bad(field + ": expected a number");
  const double d = v.AsDouble();
  if (!std::isfinite(d)) Bad(field + ": expected a finite number");
  return d;
}

bool Boolean(const JsonValue& v, const std::string& field) {
  if (!v.IsBool()) Bad(field + ": expected true or false");
  return v.AsBool();
}

int SmallInteger(const JsonValue& v, const std::string& field, int lo, int hi) {
  if (!v.IsInteger() || v.AsInt64() < lo || v.AsInt64() > hi) {
    Bad(field + ": expected an integer in " + std::to_string(lo) + " .. " + std::to_string(hi));
  }
  return static_cast<int>(v.AsInt64());
}

std::string Id(const JsonValue& v, const std::string& field) {
  if (!v.IsString() || !IsWellFormedId(v.AsString())) {
    Bad(field + ": expected an id (32 hex digits) as returned by the server");
  }
  return v.AsString();
}

MaskFormat Format(const JsonValue& v, const std::string& field) {
  if (v.IsString() && v.AsString() == "png") return MaskFormat::kPng;
  if (v.IsString() && v.AsString() == "rle") return MaskFormat::kRle;
  Bad(field + ": expected \"png\" or \"rle\"");
}

MaskInputRef ResultRef(const JsonValue& v, const std::string& field) {
  if (!v.IsObject()) Bad(field + ": expected {\"result\": ID, \"index\": K}");
  CheckMembers(v, field, {"result", "index"});
  const JsonValue* result = v.Find("result");
  if (result == nullptr) Bad(field + ": missing \"result\"");
  MaskInputRef ref;
  ref.result = Id(*result, field + ".result");
  if (const JsonValue* index = v.Find("index")) ref.index = SmallInteger(*index, field + ".index", 0, 15);
  return ref;
}

std::string Size(int height, int width) { return std::to_string(width) + " x " + std::to_string(height); }

PointPrompt Point(const JsonValue& v, const std::string& field, int height, int width) {
  if (!v.IsObject()) Bad(field + ": expected {\"x\": X, \"y\": Y, \"label\": 0|1}");
  CheckMembers(v, field, {"x", "y", "label"});
  const JsonValue* x = v.Find("x");
  const JsonValue* y = v.Find("y");
  if (x == nullptr || y == nullptr) Bad(field + ": needs \"x\" and \"y\"");
  PointPrompt p;
  p.x = FiniteNumber(*x, field + ".x");
  p.y = FiniteNumber(*y, field + ".y");
  if (const JsonValue* label = v.Find("label")) p.label = SmallInteger(*label, field + ".label", 0, 1);
  if (p.x < 0 || p.x >= width || p.y < 0 || p.y >= height) {
    Bad(field + " (" + std::to_string(p.x) + ", " + std::to_string(p.y) + ") is outside the " +
        Size(height, width) + " image");
  }
  return p;
}

BoxPrompt Box(const JsonValue& v, int height, int width) {
  if (!v.IsArray() || v.size() != 4) Bad("box: expected [x0, y0, x1, y1]");
  double c[4];
  for (int i = 0; i < 4; ++i) c[i] = FiniteNumber(v.Items()[i], "box[" + std::to_string(i) + "]");
  const BoxPrompt b{c[0], c[1], c[2], c[3]};
  if (b.x1 < b.x0 || b.y1 < b.y0) Bad("box: needs x0 <= x1 and y0 <= y1");
  if (b.x0 < 0 || b.y0 < 0 || b.x1 > width || b.y1 > height) {
    Bad("box is outside the " + Size(height, width) + " image");
  }
  return b;
}

}  // namespace

PredictRequest ParsePredictRequest(const char* body, size_t size, int height, int width) {
  const JsonValue json = ParseBody(body, size);
  CheckMembers(json, "predict request",
               {"points", "box", "mask_input", "multimask", "format", "return_logits"});
  PredictRequest r;
  if (const JsonValue* points = json.Find("points")) {
    if (!points->IsArray()) Bad("points: expected an array of {\"x\", \"y\", \"label\"}");
    if (points->size() > static_cast<size_t>(kMaxPoints)) {
      Bad("points: at most " + std::to_string(kMaxPoints) + " points");
    }
    for (size_t i = 0; i < points->size(); ++i) {
      r.points.push_back(Point(points->Items()[i], "points[" + std::to_string(i) + "]", height, width));
    }
  }
  if (const JsonValue* box = json.Find("box"); box != nullptr && !box->IsNull()) r.box = Box(*box, height, width);
  if (const JsonValue* m = json.Find("mask_input"); m != nullptr && !m->IsNull()) {
    r.mask_input = ResultRef(*m, "mask_input");
  }
  if (const JsonValue* m = json.Find("multimask")) r.multimask = Boolean(*m, "multimask");
  if (const JsonValue* f = json.Find("format")) r.format = Format(*f, "format");
  if (const JsonValue* l = json.Find("return_logits")) r.return_logits = Boolean(*l, "return_logits");
  if (r.points.empty() && !r.box && !r.mask_input) {
    Bad("predict request: give at least one of \"points\", \"box\" or \"mask_input\"");
  }
  return r;
}

PersonalizeRequest ParsePersonalizeRequest(const char* body, size_t size) {
  const JsonValue json = ParseBody(body, size);
  CheckMembers(json, "personalize request", {"reference", "targets", "method", "format"});
  PersonalizeRequest r;
  const JsonValue* ref = json.Find("reference");
  if (ref == nullptr || !ref->IsObject()) {
    Bad("reference: expected {\"image\": ID, \"mask_png\": BASE64} or {\"image\": ID, \"result\": ID, \"index\": K}");
  }
  CheckMembers(*ref, "reference", {"image", "mask_png", "result", "index"});
  const JsonValue* image = ref->Find("image");
  if (image == nullptr) Bad("reference: missing \"image\"");
  r.reference_image = Id(*image, "reference.image");
  const JsonValue* png = ref->Find("mask_png");
  const JsonValue* result = ref->Find("result");
  if ((png == nullptr) == (result == nullptr)) Bad("reference: give exactly one of \"mask_png\" and \"result\"");
  if (png != nullptr) {
    if (!png->IsString()) Bad("reference.mask_png: expected a base64 string");
    if (ref->Find("index") != nullptr) Bad("reference.index goes with \"result\", not \"mask_png\"");
    r.reference_mask_png = Base64Decode(png->AsString(), "reference.mask_png");
    if (r.reference_mask_png.empty()) Bad("reference.mask_png: empty");
  } else {
    MaskInputRef m;
    m.result = Id(*result, "reference.result");
    if (const JsonValue* index = ref->Find("index")) m.index = SmallInteger(*index, "reference.index", 0, 15);
    r.reference_result = m;
  }
  const JsonValue* targets = json.Find("targets");
  if (targets == nullptr || !targets->IsArray() || targets->size() == 0) {
    Bad("targets: expected a non-empty array of image ids");
  }
  if (targets->size() > static_cast<size_t>(kMaxTargets)) {
    Bad("targets: at most " + std::to_string(kMaxTargets) + " per request");
  }
  for (size_t i = 0; i < targets->size(); ++i) {
    r.targets.push_back(Id(targets->Items()[i], "targets[" + std::to_string(i) + "]"));
  }
  if (const JsonValue* method = json.Find("method")) {
    if (method->IsString() && method->AsString() == "persam") {
      r.finetune = false;
    } else if (method->IsString() && method->AsString() == "persam_f") {
      r.finetune = true;
    } else {
      Bad("method: expected \"persam\" or \"persam_f\"");
    }
  }
  if (const JsonValue* f = json.Find("format")) r.format = Format(*f, "format");
  return r;
}

bool IsWellFormedId(const std::string& id) {
  if (id.size() != static_cast<size_t>(kIdLength)) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string Base64Encode(const uint8_t* data, size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < size) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (i + 1 < size) v |= uint32_t{data[i + 1]} << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::vector<uint8_t> Base64Decode(const std::string& text, const std::string& field) {
  size_t start = 0;
  if (text.compare(0, 5, "data:") == 0) {
    const size_t comma = text.find(',');
    if (comma == std::string::npos || text.rfind(";base64", comma) == std::string::npos) {
      Bad(field + ": a data URL must be base64 (data:...;base64,...)");
    }
    start = comma + 1;
  }
  const size_t n = text.size() - start;
  if (n % 4 != 0) Bad(field + ": base64 length must be a multiple of 4");
  std::vector<uint8_t> out;
  out.reserve(n / 4 * 3);
  for (size_t i = start; i < text.size(); i += 4) {
    int s[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      const bool last_quad = i + 4 == text.size();
      if (c == '=' && last_quad && k >= 2 && (k == 3 || text[i + 3] == '=')) {
        s[k] = 0;
        ++pad;
      } else {
        s[k] = Sextet(c);
        if (s[k] < 0) Bad(field + ": invalid base64 character at offset " + std::to_string(i + k - start));
      }
    }
    const uint32_t v = (uint32_t(s[0]) << 18) | (uint32_t(s[1]) << 12) | (uint32_t(s[2]) << 6) | uint32_t(s[3]);
    out.push_back(static_cast<uint8_t>(v >> 16));
    if (pad < 2) out.push_back(static_cast<uint8_t>(v >> 8));
    if (pad < 1) out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

}  // namespace persam::server
