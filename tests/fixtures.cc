#include "tests/fixtures.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#ifndef PERSAM_SOURCE_DIR
#define PERSAM_SOURCE_DIR "."
#endif

namespace persam::testing {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

const std::string& FixturesDir() {
  static const std::string dir = [] {
    if (const char* env = std::getenv("PERSAM_FIXTURES")) {
      if (IsDirectory(env)) return std::string(env);
    }
    const std::string sibling = std::string(PERSAM_SOURCE_DIR) + "/../shared/fixtures";
    if (IsDirectory(sibling + "/ref")) return sibling;
    return std::string();
  }();
  return dir;
}

std::string FixturePath(const std::string& relative) { return FixturesDir() + "/" + relative; }

bool HaveFixtures(const char* test_name) {
  if (!FixturesDir().empty()) return true;
  std::printf("skipped: %s (fixtures not found: set PERSAM_FIXTURES or place ../shared/fixtures)\n",
              test_name);
  return false;
}

}  // namespace persam::testing
