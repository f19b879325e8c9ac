#include "weights/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "base/error.h"
#include "weights/utf8.h"

namespace persam {

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::Number(double d) {
  JsonValue v;
  v.kind_ = Kind::kNumber;
  v.number_ = d;
  return v;
}

JsonValue JsonValue::Integer(int64_t i) {
  JsonValue v;
  v.kind_ = Kind::kNumber;
  v.number_ = static_cast<double>(i);
  v.integer_ = i;
  v.is_integer_ = true;
  return v;
}

JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(s);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.kind_ = Kind::kArray;
  v.items_ = std::move(items);
  return v;
}

JsonValue JsonValue::Object(std::vector<std::pair<std::string, JsonValue>> members) {
  JsonValue v;
  v.kind_ = Kind::kObject;
  v.members_ = std::move(members);
  return v;
}

const JsonValue* JsonValue::Find(const std::string& key) const {
  for (const auto& member : members_) {
    if (member.first == key) return &member.second;
  }
  return nullptr;
}

const JsonValue& JsonValue::At(const std::string& key) const {
  const JsonValue* v = Find(key);
  if (v == nullptr) throw Error("JSON object has no member '" + key + "'");
  return *v;
}

class JsonParser {
 public:
  JsonParser(const char* text, size_t length, const std::string& source)
      : p_(text), begin_(text), end_(text + length), source_(source) {}

  JsonValue ParseDocument() {
    SkipSpace();
    JsonValue v = ParseValue(0);
    SkipSpace();
    if (p_ != end_) Fail("unexpected data after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void Fail(const std::string& what) const {
    throw Error(source_ + ": malformed JSON at byte " + std::to_string(p_ - begin_) + ": " + what);
  }

  void SkipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  void Expect(const char* literal) {
    const size_t n = std::strlen(literal);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, literal, n) != 0) {
      Fail(std::string("expected '") + literal + "'");
    }
    p_ += n;
  }

  JsonValue ParseValue(int depth) {
    if (depth > kMaxDepth) Fail("nesting deeper than 64");
    if (p_ == end_) Fail("unexpected end of input");
    switch (*p_) {
      case '{': return ParseObject(depth);
      case '[': return ParseArray(depth);
      case '"': return JsonValue::String(ParseString());
      case 't': Expect("true"); return JsonValue::Bool(true);
      case 'f': Expect("false"); return JsonValue::Bool(false);
      case 'n': Expect("null"); return JsonValue::Null();
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return ParseNumber();
        Fail(std::string("unexpected character '") + *p_ + "'");
    }
  }

  JsonValue ParseObject(int depth) {
    ++p_;  // {
    std::vector<std::pair<std::string, JsonValue>> members;
    std::set<std::string> keys;
    SkipSpace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return JsonValue::Object(std::move(members));
    }
    for (;;) {
      SkipSpace();
      if (p_ == end_ || *p_ != '"') Fail("expected a string key");
      std::string key = ParseString();
      if (!keys.insert(key).second) Fail("duplicate key '" + key + "'");
      SkipSpace();
      if (p_ == end_ || *p_ != ':') Fail("expected ':'");
      ++p_;
      SkipSpace();
      members.emplace_back(std::move(key), ParseValue(depth + 1));
      SkipSpace();
      if (p_ == end_) Fail("unexpected end of input in an object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return JsonValue::Object(std::move(members));
      }
      Fail("expected ',' or '}'");
    }
  }

  JsonValue ParseArray(int depth) {
    ++p_;  // [
    std::vector<JsonValue> items;
    SkipSpace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return JsonValue::Array(std::move(items));
    }
    for (;;) {
      SkipSpace();
      items.push_back(ParseValue(depth + 1));
      SkipSpace();
      if (p_ == end_) Fail("unexpected end of input in an array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return JsonValue::Array(std::move(items));
      }
      Fail("expected ',' or ']'");
    }
  }

  unsigned ParseHex4() {
    if (end_ - p_ < 4) Fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else Fail("bad hex digit in \\u escape");
    }
    return v;
  }

  static void AppendUtf8(std::string* out, unsigned cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string ParseString() {
    ++p_;  // opening quote
    std::string out;
    for (;;) {
      if (p_ == end_) Fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return out;
      }
      if (c < 0x20) Fail("control character in a string");
      if (c >= 0x80) {  // JSON text is UTF-8 (RFC 8259): raw bytes are checked
        const size_t n = Utf8SequenceLength(reinterpret_cast<const unsigned char*>(p_), end_ - p_);
        if (n == 0) Fail("invalid UTF-8 in a string");
        out.append(p_, n);
        p_ += n;
        continue;
      }
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++p_;
        continue;
      }
      ++p_;
      if (p_ == end_) Fail("unterminated escape");
      const char e = *p_++;
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          unsigned cp = ParseHex4();
          if (cp >= 0xD800 && cp < 0xDC00) {  // high surrogate: a low one must follow
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') Fail("lone high surrogate");
            p_ += 2;
            const unsigned low = ParseHex4();
            if (low < 0xDC00 || low >= 0xE000) Fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            Fail("lone low surrogate");
          }
          AppendUtf8(&out, cp);
          break;
        }
        default: Fail(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  JsonValue ParseNumber() {
    const char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_) Fail("truncated number");
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      Fail("bad number");
    }
    bool integer = true;
    if (p_ != end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) Fail("bad fraction");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) Fail("bad exponent");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    // strtod needs a terminated copy: the input buffer need not be.
    const std::string text(start, p_);
    JsonValue v;
    v.kind_ = JsonValue::Kind::kNumber;
    v.number_ = std::strtod(text.c_str(), nullptr);
    if (integer) {
      errno = 0;
      const long long i = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == 0) {
        v.is_integer_ = true;
        v.integer_ = i;
      }
    }
    return v;
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  const std::string& source_;
};

JsonValue ParseJson(const char* text, size_t length, const std::string& source) {
  return JsonParser(text, length, source).ParseDocument();
}

JsonValue ParseJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open JSON file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  return ParseJson(text.data(), text.size(), path);
}

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  return out + "\"";
}

namespace {

void Write(const JsonValue& v, std::string* out) {
  switch (v.kind()) {
    case JsonValue::Kind::kNull: *out += "null"; break;
    case JsonValue::Kind::kBool: *out += v.AsBool() ? "true" : "false"; break;
    case JsonValue::Kind::kNumber: {
      if (v.IsInteger()) {
        *out += std::to_string(v.AsInt64());
      } else if (!std::isfinite(v.AsDouble())) {
        *out += "null";  // JSON has no inf/nan
      } else {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.17g", v.AsDouble());
        // "-0" would read back as the integer 0 and lose its sign: a
        // fraction keeps the negative zero a double.
        *out += std::strcmp(buf, "-0") == 0 ? "-0.0" : buf;
      }
      break;
    }
    case JsonValue::Kind::kString: *out += JsonQuote(v.AsString()); break;
    case JsonValue::Kind::kArray: {
      *out += '[';
      for (size_t i = 0; i < v.Items().size(); ++i) {
        if (i) *out += ',';
        Write(v.Items()[i], out);
      }
      *out += ']';
      break;
    }
    case JsonValue::Kind::kObject: {
      *out += '{';
      bool first = true;
      for (const auto& member : v.Members()) {
        if (!first) *out += ',';
        first = false;
        *out += JsonQuote(member.first);
        *out += ':';
        Write(member.second, out);
      }
      *out += '}';
      break;
    }
  }
}

}  // namespace

std::string WriteJson(const JsonValue& value) {
  std::string out;
  Write(value, &out);
  return out;
}

}  // namespace persam
