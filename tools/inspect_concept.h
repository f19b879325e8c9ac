// `persam inspect NAME.concept`: what a concept file holds.
#ifndef PERSAM_TOOLS_INSPECT_CONCEPT_H_
#define PERSAM_TOOLS_INSPECT_CONCEPT_H_

#include <string>

#include "tools/cli.h"

namespace persam::cli {

// Prints the concept (text, or JSON with --json); throws persam::Error when
// the file is not a valid concept.
int InspectConcept(const Args& args, const std::string& path);

}  // namespace persam::cli

#endif  // PERSAM_TOOLS_INSPECT_CONCEPT_H_
