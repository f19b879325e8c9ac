#include "tools/precision_option.h"

#include <string>

#include "base/error.h"

namespace persam::cli {

std::optional<Precision> PrecisionOption(const Args& args) {
  const std::optional<std::string> value = args.Value(kPrecisionOptionName);
  if (!value) return std::nullopt;
  try {
    return ParsePrecision(*value, "option --precision");
  } catch (const Error& e) {
    throw UsageError{e.what()};
  }
}

LoadOptions ModelLoadOptions(const Args& args) {
  LoadOptions options;
  options.precision = PrecisionOption(args);
  options.allow_unusual_architecture = args.Flag(kUnusualModelFlag);
  return options;
}

}  // namespace persam::cli
