#include "weights/utf8.h"

namespace persam {

size_t Utf8SequenceLength(const unsigned char* s, size_t available) {
  if (available == 0) return 0;
  const unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t length;
  unsigned min_second = 0x80, max_second = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    length = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3;
    if (c == 0xE0) min_second = 0xA0;  // overlong
    if (c == 0xED) max_second = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4;
    if (c == 0xF0) min_second = 0x90;  // overlong
    if (c == 0xF4) max_second = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (available < length || s[1] < min_second || s[1] > max_second) return 0;
  for (size_t i = 2; i < length; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
  }
  return length;
}

bool IsValidUtf8(const std::string& text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(s + i, text.size() - i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace persam
