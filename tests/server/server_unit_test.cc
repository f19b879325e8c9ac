// The server's pieces without HTTP: the LRU cache's eviction order, cap and
// pinning; request parsing and base64 at their edges.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "server/lru_cache.h"
#include "server/request.h"
#include "server/strokes.h"

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

TEST_CASE("RasterizeStrokes paints the pixels whose centre is within half the width of the polyline") {
  auto painted = [](const RgbImage& m, int x, int y) { return m.pixels[(static_cast<size_t>(y) * m.width + x) * 3] == 255; };
  // A horizontal stroke 3 wide along y = 5 from x = 2 to x = 8: centres at
  // y + 0.5 in [3.5, 6.5] and x + 0.5 within 1.5 of [2, 8] (round caps).
  const RgbImage m = RasterizeStrokes({{3.0, {{2.0, 5.0}, {8.0, 5.0}}}}, 12, 12);
  int count = 0;
  for (int y = 0; y < 12; ++y) {
    for (int x = 0; x < 12; ++x) {
      const double dx = std::max({2.0 - (x + 0.5), 0.0, (x + 0.5) - 8.0}), dy = (y + 0.5) - 5.0;
      CHECK_MESSAGE(painted(m, x, y) == (dx * dx + dy * dy <= 2.25), "pixel ", x, ", ", y);
      count += painted(m, x, y);
    }
  }
  CHECK(count == 28);  // rows 4 and 5: x 1..8 (8 each); rows 3 and 6: x 2..7 (6 each)
  // Only R is set (as a decoded mask PNG is read: any non-zero is foreground).
  CHECK(m.pixels[(5 * 12 + 4) * 3 + 1] == 0);
  // One point: a disc; a point outside the image is a 400 naming it.
  const RgbImage disc = RasterizeStrokes({{1.0, {{0.5, 0.5}}}}, 2, 2);
  CHECK(painted(disc, 0, 0));
  CHECK(!painted(disc, 1, 0));
  try {
    RasterizeStrokes({{4.0, {{1.0, 1.0}, {2.0, 12.0}}}}, 12, 12);
    FAIL("a point outside the image was painted");
  } catch (const RequestError& e) {
    CHECK(e.status() == 400);
    CHECK(std::string(e.what()).find("strokes[0].points[1]") != std::string::npos);
  }
}

TEST_CASE("ParseConceptRequest and ParsePersonalizeRequest take a reference or a concept") {
  const std::string id = "0123456789abcdef0123456789abcdef";
  const std::string strokes = R"({"reference": {"image": ")" + id +
                              R"(", "strokes": [{"width": 4, "points": [[1, 2], [3, 4.5]]}]}, "method": "persam_f"})";
  const ConceptRequest c = ParseConceptRequest(strokes.data(), strokes.size());
  CHECK(c.finetune);
  REQUIRE(c.reference.strokes.size() == 1);
  CHECK(c.reference.strokes[0].points[1].second == 4.5);
  CHECK(c.mask_name == "scribbled strokes");
  CHECK(c.image_name == "uploaded image");
  const std::string by_concept = R"({"concept": ")" + id + R"(", "targets": [")" + id + R"("]})";
  const PersonalizeRequest p = ParsePersonalizeRequest(by_concept.data(), by_concept.size());
  CHECK(p.concept_id == id);
  CHECK(!p.reference);
  auto status_of = [](const std::string& body) {
    try {
      ParseConceptRequest(body.data(), body.size());
    } catch (const RequestError& e) {
      return e.status();
    }
    return 200;
  };
  CHECK(status_of(R"({"reference": {"image": ")" + id + R"(", "strokes": []}})") == 400);
  CHECK(status_of(R"({"reference": {"image": ")" + id + R"(", "strokes": [{"width": 0.5, "points": [[1, 1]]}]}})") == 400);
  CHECK(status_of(R"({"reference": {"image": ")" + id + R"(", "mask_png": "AAAA", "strokes": []}})") == 400);
  CHECK(status_of(R"({"reference": {"image": ")" + id + R"(", "result": ")" + id + R"("}, "mask_name": "m.png"})") == 200);
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
