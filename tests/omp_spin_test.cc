// UseShortOpenMpSpin leaves a user's own OpenMP wait setting alone: it then
// returns instead of executing the program again.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "kernels/omp_spin.h"

namespace persam::kernels {
namespace {

TEST_CASE("UseShortOpenMpSpin keeps a wait policy the user set and does not re-execute") {
  const char* old = std::getenv("GOMP_SPINCOUNT");
  const std::string saved = old != nullptr ? old : "";
  REQUIRE(setenv("GOMP_SPINCOUNT", "12345", 1) == 0);
  char arg0[] = "/nonexistent/program";
  char* argv[] = {arg0, nullptr};
  UseShortOpenMpSpin(argv);  // an exec would replace this test binary
  CHECK(std::string(std::getenv("GOMP_SPINCOUNT")) == "12345");
  if (old != nullptr) {
    setenv("GOMP_SPINCOUNT", saved.c_str(), 1);
  } else {
    unsetenv("GOMP_SPINCOUNT");
  }
}

}  // namespace
}  // namespace persam::kernels
