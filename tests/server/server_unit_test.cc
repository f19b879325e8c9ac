// The server's pieces without HTTP: the LRU cache's eviction order, cap and
// pinning; request parsing and base64 at their edges.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "server/lru_cache.h"
#include "server/request.h"

namespace persam::server {
namespace {

bool Has(LruCache<int>& cache, const char* id) { return cache.Get(id) != nullptr; }

TEST_CASE("LruCache evicts the least recently used entries to stay within its cap") {
  LruCache<int> cache(100);
  CHECK(cache.Put("a", std::make_shared<int>(1), 40));
  CHECK(cache.Put("b", std::make_shared<int>(2), 40));
  REQUIRE(Has(cache, "a"));  // "b" is now the least recently used
  CHECK(cache.Put("c", std::make_shared<int>(3), 40));
  CHECK_FALSE(Has(cache, "b"));
  CHECK(*cache.Get("a") == 1);
  CHECK(*cache.Get("c") == 3);
  CHECK(cache.bytes() == 80);
  CHECK_FALSE(cache.Put("huge", std::make_shared<int>(4), 101));  // alone above the cap
  CHECK(cache.size() == 2);
  CHECK(cache.Erase("a"));
  CHECK_FALSE(cache.Erase("a"));
  CHECK(cache.bytes() == 40);
}

TEST_CASE("LruCache keeps pinned entries, even above its cap") {
  LruCache<int> cache(100, [](const int& v) { return v < 0; });
  CHECK(cache.Put("pinned", std::make_shared<int>(-1), 60));
  CHECK(cache.Put("x", std::make_shared<int>(1), 30));
  CHECK(cache.Put("y", std::make_shared<int>(2), 60));  // evicts "x", keeps "pinned"
  CHECK(Has(cache, "pinned"));
  CHECK_FALSE(Has(cache, "x"));
  CHECK(Has(cache, "y"));
  CHECK(cache.bytes() == 120);
}

TEST_CASE("ParsePredictRequest checks every field against the image") {
  const std::string ok = R"({"points": [{"x": 9.5, "y": 0, "label": 0}], "box": [0, 0, 10, 5], "multimask": true})";
  const PredictRequest r = ParsePredictRequest(ok.data(), ok.size(), 5, 10);
  REQUIRE(r.points.size() == 1);
  CHECK(r.points[0].x == 9.5);
  CHECK(r.points[0].label == 0);
  REQUIRE(r.box);
  CHECK(r.box->x1 == 10);
  CHECK(r.multimask);
  auto status_of = [](const std::string& body) {
    try {
      ParsePredictRequest(body.data(), body.size(), 5, 10);
    } catch (const RequestError& e) {
      return e.status();
    }
    return 200;
  };
  CHECK(status_of(R"({"points": [{"x": 10, "y": 0}]})") == 400);   // x == width
  CHECK(status_of(R"({"points": [{"x": 0, "y": -0.1}]})") == 400);
  CHECK(status_of(R"({"box": [0, 0, 10, 5.5]})") == 400);
  CHECK(status_of(R"({"points": [{"x": 1e400, "y": 0}]})") == 400);
  CHECK(status_of(R"({"points": [{"x": 1, "y": 1, "lable": 1}]})") == 400);
  CHECK(status_of(R"({"mask_input": {"result": "ABCDEF0123456789abcdef0123456789"}})") == 400);  // upper case
  CHECK(status_of(R"({"mask_input": {"result": "abcdef0123456789abcdef0123456789"}})") == 200);
}

TEST_CASE("Base64 round-trips and refuses what is not base64") {
  const std::string text = "persam serve!";
  for (size_t n = 0; n <= text.size(); ++n) {
    const std::string encoded = Base64Encode(reinterpret_cast<const uint8_t*>(text.data()), n);
    const std::vector<uint8_t> decoded = Base64Decode(encoded, "t");
    CHECK(std::string(decoded.begin(), decoded.end()) == text.substr(0, n));
  }
  CHECK(Base64Decode("data:image/png;base64,QUI=", "t") == std::vector<uint8_t>{'A', 'B'});
  CHECK_THROWS_AS(Base64Decode("QUI", "t"), RequestError);    // length
  CHECK_THROWS_AS(Base64Decode("Q=UI", "t"), RequestError);   // padding inside
  CHECK_THROWS_AS(Base64Decode("QU*=", "t"), RequestError);   // alphabet
  CHECK_THROWS_AS(Base64Decode("data:text/plain,QUI=", "t"), RequestError);
}

}  // namespace
}  // namespace persam::server
