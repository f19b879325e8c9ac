// A minimal streaming JSON writer for reports (no parsing): commas and
// nesting are tracked, strings escaped, numbers printed round-trippable.
#ifndef PERSAM_PERSAM_JSON_WRITER_H_
#define PERSAM_PERSAM_JSON_WRITER_H_

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace persam {

class JsonWriter {
 public:
  JsonWriter& BeginObject() { Open('{'); return *this; }
  JsonWriter& EndObject() { Close('}'); return *this; }
  JsonWriter& BeginArray() { Open('['); return *this; }
  JsonWriter& EndArray() { Close(']'); return *this; }
  JsonWriter& Key(const std::string& key) {
    Separate();
    Escaped(key);
    out_ += ": ";
    after_key_ = true;
    return *this;
  }
  JsonWriter& String(const std::string& value) { Separate(); Escaped(value); return *this; }
  JsonWriter& Int(int64_t value) { Separate(); out_ += std::to_string(value); return *this; }
  JsonWriter& Bool(bool value) { Separate(); out_ += value ? "true" : "false"; return *this; }
  JsonWriter& Null() { Separate(); out_ += "null"; return *this; }
  // Non-finite values become null (JSON has no NaN).
  JsonWriter& Number(double value) {
    Separate();
    if (!std::isfinite(value)) {
      out_ += "null";
    } else {
      char buf[40];
      std::snprintf(buf, sizeof(buf), "%.9g", value);
      out_ += buf;
    }
    return *this;
  }
  template <class T>
  JsonWriter& NumberArray(const T* values, size_t n) {
    BeginArray();
    for (size_t i = 0; i < n; ++i) Number(static_cast<double>(values[i]));
    return EndArray();
  }
  const std::string& str() const { return out_; }

 private:
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ",";
      first_.back() = false;
      out_ += "\n" + std::string(2 * first_.size(), ' ');
    }
  }
  void Open(char c) {
    Separate();
    out_ += c;
    first_.push_back(true);
  }
  void Close(char c) {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) out_ += "\n" + std::string(2 * first_.size(), ' ');
    out_ += c;
  }
  void Escaped(const std::string& s) {
    out_ += '"';
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += static_cast<char>(c);
      } else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += static_cast<char>(c);
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

}  // namespace persam

#endif  // PERSAM_PERSAM_JSON_WRITER_H_
