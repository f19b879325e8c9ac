// Locating the golden fixtures: $PERSAM_FIXTURES, else ../shared/fixtures
// relative to the source tree. Tests that need them skip with one line when
// they are absent.
#ifndef PERSAM_TESTS_FIXTURES_H_
#define PERSAM_TESTS_FIXTURES_H_

#include <string>

namespace persam::testing {

// Empty when the fixtures are not found.
const std::string& FixturesDir();
// FixturesDir() + "/" + relative.
std::string FixturePath(const std::string& relative);
// True when found; otherwise prints one "skipped: ..." line (once per test
// case) and returns false, so the caller returns early.
bool HaveFixtures(const char* test_name);

}  // namespace persam::testing

#endif  // PERSAM_TESTS_FIXTURES_H_
