// UTF-8 validation for names read from untrusted files (JSON strings,
// safetensors and pickle tensor names): a name that is not UTF-8 would be
// copied raw into converted files and printed raw by `inspect --json`.
#ifndef PERSAM_WEIGHTS_UTF8_H_
#define PERSAM_WEIGHTS_UTF8_H_

#include <cstddef>
#include <string>

namespace persam {

// Length of the well-formed UTF-8 sequence at text[0] (1-4), or 0 when it is
// malformed: a stray continuation byte, truncated, overlong, a surrogate or
// above U+10FFFF (RFC 3629).
size_t Utf8SequenceLength(const unsigned char* text, size_t available);
bool IsValidUtf8(const std::string& text);

}  // namespace persam

#endif  // PERSAM_WEIGHTS_UTF8_H_
