// A small strict JSON reader and writer (RFC 8259): used for the safetensors
// header, and by tests for the fixture manifests. No dependency; the input is
// untrusted, so every limit (depth, lengths) is checked and errors say where.
#ifndef PERSAM_WEIGHTS_JSON_H_
#define PERSAM_WEIGHTS_JSON_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace persam {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool IsNull() const { return kind_ == Kind::kNull; }
  bool IsBool() const { return kind_ == Kind::kBool; }
  bool IsNumber() const { return kind_ == Kind::kNumber; }
  bool IsString() const { return kind_ == Kind::kString; }
  bool IsArray() const { return kind_ == Kind::kArray; }
  bool IsObject() const { return kind_ == Kind::kObject; }

  bool AsBool() const { return bool_; }
  double AsDouble() const { return number_; }
  // True when the number was written as an integer that fits int64 exactly.
  bool IsInteger() const { return kind_ == Kind::kNumber && is_integer_; }
  int64_t AsInt64() const { return integer_; }
  const std::string& AsString() const { return string_; }
  const std::vector<JsonValue>& Items() const { return items_; }                      // array
  const std::vector<std::pair<std::string, JsonValue>>& Members() const { return members_; }  // object, in file order
  // Object member or nullptr.
  const JsonValue* Find(const std::string& key) const;
  // Object member; throws persam::Error naming the key when absent.
  const JsonValue& At(const std::string& key) const;
  size_t size() const { return kind_ == Kind::kArray ? items_.size() : members_.size(); }

  static JsonValue Null() { return JsonValue(); }
  static JsonValue Bool(bool b);
  static JsonValue Number(double d);
  static JsonValue Integer(int64_t i);
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> items);
  static JsonValue Object(std::vector<std::pair<std::string, JsonValue>> members);

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  bool is_integer_ = false;
  double number_ = 0.0;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses exactly one JSON value (surrounding whitespace allowed). Duplicate
// object keys, trailing commas, control characters in strings, invalid UTF-8
// (raw or escaped) and nesting deeper than 64 are errors. Throws persam::Error whose
// message starts with `source` and gives the byte offset.
JsonValue ParseJson(const char* text, size_t length, const std::string& source);
JsonValue ParseJsonFile(const std::string& path);

// Compact serialisation; strings escaped, numbers with round-trip precision.
std::string WriteJson(const JsonValue& value);
std::string JsonQuote(const std::string& s);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_JSON_H_
