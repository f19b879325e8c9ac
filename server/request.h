// The JSON bodies of `persam serve`'s API, parsed and checked before any
// model work: every malformed request becomes a RequestError with a 4xx
// status and a message naming the field and what was expected. No HTTP and
// no model here, so the fuzz target (tests/fuzz/fuzz_http_request.cc) and
// unit tests reach every branch.
#ifndef PERSAM_SERVER_REQUEST_H_
#define PERSAM_SERVER_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/sam_model.h"

namespace persam::server {

// A request the client got wrong; the server answers `status` (400, 404,
// 409, 413, ...) with {"error": message}.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

enum class MaskFormat { kPng, kRle };

// A stored prediction's mask used as the next prompt's mask input (SAM's
// iterative refinement: the previous low-res logits).
struct MaskInputRef {
  std::string result;  // id of a previous predict result of the same image
  int index = 0;       // which of its masks
};

// POST /api/images/{id}/predict.
struct PredictRequest {
  std::vector<PointPrompt> points;
  std::optional<BoxPrompt> box;
  std::optional<MaskInputRef> mask_input;
  bool multimask = false;
  MaskFormat format = MaskFormat::kPng;
  bool return_logits = false;  // the low-res logits, [masks][256 * 256]
};

// Coordinates are checked against the image: points inside [0, W) x [0, H),
// boxes inside [0, W] x [0, H] with x0 <= x1, y0 <= y1.
PredictRequest ParsePredictRequest(const char* body, size_t size, int height, int width);

// POST /api/personalize. The reference mask is an uploaded PNG (any
// non-zero pixel is foreground) or a mask of a previous predict result.
struct PersonalizeRequest {
  std::string reference_image;             // image id
  std::vector<uint8_t> reference_mask_png;  // decoded from base64, or empty
  std::optional<MaskInputRef> reference_result;
  std::vector<std::string> targets;         // image ids, in order
  bool finetune = false;                    // "method": "persam" | "persam_f"
  MaskFormat format = MaskFormat::kPng;
};

PersonalizeRequest ParsePersonalizeRequest(const char* body, size_t size);

// Ids are 32 lowercase hex digits (128 random bits); anything else is
// refused before a lookup.
constexpr int kIdLength = 32;
bool IsWellFormedId(const std::string& id);

// Limits that keep one request's work bounded.
constexpr int kMaxPoints = 256;
constexpr int kMaxTargets = 64;

std::string Base64Encode(const uint8_t* data, size_t size);
// Throws RequestError(400) naming `field` on a character outside the
// standard alphabet or a bad length. A data URL prefix ("data:...;base64,")
// is skipped.
std::vector<uint8_t> Base64Decode(const std::string& text, const std::string& field);

}  // namespace persam::server

#endif  // PERSAM_SERVER_REQUEST_H_
