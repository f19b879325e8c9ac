// The C API (include/persam/persam.h) as a user of libpersam.so sees it:
// this suite links the shared library only (no engine library), so every
// call goes through the exported persam_* symbols. It checks the argument
// and error contract, and that predictions, embeddings, PerSAM / PerSAM-F
// and the automatic mask generator give exactly what the `persam` CLI (the
// C++ engine) gives for the same inputs.
#include <doctest/doctest.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "persam/persam.h"
#include "tests/cli_test_util.h"
#include "tests/fixtures.h"

// stb's declarations only: its implementation is the test's own
// (persam_stb_impl, third-party code), not libpersam's hidden copy.
#include <stb_image.h>
#include <stb_image_write.h>

namespace {

using persam::testing::FixturePath;
using persam::testing::HaveFixtures;

// ---- Helpers --------------------------------------------------------------

persam::testing::CliRun Persam(const std::string& args) {
  const char* exe = std::getenv("PERSAM_EXE");
  REQUIRE_MESSAGE(exe != nullptr, "PERSAM_EXE must point at the persam binary");
  return persam::testing::RunCli(exe, args + " --threads 2");
}

// A scratch directory, removed with its contents (the CLI's outputs run to
// tens of MB) when the test case ends.
class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/persam_capi_test_XXXXXX";
    const char* dir = mkdtemp(templ);
    REQUIRE(dir != nullptr);
    path_ = dir;
  }
  ~TempDir() {
    nftw(path_.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return std::remove(p); }, 16,
         FTW_DEPTH | FTW_PHYS);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A float32 little-endian .npy (C order).
struct Npy {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

Npy ReadNpyF32(const std::string& path) {
  const std::string bytes = ReadFile(path);
  REQUIRE(bytes.size() >= 10);
  REQUIRE(bytes.compare(0, 6, "\x93NUMPY") == 0);
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
    start = 10;
  } else {
    REQUIRE(bytes.size() >= 12);
    for (int i = 3; i >= 0; --i) header_len = header_len << 8 | static_cast<uint8_t>(bytes[8 + i]);
    start = 12;
  }
  REQUIRE(bytes.size() >= start + header_len);
  const std::string header = bytes.substr(start, header_len);
  REQUIRE_MESSAGE(Contains(header, "'descr': '<f4'"), header);
  REQUIRE_MESSAGE(Contains(header, "'fortran_order': False"), header);
  const size_t open = header.find("'shape': (");
  REQUIRE(open != std::string::npos);
  Npy npy;
  size_t count = 1;
  const char* p = header.c_str() + open + 10;
  while (*p != ')') {
    char* end = nullptr;
    const long long v = std::strtoll(p, &end, 10);
    REQUIRE(end != p);
    npy.shape.push_back(v);
    count *= static_cast<size_t>(v);
    p = end;
    while (*p == ',' || *p == ' ') ++p;
  }
  REQUIRE(bytes.size() == start + header_len + count * 4);
  npy.data.resize(count);
  std::memcpy(npy.data.data(), bytes.data() + start + header_len, count * 4);
  return npy;
}

// Just enough JSON for the CLI's scores.json and masks.json.
struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  double number = 0;
  std::string string;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> fields;
  const Json& operator[](const std::string& key) const {
    for (const auto& f : fields) {
      if (f.first == key) return f.second;
    }
    FAIL("no key " << key);
    return *this;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : p_(text.c_str()) {}
  Json Parse() {
    Skip();
    Json v;
    if (*p_ == '{') {
      v.kind = Json::kObject;
      ++p_;
      Skip();
      while (*p_ != '}') {
        Json key = Parse();
        REQUIRE(key.kind == Json::kString);
        Skip();
        REQUIRE(*p_ == ':');
        ++p_;
        v.fields.emplace_back(key.string, Parse());
        Skip();
        if (*p_ == ',') ++p_, Skip();
      }
      ++p_;
    } else if (*p_ == '[') {
      v.kind = Json::kArray;
      ++p_;
      Skip();
      while (*p_ != ']') {
        v.items.push_back(Parse());
        Skip();
        if (*p_ == ',') ++p_, Skip();
      }
      ++p_;
    } else if (*p_ == '"') {
      v.kind = Json::kString;
      for (++p_; *p_ != '"'; ++p_) {
        REQUIRE(*p_ != '\0');
        if (*p_ == '\\') ++p_;  // names and keys here need no unescaping
        v.string += *p_;
      }
      ++p_;
    } else if (std::strncmp(p_, "null", 4) == 0) {
      p_ += 4;
    } else if (std::strncmp(p_, "true", 4) == 0 || std::strncmp(p_, "false", 5) == 0) {
      v.kind = Json::kBool;
      v.number = *p_ == 't';
      p_ += *p_ == 't' ? 4 : 5;
    } else {
      char* end = nullptr;
      v.kind = Json::kNumber;
      v.number = std::strtod(p_, &end);
      REQUIRE_MESSAGE(end != p_, "bad JSON at: " << std::string(p_).substr(0, 20));
      p_ = end;
    }
    return v;
  }

 private:
  void Skip() {
    while (*p_ == ' ' || *p_ == '\n' || *p_ == '\t' || *p_ == '\r') ++p_;
  }
  const char* p_;
};

Json ReadJson(const std::string& path) { return JsonParser(ReadFile(path)).Parse(); }

// An 8-bit image file as [height][width][channels] (channels forced).
struct Pixels {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> data;
};

Pixels LoadPixels(const std::string& path, int channels) {
  int w = 0, h = 0, c = 0;
  uint8_t* raw = stbi_load(path.c_str(), &w, &h, &c, channels);
  REQUIRE_MESSAGE(raw != nullptr, "cannot decode " << path);
  Pixels p;
  p.width = w;
  p.height = h;
  p.channels = channels;
  p.data.assign(raw, raw + static_cast<size_t>(w) * h * channels);
  stbi_image_free(raw);
  return p;
}

// 0/1 per pixel: channel 0 of `path` (a 0/255 mask or a (128, 0, 0) one) > 0.
std::vector<uint8_t> LoadMaskPng(const std::string& path, int* width = nullptr, int* height = nullptr) {
  const Pixels p = LoadPixels(path, 3);
  std::vector<uint8_t> mask(static_cast<size_t>(p.width) * p.height);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = p.data[3 * i] > 0;
  if (width != nullptr) *width = p.width;
  if (height != nullptr) *height = p.height;
  return mask;
}

size_t CountDifferent(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += (a[i] != 0) != (b[i] != 0);
  return n;
}

bool BitEqual(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

// Checks a failed call: its status and that the message names the function
// and the argument (or file) at fault.
void ExpectError(persam_status status, persam_status expected, const char* function, const std::string& what) {
  const std::string message = persam_last_error();
  CAPTURE(message);
  CHECK_MESSAGE(status == expected, persam_status_name(status));
  CHECK(Contains(message, function));
  CHECK(Contains(message, what));
}
#define EXPECT_INVALID(call, function, what) ExpectError((call), PERSAM_ERROR_INVALID_ARGUMENT, function, what)
#define EXPECT_ENGINE(call, function, what) ExpectError((call), PERSAM_ERROR_ENGINE, function, what)

// The fixture model, loaded once (2 threads, as the CLI runs below).
persam_model* Model() {
  struct Holder {
    persam_model* model = nullptr;
    ~Holder() { persam_model_free(model); }
  };
  static Holder holder;
  if (holder.model == nullptr) {
    persam_model_options options;
    persam_model_options_init(&options);
    options.threads = 2;
    REQUIRE_MESSAGE(persam_model_load(FixturePath("models/sam_vit_tiny.pth").c_str(), &options, &holder.model) ==
                        PERSAM_OK,
                    persam_last_error());
  }
  return holder.model;
}

persam_image* LoadImage(const std::string& path) {
  persam_image* image = nullptr;
  REQUIRE_MESSAGE(persam_image_load(path.c_str(), &image) == PERSAM_OK, persam_last_error());
  return image;
}

persam_embedding* Embed(const persam_image* image) {
  persam_embedding* embedding = nullptr;
  REQUIRE_MESSAGE(persam_embedding_compute(Model(), image, &embedding) == PERSAM_OK, persam_last_error());
  return embedding;
}

// A multimask prompt of `count` points (coords [count][2], labels [count]).
persam_prompt PointsPrompt(const float* coords, const int32_t* labels, int count) {
  persam_prompt prompt;
  persam_prompt_init(&prompt);
  prompt.point_coords = coords;
  prompt.point_labels = labels;
  prompt.num_points = count;
  prompt.multimask_output = 1;
  return prompt;
}

persam_prediction* Predict(const persam_embedding* embedding, const persam_prompt& prompt) {
  persam_prediction* p = nullptr;
  REQUIRE_MESSAGE(persam_predict(Model(), embedding, &prompt, &p) == PERSAM_OK, persam_last_error());
  return p;
}

size_t MaskPixels(const persam_prediction* p) {
  return static_cast<size_t>(persam_prediction_batch(p)) * persam_prediction_num_masks(p) *
         persam_prediction_height(p) * persam_prediction_width(p);
}

std::vector<uint8_t> Masks(const persam_prediction* p) {
  std::vector<uint8_t> masks(MaskPixels(p));
  REQUIRE(persam_prediction_copy_masks(p, masks.data(), masks.size()) == PERSAM_OK);
  return masks;
}

// Two predictions hold bit-identical scores, low-res and full-size logits.
void CheckSamePrediction(const persam_prediction* a, const persam_prediction* b) {
  REQUIRE(persam_prediction_batch(a) == persam_prediction_batch(b));
  REQUIRE(persam_prediction_num_masks(a) == persam_prediction_num_masks(b));
  REQUIRE(persam_prediction_width(a) == persam_prediction_width(b));
  REQUIRE(persam_prediction_height(a) == persam_prediction_height(b));
  const size_t n = static_cast<size_t>(persam_prediction_batch(a)) * persam_prediction_num_masks(a);
  CHECK(BitEqual(persam_prediction_scores(a), persam_prediction_scores(b), n));
  CHECK(BitEqual(persam_prediction_low_res(a), persam_prediction_low_res(b), n * 256 * 256));
  CHECK(BitEqual(persam_prediction_logits(a), persam_prediction_logits(b), MaskPixels(a)));
}

const char* const kCat01 = "perseg-mini/Images/cat/01.png";  // 1277 x 977

// A deterministic smooth pattern with some texture, RGB [h][w][3].
std::vector<uint8_t> Pattern(int width, int height) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* px = &rgb[(static_cast<size_t>(y) * width + x) * 3];
      const bool disc = (x - width / 2) * (x - width / 2) + (y - height / 2) * (y - height / 2) < width * height / 10;
      px[0] = static_cast<uint8_t>(disc ? 220 : (x * 255) / width);
      px[1] = static_cast<uint8_t>(disc ? 40 + (x * y) % 17 : (y * 255) / height);
      px[2] = static_cast<uint8_t>(disc ? 60 : ((x / 8 + y / 8) % 2) * 90 + 40);
    }
  }
  return rgb;
}

// ---- Versions and status names --------------------------------------------

TEST_CASE("versions and status names") {
  CHECK(persam_api_version() == PERSAM_API_VERSION);
  REQUIRE(persam_version() != nullptr);
  CHECK(std::strlen(persam_version()) > 0);
  CHECK(std::string(persam_status_name(PERSAM_OK)) == "PERSAM_OK");
  CHECK(std::string(persam_status_name(PERSAM_ERROR_INVALID_ARGUMENT)) == "PERSAM_ERROR_INVALID_ARGUMENT");
  CHECK(std::string(persam_status_name(PERSAM_ERROR_ENGINE)) == "PERSAM_ERROR_ENGINE");
  CHECK(std::string(persam_status_name(PERSAM_ERROR_OUT_OF_MEMORY)) == "PERSAM_ERROR_OUT_OF_MEMORY");
  CHECK(std::string(persam_status_name(PERSAM_ERROR_INTERNAL)) == "PERSAM_ERROR_INTERNAL");
  // 7: no status, yet a value of the enum's type in C++ too (its range is 0 .. 7).
  CHECK(std::string(persam_status_name(static_cast<persam_status>(7))) == "PERSAM_STATUS_UNKNOWN");

  persam_model_options mo;
  std::memset(&mo, 0x5a, sizeof(mo));
  persam_model_options_init(&mo);
  CHECK(mo.threads == 0);
  CHECK(mo.precision == PERSAM_PRECISION_DEFAULT);
  persam_prompt prompt;
  std::memset(&prompt, 0x5a, sizeof(prompt));
  persam_prompt_init(&prompt);
  CHECK(prompt.num_points == 0);
  CHECK(prompt.point_coords == nullptr);
  CHECK(prompt.boxes == nullptr);
  CHECK(prompt.mask_input == nullptr);
  CHECK(prompt.multimask_output == 0);
  persam_amg_options ao;
  persam_amg_options_init(&ao);
  CHECK(ao.points_per_side == 32);
  CHECK(ao.points_per_batch == 64);
  CHECK(ao.pred_iou_thresh == doctest::Approx(0.88));
  CHECK(ao.stability_score_thresh == doctest::Approx(0.95));
  CHECK(ao.stability_score_offset == 1.0);
  CHECK(ao.box_nms_thresh == doctest::Approx(0.7));
  CHECK(ao.crop_n_layers == 0);
  CHECK(ao.crop_nms_thresh == doctest::Approx(0.7));
  CHECK(ao.crop_overlap_ratio == doctest::Approx(512.0 / 1500.0));
  CHECK(ao.crop_n_points_downscale_factor == 1);
  CHECK(ao.min_mask_region_area == 0);
  persam_personalize_options po;
  po.finetune = 7;
  persam_personalize_options_init(&po);
  CHECK(po.finetune == 0);
  // Init functions tolerate NULL.
  persam_model_options_init(nullptr);
  persam_prompt_init(nullptr);
  persam_amg_options_init(nullptr);
  persam_personalize_options_init(nullptr);
}

// ---- Arguments and errors ---------------------------------------------------

TEST_CASE("NULL arguments, out-of-range values and free(NULL)") {
  // Freeing NULL and asking NULL handles is harmless.
  persam_model_free(nullptr);
  persam_image_free(nullptr);
  persam_embedding_free(nullptr);
  persam_prediction_free(nullptr);
  persam_personalizer_free(nullptr);
  persam_mask_set_free(nullptr);
  CHECK(persam_image_width(nullptr) == 0);
  CHECK(persam_image_height(nullptr) == 0);
  CHECK(persam_embedding_image_width(nullptr) == 0);
  CHECK(persam_embedding_image_height(nullptr) == 0);
  CHECK(persam_prediction_batch(nullptr) == 0);
  CHECK(persam_prediction_num_masks(nullptr) == 0);
  CHECK(persam_prediction_width(nullptr) == 0);
  CHECK(persam_prediction_height(nullptr) == 0);
  CHECK(persam_prediction_scores(nullptr) == nullptr);
  CHECK(persam_prediction_low_res(nullptr) == nullptr);
  CHECK(persam_prediction_logits(nullptr) == nullptr);
  CHECK(persam_mask_set_count(nullptr) == 0);

  const char* fn = "persam_set_num_threads";
  const int too_many = 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) + 1;
  EXPECT_INVALID(persam_set_num_threads(too_many), fn, "threads");
  EXPECT_INVALID(persam_set_num_threads(1 << 30), fn, "threads");
  CHECK(persam_set_num_threads(2) == PERSAM_OK);
  CHECK(std::string(persam_last_error()).empty());

  // Models: the option values are checked before the file is read.
  fn = "persam_model_load";
  persam_model* model = reinterpret_cast<persam_model*>(0x1);
  EXPECT_INVALID(persam_model_load(nullptr, nullptr, &model), fn, "path");
  CHECK(model == reinterpret_cast<persam_model*>(0x1));  // untouched: failed before anything
  EXPECT_INVALID(persam_model_load("x.pth", nullptr, nullptr), fn, "out_model");
  persam_model_options mo;
  persam_model_options_init(&mo);
  const int nine = 9;  // what a C caller may store (a C++ cast to the enum would be undefined)
  std::memcpy(&mo.precision, &nine, sizeof(nine));
  EXPECT_INVALID(persam_model_load("/nonexistent/x.pth", &mo, &model), fn, "precision");
  CHECK(model == nullptr);
  persam_model_options_init(&mo);
  mo.threads = too_many;
  EXPECT_INVALID(persam_model_load("/nonexistent/x.pth", &mo, &model), fn, "threads");
  EXPECT_ENGINE(persam_model_load("/nonexistent/missing_model.pth", nullptr, &model), fn, "missing_model.pth");
  CHECK(model == nullptr);
  persam_model_info info;
  EXPECT_INVALID(persam_model_get_info(nullptr, &info), "persam_model_get_info", "model");

  // Images.
  fn = "persam_image_load";
  persam_image* image = nullptr;
  EXPECT_INVALID(persam_image_load(nullptr, &image), fn, "path");
  EXPECT_INVALID(persam_image_load("x.png", nullptr), fn, "out_image");
  EXPECT_ENGINE(persam_image_load("/nonexistent/missing_image.png", &image), fn, "missing_image.png");
  CHECK(image == nullptr);
  fn = "persam_image_from_pixels";
  const std::vector<uint8_t> px(64 * 64 * 4, 100);
  EXPECT_INVALID(persam_image_from_pixels(nullptr, 8, 8, 24, 3, &image), fn, "pixels");
  EXPECT_INVALID(persam_image_from_pixels(px.data(), 8, 8, 24, 3, nullptr), fn, "out_image");
  EXPECT_INVALID(persam_image_from_pixels(px.data(), 0, 8, 24, 3, &image), fn, "size");
  EXPECT_INVALID(persam_image_from_pixels(px.data(), 8, -1, 24, 3, &image), fn, "size");
  EXPECT_INVALID(persam_image_from_pixels(px.data(), 1 << 20, 1, size_t{3} << 20, 3, &image), fn, "size");
  EXPECT_INVALID(persam_image_from_pixels(px.data(), 8, 8, 24, 2, &image), fn, "channels");
  EXPECT_INVALID(persam_image_from_pixels(px.data(), 8, 8, 24, 1, &image), fn, "channels");
  EXPECT_INVALID(persam_image_from_pixels(px.data(), 8, 8, 23, 3, &image), fn, "stride_bytes");
  EXPECT_INVALID(persam_image_from_pixels(px.data(), 8, 8, 31, 4, &image), fn, "stride_bytes");
  CHECK(image == nullptr);
  REQUIRE(persam_image_from_pixels(px.data(), 8, 6, 32, 4, &image) == PERSAM_OK);
  CHECK(std::string(persam_last_error()).empty());
  CHECK(persam_image_width(image) == 8);
  CHECK(persam_image_height(image) == 6);

  // Embeddings, predictions, PerSAM and the generator with NULL handles.
  persam_embedding* embedding = nullptr;
  EXPECT_INVALID(persam_embedding_compute(nullptr, image, &embedding), "persam_embedding_compute", "model");
  EXPECT_INVALID(persam_embedding_save(nullptr, "e.npy"), "persam_embedding_save", "embedding");
  EXPECT_INVALID(persam_embedding_load(nullptr, "e.npy", 8, 8, &embedding), "persam_embedding_load", "model");
  persam_prompt prompt;
  persam_prompt_init(&prompt);
  persam_prediction* prediction = nullptr;
  EXPECT_INVALID(persam_predict(nullptr, nullptr, &prompt, &prediction), "persam_predict", "model");
  uint8_t byte = 0;
  EXPECT_INVALID(persam_prediction_copy_masks(nullptr, &byte, 1), "persam_prediction_copy_masks", "'p'");
  persam_personalizer* personalizer = nullptr;
  EXPECT_INVALID(persam_personalizer_create(nullptr, image, &byte, 8, 6, nullptr, &personalizer),
                 "persam_personalizer_create", "model");
  EXPECT_INVALID(persam_personalizer_segment(nullptr, image, &byte, 1, nullptr), "persam_personalizer_segment",
                 "personalizer");
  persam_mask_set* masks = nullptr;
  EXPECT_INVALID(persam_generate_masks(nullptr, image, nullptr, &masks), "persam_generate_masks", "model");
  persam_mask_record record;
  EXPECT_INVALID(persam_mask_set_get(nullptr, 0, &record), "persam_mask_set_get", "masks");
  EXPECT_INVALID(persam_mask_set_copy_mask(nullptr, 0, &byte, 1), "persam_mask_set_copy_mask", "masks");

  if (!HaveFixtures("capi argument checks with a model")) {
    persam_image_free(image);
    return;
  }
  persam_model* m = Model();
  REQUIRE(persam_model_get_info(m, &info) == PERSAM_OK);
  CHECK(std::string(info.encoder) == "vit");
  CHECK(info.precision == PERSAM_PRECISION_F32);
  CHECK(info.image_size == 1024);
  CHECK(info.embed_dim == 256);
  CHECK(info.embed_grid == 64);
  CHECK(info.low_res_size == 256);
  EXPECT_INVALID(persam_model_get_info(m, nullptr), "persam_model_get_info", "out_info");

  fn = "persam_embedding_compute";
  EXPECT_INVALID(persam_embedding_compute(m, nullptr, &embedding), fn, "image");
  EXPECT_INVALID(persam_embedding_compute(m, image, nullptr), fn, "out_embedding");
  embedding = Embed(image);
  CHECK(persam_embedding_image_width(embedding) == 8);
  CHECK(persam_embedding_image_height(embedding) == 6);
  EXPECT_INVALID(persam_embedding_save(embedding, nullptr), "persam_embedding_save", "path");
  EXPECT_ENGINE(persam_embedding_save(embedding, "/nonexistent/dir/saved_emb.npy"), "persam_embedding_save",
                "saved_emb.npy");
  fn = "persam_embedding_load";
  persam_embedding* loaded = nullptr;
  EXPECT_INVALID(persam_embedding_load(m, nullptr, 8, 6, &loaded), fn, "path");
  EXPECT_INVALID(persam_embedding_load(m, "e.npy", 8, 6, nullptr), fn, "out_embedding");
  EXPECT_INVALID(persam_embedding_load(m, "e.npy", 0, 6, &loaded), fn, "size");
  EXPECT_INVALID(persam_embedding_load(m, "e.npy", 8, -6, &loaded), fn, "size");
  EXPECT_ENGINE(persam_embedding_load(m, "/nonexistent/missing_emb.npy", 8, 6, &loaded), fn, "missing_emb.npy");
  CHECK(loaded == nullptr);

  // Prompts: sizes, NULL arrays, non-finite values, labels, boxes.
  fn = "persam_predict";
  const float point[2] = {4, 3}, nan_point[2] = {NAN, 3};
  const int32_t label = 1, bad_label = 2;
  EXPECT_INVALID(persam_predict(m, nullptr, &prompt, &prediction), fn, "embedding");
  EXPECT_INVALID(persam_predict(m, embedding, nullptr, &prediction), fn, "prompt");
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, nullptr), fn, "out_prediction");
  prompt.num_points = -1;
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "num_points");
  prompt.num_points = 1 << 20;
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "num_points");
  prompt.num_points = 1;  // coordinates NULL
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "point_coords");
  prompt.point_coords = point;  // labels NULL
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "point_labels");
  prompt.point_labels = &bad_label;
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "label 2");
  prompt.point_labels = &label;
  prompt.point_coords = nan_point;
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "non-finite");
  prompt.point_coords = point;
  prompt.num_boxes = -1;
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "num_boxes");
  prompt.num_boxes = 1 << 20;
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "num_boxes");
  prompt.num_boxes = 1;  // boxes NULL
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "boxes");
  const float reversed[4] = {5, 1, 2, 4}, nan_box[4] = {1, 1, INFINITY, 4}, two[8] = {0, 0, 4, 4, 3, 4, 2, 5};
  prompt.boxes = reversed;
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "box 0");
  prompt.boxes = nan_box;
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "non-finite");
  prompt.boxes = two;  // the second box is reversed
  prompt.num_boxes = 2;
  EXPECT_INVALID(persam_predict(m, embedding, &prompt, &prediction), fn, "box 1");
  CHECK(prediction == nullptr);
  persam_prompt_init(&prompt);  // no point, no box, no mask: the engine refuses
  CHECK(persam_predict(m, embedding, &prompt, &prediction) == PERSAM_ERROR_ENGINE);
  CHECK(Contains(persam_last_error(), fn));
  prompt.num_points = 1;
  prompt.point_coords = point;
  prompt.point_labels = &label;
  prediction = Predict(embedding, prompt);
  CHECK(persam_prediction_batch(prediction) == 1);
  CHECK(persam_prediction_num_masks(prediction) == 1);
  CHECK(persam_prediction_width(prediction) == 8);
  CHECK(persam_prediction_height(prediction) == 6);
  std::vector<uint8_t> out(48);
  EXPECT_INVALID(persam_prediction_copy_masks(prediction, nullptr, 48), "persam_prediction_copy_masks", "out");
  EXPECT_INVALID(persam_prediction_copy_masks(prediction, out.data(), 47), "persam_prediction_copy_masks",
                 "capacity");
  CHECK(persam_prediction_copy_masks(prediction, out.data(), 48) == PERSAM_OK);
  persam_prediction_free(prediction);

  // PerSAM: NULLs, the mask's size, an empty mask, the target buffer.
  fn = "persam_personalizer_create";
  std::vector<uint8_t> ref_mask(48, 0);
  for (int y = 1; y < 5; ++y) {
    for (int x = 2; x < 7; ++x) ref_mask[y * 8 + x] = 1;
  }
  EXPECT_INVALID(persam_personalizer_create(m, nullptr, ref_mask.data(), 8, 6, nullptr, &personalizer), fn,
                 "reference");
  EXPECT_INVALID(persam_personalizer_create(m, image, nullptr, 8, 6, nullptr, &personalizer), fn, "reference_mask");
  EXPECT_INVALID(persam_personalizer_create(m, image, ref_mask.data(), 8, 6, nullptr, nullptr), fn,
                 "out_personalizer");
  EXPECT_INVALID(persam_personalizer_create(m, image, ref_mask.data(), 6, 8, nullptr, &personalizer), fn,
                 "reference mask is 6 x 8");
  const std::vector<uint8_t> empty(48, 0);
  CHECK(persam_personalizer_create(m, image, empty.data(), 8, 6, nullptr, &personalizer) == PERSAM_ERROR_ENGINE);
  CHECK(Contains(persam_last_error(), fn));
  CHECK(personalizer == nullptr);
  REQUIRE_MESSAGE(persam_personalizer_create(m, image, ref_mask.data(), 8, 6, nullptr, &personalizer) == PERSAM_OK,
                  persam_last_error());
  fn = "persam_personalizer_segment";
  EXPECT_INVALID(persam_personalizer_segment(personalizer, nullptr, out.data(), 48, nullptr), fn, "target");
  EXPECT_INVALID(persam_personalizer_segment(personalizer, image, nullptr, 48, nullptr), fn, "out_mask");
  EXPECT_INVALID(persam_personalizer_segment(personalizer, image, out.data(), 47, nullptr), fn, "capacity");
  persam_personalizer_free(personalizer);

  // The generator's options and its mask set's index and buffer.
  fn = "persam_generate_masks";
  persam_amg_options ao;
  EXPECT_INVALID(persam_generate_masks(m, nullptr, nullptr, &masks), fn, "image");
  EXPECT_INVALID(persam_generate_masks(m, image, nullptr, nullptr), fn, "out_masks");
  struct BadOption {
    void (*set)(persam_amg_options*);
    const char* name;
  };
  const BadOption bad_options[] = {
      {[](persam_amg_options* o) { o->points_per_side = 0; }, "points_per_side"},
      {[](persam_amg_options* o) { o->points_per_side = 1 << 20; }, "points_per_side"},
      {[](persam_amg_options* o) { o->points_per_batch = 0; }, "points_per_batch"},
      {[](persam_amg_options* o) { o->pred_iou_thresh = NAN; }, "pred_iou_thresh"},
      {[](persam_amg_options* o) { o->stability_score_thresh = INFINITY; }, "stability_score_thresh"},
      {[](persam_amg_options* o) { o->stability_score_offset = NAN; }, "stability_score_offset"},
      {[](persam_amg_options* o) { o->box_nms_thresh = NAN; }, "box_nms_thresh"},
      {[](persam_amg_options* o) { o->crop_n_layers = -1; }, "crop_n_layers"},
      {[](persam_amg_options* o) { o->crop_n_layers = 9; }, "crop_n_layers"},
      {[](persam_amg_options* o) { o->crop_nms_thresh = NAN; }, "crop_nms_thresh"},
      {[](persam_amg_options* o) { o->crop_overlap_ratio = 1.0; }, "crop_overlap_ratio"},
      {[](persam_amg_options* o) { o->crop_n_points_downscale_factor = 0; }, "crop_n_points_downscale_factor"},
      {[](persam_amg_options* o) { o->min_mask_region_area = -1; }, "min_mask_region_area"},
      // A crop layer left with no point per side: int(1 / 2^1) == 0.
      {[](persam_amg_options* o) {
         o->points_per_side = 1;
         o->crop_n_layers = 1;
         o->crop_n_points_downscale_factor = 2;
       },
       "layer 1"},
  };
  for (const BadOption& b : bad_options) {
    CAPTURE(b.name);
    persam_amg_options_init(&ao);
    b.set(&ao);
    EXPECT_INVALID(persam_generate_masks(m, image, &ao, &masks), fn, b.name);
    CHECK(masks == nullptr);
  }

  persam_embedding_free(embedding);
  persam_image_free(image);
}

TEST_CASE("the last error is per thread and cleared by a success") {
  persam_image* image = nullptr;
  REQUIRE(persam_image_load(nullptr, &image) == PERSAM_ERROR_INVALID_ARGUMENT);
  const std::string main_error = persam_last_error();
  CHECK(Contains(main_error, "persam_image_load"));

  std::string other_before, other_after, other_cleared;
  std::thread other([&] {
    other_before = persam_last_error();
    persam_set_num_threads(1 << 30);
    other_after = persam_last_error();
    persam_set_num_threads(2);
    other_cleared = persam_last_error();
  });
  other.join();
  CHECK(other_before.empty());
  CHECK(Contains(other_after, "persam_set_num_threads"));
  CHECK(other_cleared.empty());
  CHECK(persam_last_error() == main_error);  // untouched by the other thread

  // A success clears it.
  REQUIRE(persam_set_num_threads(2) == PERSAM_OK);
  CHECK(std::string(persam_last_error()).empty());
}

// ---- Equality with the C++ engine (the CLI) ---------------------------------

// One `persam segment` run: its outputs beside the C API's prediction.
void CompareWithSegment(const persam_prediction* p, const std::string& dir) {
  const int n = persam_prediction_num_masks(p);
  const int h = persam_prediction_height(p), w = persam_prediction_width(p);
  const Json scores = ReadJson(dir + "/scores.json")["scores"];
  REQUIRE(static_cast<int>(scores.items.size()) == n);
  for (int k = 0; k < n; ++k) {
    CAPTURE(k);
    // scores.json holds the float scores as %.17g doubles: exact.
    const float cli = static_cast<float>(scores.items[k].number);
    CHECK(std::memcmp(&cli, &persam_prediction_scores(p)[k], sizeof(float)) == 0);
  }
  const Npy low_res = ReadNpyF32(dir + "/low_res.npy");
  CHECK(low_res.shape == std::vector<int64_t>{n, 256, 256});
  CHECK(BitEqual(low_res.data.data(), persam_prediction_low_res(p), low_res.data.size()));
  const Npy high_res = ReadNpyF32(dir + "/high_res.npy");
  CHECK(high_res.shape == std::vector<int64_t>{n, h, w});
  CHECK(BitEqual(high_res.data.data(), persam_prediction_logits(p), high_res.data.size()));
  const std::vector<uint8_t> masks = Masks(p);
  const size_t plane = static_cast<size_t>(h) * w;
  size_t foreground = 0;
  for (int k = 0; k < n; ++k) {
    CAPTURE(k);
    int mw = 0, mh = 0;
    const std::vector<uint8_t> cli = LoadMaskPng(dir + "/mask_" + std::to_string(k) + ".png", &mw, &mh);
    REQUIRE(mw == w);
    REQUIRE(mh == h);
    const std::vector<uint8_t> mine(masks.begin() + k * plane, masks.begin() + (k + 1) * plane);
    CHECK(CountDifferent(cli, mine) == 0);
    for (uint8_t v : mine) foreground += v;
  }
  CHECK(foreground > 0);  // not vacuous
}

TEST_CASE("predict equals `persam segment` (point and box prompts), boxes batch") {
  if (!HaveFixtures("capi predict vs persam segment")) return;
  const TempDir scratch;
  const std::string& dir = scratch.path();
  const std::string image_path = FixturePath(kCat01);
  persam_image* image = LoadImage(image_path);
  CHECK(persam_image_width(image) == 1277);
  CHECK(persam_image_height(image) == 977);
  persam_embedding* embedding = Embed(image);
  CHECK(persam_embedding_image_width(embedding) == 1277);
  CHECK(persam_embedding_image_height(embedding) == 977);
  const std::string common = "segment --model " + FixturePath("models/sam_vit_tiny.pth") + " --image " + image_path +
                             " --multimask --save-logits";

  SUBCASE("points") {
    // Coordinates exact in float (the C API takes float, the CLI double).
    const float coords[4] = {638.5f, 439.75f, 1149.25f, 97.5f};
    const int32_t labels[2] = {1, 0};
    const persam_prompt prompt = PointsPrompt(coords, labels, 2);
    persam_prediction* p = Predict(embedding, prompt);
    CHECK(persam_prediction_batch(p) == 1);
    CHECK(persam_prediction_num_masks(p) == 3);
    CHECK(persam_prediction_width(p) == 1277);
    CHECK(persam_prediction_height(p) == 977);
    const persam::testing::CliRun r =
        Persam(common + " --point 638.5,439.75 --point 1149.25,97.5,0 --out " + dir + "/points");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    CompareWithSegment(p, dir + "/points");

    // A previous low_res as the mask input, single mask.
    persam_prompt again = prompt;
    again.num_points = 1;
    again.mask_input = persam_prediction_low_res(p) + 256 * 256;  // candidate 1
    again.multimask_output = 0;
    persam_prediction* q = Predict(embedding, again);
    const persam::testing::CliRun r2 = Persam(
        "segment --model " + FixturePath("models/sam_vit_tiny.pth") + " --image " + image_path +
        " --save-logits --point 638.5,439.75 --mask-input " + dir + "/points/low_res.npy:1 --out " + dir + "/mask_in");
    REQUIRE_MESSAGE(r2.code == 0, r2.output);
    CHECK(persam_prediction_num_masks(q) == 1);
    CompareWithSegment(q, dir + "/mask_in");
    persam_prediction_free(q);
    persam_prediction_free(p);
  }

  SUBCASE("box, and several boxes as a batch") {
    const float boxes[8] = {300, 200, 900, 800, 100.5f, 50.25f, 700, 600};
    persam_prompt prompt;
    persam_prompt_init(&prompt);
    prompt.boxes = boxes;
    prompt.num_boxes = 1;
    prompt.multimask_output = 1;
    persam_prediction* one = Predict(embedding, prompt);
    const persam::testing::CliRun r = Persam(common + " --box 300,200,900,800 --out " + dir + "/box");
    REQUIRE_MESSAGE(r.code == 0, r.output);
    CompareWithSegment(one, dir + "/box");

    // Batch of two boxes == one call per box, in order.
    prompt.num_boxes = 2;
    persam_prediction* batch = Predict(embedding, prompt);
    REQUIRE(persam_prediction_batch(batch) == 2);
    REQUIRE(persam_prediction_num_masks(batch) == 3);
    prompt.boxes = boxes + 4;
    prompt.num_boxes = 1;
    persam_prediction* second = Predict(embedding, prompt);
    const size_t plane = 977 * 1277, low = 256 * 256;
    for (int b = 0; b < 2; ++b) {
      CAPTURE(b);
      const persam_prediction* single = b == 0 ? one : second;
      CHECK(BitEqual(persam_prediction_scores(batch) + 3 * b, persam_prediction_scores(single), 3));
      CHECK(BitEqual(persam_prediction_low_res(batch) + 3 * b * low, persam_prediction_low_res(single), 3 * low));
      CHECK(BitEqual(persam_prediction_logits(batch) + 3 * b * plane, persam_prediction_logits(single), 3 * plane));
    }
    const std::vector<uint8_t> masks = Masks(batch), first = Masks(one);
    CHECK(std::equal(first.begin(), first.end(), masks.begin()));
    persam_prediction_free(second);
    persam_prediction_free(batch);
    persam_prediction_free(one);
  }

  SUBCASE("concurrent predictions on one model equal sequential ones") {
    const float coords[4] = {638.5f, 439.75f, 300, 700};
    const int32_t labels[2] = {1, 1};
    persam_prompt prompts[2];
    for (int i = 0; i < 2; ++i) {
      persam_prompt_init(&prompts[i]);
      prompts[i].point_coords = coords + 2 * i;
      prompts[i].point_labels = labels;
      prompts[i].num_points = 1;
      prompts[i].multimask_output = 1;
    }
    persam_prediction* sequential[2] = {Predict(embedding, prompts[0]), Predict(embedding, prompts[1])};
    persam_prediction* parallel[2][4] = {};
    persam_status status[2][4];
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 4; ++i) {
          status[t][i] = persam_predict(Model(), embedding, &prompts[(t + i) % 2], &parallel[t][i]);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (int t = 0; t < 2; ++t) {
      for (int i = 0; i < 4; ++i) {
        CAPTURE(t);
        CAPTURE(i);
        REQUIRE(status[t][i] == PERSAM_OK);
        CheckSamePrediction(parallel[t][i], sequential[(t + i) % 2]);
        persam_prediction_free(parallel[t][i]);
      }
    }
    persam_prediction_free(sequential[0]);
    persam_prediction_free(sequential[1]);
  }

  persam_embedding_free(embedding);
  persam_image_free(image);
}

TEST_CASE("image_from_pixels: RGB, padded stride and RGBA are the same image") {
  if (!HaveFixtures("capi image_from_pixels")) return;
  const int w = 203, h = 151;
  const std::vector<uint8_t> rgb = Pattern(w, h);
  // RGB rows padded to a stride of 3w + 13 with garbage; RGBA with noise alpha.
  const size_t stride = static_cast<size_t>(w) * 3 + 13;
  std::vector<uint8_t> padded(stride * h, 0xEE), rgba(static_cast<size_t>(w) * h * 4);
  for (int y = 0; y < h; ++y) {
    std::memcpy(&padded[y * stride], &rgb[static_cast<size_t>(y) * w * 3], static_cast<size_t>(w) * 3);
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      std::memcpy(&rgba[4 * i], &rgb[3 * i], 3);
      rgba[4 * i + 3] = static_cast<uint8_t>((x * 7 + y * 13) & 0xFF);
    }
  }
  // The same pixels as a PNG file, read with persam_image_load.
  const TempDir scratch;
  const std::string& dir = scratch.path();
  REQUIRE(stbi_write_png((dir + "/pattern.png").c_str(), w, h, 3, rgb.data(), w * 3) != 0);

  persam_image* images[4] = {};
  REQUIRE(persam_image_from_pixels(rgb.data(), w, h, static_cast<size_t>(w) * 3, 3, &images[0]) == PERSAM_OK);
  REQUIRE(persam_image_from_pixels(padded.data(), w, h, stride, 3, &images[1]) == PERSAM_OK);
  REQUIRE(persam_image_from_pixels(rgba.data(), w, h, static_cast<size_t>(w) * 4, 4, &images[2]) == PERSAM_OK);
  images[3] = LoadImage(dir + "/pattern.png");
  const float coords[2] = {w / 2.0f, h / 2.0f};
  const int32_t label = 1;
  const persam_prompt prompt = PointsPrompt(coords, &label, 1);
  persam_prediction* predictions[4] = {};
  for (int i = 0; i < 4; ++i) {
    CHECK(persam_image_width(images[i]) == w);
    CHECK(persam_image_height(images[i]) == h);
    persam_embedding* e = Embed(images[i]);
    predictions[i] = Predict(e, prompt);
    if (i == 0) {
      CHECK(persam_embedding_save(e, (dir + "/0.npy").c_str()) == PERSAM_OK);
    } else {
      CAPTURE(i);
      CheckSamePrediction(predictions[i], predictions[0]);
      // The embeddings themselves are bit-identical too.
      REQUIRE(persam_embedding_save(e, (dir + "/" + std::to_string(i) + ".npy").c_str()) == PERSAM_OK);
      CHECK(ReadFile(dir + "/" + std::to_string(i) + ".npy") == ReadFile(dir + "/0.npy"));
    }
    persam_embedding_free(e);
  }
  const std::vector<uint8_t> masks = Masks(predictions[0]);
  size_t fg = 0;
  for (uint8_t v : masks) fg += v;
  CHECK(fg > 0);
  for (int i = 0; i < 4; ++i) {
    persam_prediction_free(predictions[i]);
    persam_image_free(images[i]);
  }
}

TEST_CASE("embedding save / load round trip; `persam embed` writes the same file") {
  if (!HaveFixtures("capi embedding files")) return;
  const TempDir scratch;
  const std::string& dir = scratch.path();
  const std::string image_path = FixturePath(kCat01);
  persam_image* image = LoadImage(image_path);
  persam_embedding* embedding = Embed(image);
  const std::string path = dir + "/emb.npy";
  REQUIRE_MESSAGE(persam_embedding_save(embedding, path.c_str()) == PERSAM_OK, persam_last_error());
  CHECK(std::string(persam_last_error()).empty());
  const Npy npy = ReadNpyF32(path);
  CHECK(npy.shape == std::vector<int64_t>{1, 256, 64, 64});

  // The CLI's embedding of the same image: the same bytes (both files).
  const persam::testing::CliRun r = Persam("embed --model " + FixturePath("models/sam_vit_tiny.pth") + " --image " +
                                           image_path + " --out " + dir + "/cli.npy");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(ReadFile(dir + "/cli.npy") == ReadFile(path));
  CHECK(ReadFile(dir + "/cli.npy.json") == ReadFile(path + ".json"));

  persam_embedding* loaded = nullptr;
  REQUIRE_MESSAGE(persam_embedding_load(Model(), path.c_str(), 1277, 977, &loaded) == PERSAM_OK, persam_last_error());
  CHECK(persam_embedding_image_width(loaded) == 1277);
  CHECK(persam_embedding_image_height(loaded) == 977);
  const float coords[2] = {638.5f, 439.75f};
  const int32_t label = 1;
  const persam_prompt prompt = PointsPrompt(coords, &label, 1);
  persam_prediction* a = Predict(embedding, prompt);
  persam_prediction* b = Predict(loaded, prompt);
  CheckSamePrediction(a, b);
  persam_prediction_free(a);
  persam_prediction_free(b);
  persam_embedding_free(loaded);

  // For another image size: refused, naming the file.
  loaded = nullptr;
  EXPECT_ENGINE(persam_embedding_load(Model(), path.c_str(), 1282, 1282, &loaded), "persam_embedding_load",
                "emb.npy");
  CHECK(loaded == nullptr);
  // A file that is not an embedding.
  const std::string junk = dir + "/junk.npy";
  { std::ofstream(junk) << "not a npy file"; }
  EXPECT_ENGINE(persam_embedding_load(Model(), junk.c_str(), 1277, 977, &loaded), "persam_embedding_load",
                "junk.npy");
  persam_embedding_free(embedding);
  persam_image_free(image);
}

// ---- PerSAM / PerSAM-F ------------------------------------------------------

void ComparePersonalize(bool finetune) {
  const TempDir scratch;
  const std::string& dir = scratch.path();
  const std::string ref_image = FixturePath("perseg-mini/Images/cat/00.png");
  const std::string ref_mask_path = FixturePath("perseg-mini/Annotations/cat/00.png");
  const std::string target_path = FixturePath(kCat01);
  persam_image* reference = LoadImage(ref_image);
  persam_image* target = LoadImage(target_path);
  // The annotation as the CLI reads it: any non-zero channel is the object.
  const Pixels annotation = LoadPixels(ref_mask_path, 3);
  std::vector<uint8_t> ref_mask(static_cast<size_t>(annotation.width) * annotation.height);
  for (size_t i = 0; i < ref_mask.size(); ++i) {
    ref_mask[i] = (annotation.data[3 * i] | annotation.data[3 * i + 1] | annotation.data[3 * i + 2]) != 0;
  }
  persam_personalize_options options;
  persam_personalize_options_init(&options);
  options.finetune = finetune;
  persam_personalizer* personalizer = nullptr;
  REQUIRE_MESSAGE(persam_personalizer_create(Model(), reference, ref_mask.data(), annotation.width,
                                             annotation.height, &options, &personalizer) == PERSAM_OK,
                  persam_last_error());
  const int w = persam_image_width(target), h = persam_image_height(target);
  std::vector<uint8_t> mask(static_cast<size_t>(w) * h, 0xAB);
  float point[2] = {-1, -1};
  REQUIRE_MESSAGE(persam_personalizer_segment(personalizer, target, mask.data(), mask.size(), point) == PERSAM_OK,
                  persam_last_error());
  CHECK(point[0] >= 0);
  CHECK(point[0] < w);
  CHECK(point[1] >= 0);
  CHECK(point[1] < h);
  size_t fg = 0, not_binary = 0;
  for (uint8_t v : mask) {
    fg += v;
    not_binary += v > 1;
  }
  CHECK(not_binary == 0);
  CHECK(fg > 0);

  const persam::testing::CliRun r =
      Persam("personalize --model " + FixturePath("models/sam_vit_tiny.pth") + " --ref-image " + ref_image +
             " --ref-mask " + ref_mask_path + (finetune ? " --finetune" : "") + " --no-vis --out " + dir + " " +
             target_path);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  int mw = 0, mh = 0;
  const std::vector<uint8_t> cli = LoadMaskPng(dir + "/01.png", &mw, &mh);
  REQUIRE(mw == w);
  REQUIRE(mh == h);
  CHECK(CountDifferent(cli, mask) == 0);

  // The personalizer is reusable: a second segmentation is the same.
  std::vector<uint8_t> again(mask.size());
  REQUIRE(persam_personalizer_segment(personalizer, target, again.data(), again.size(), nullptr) == PERSAM_OK);
  CHECK(again == mask);
  persam_personalizer_free(personalizer);
  persam_image_free(target);
  persam_image_free(reference);
}

TEST_CASE("PerSAM equals `persam personalize`") {
  if (!HaveFixtures("capi PerSAM vs persam personalize")) return;
  ComparePersonalize(false);
}

TEST_CASE("PerSAM-F equals `persam personalize --finetune`") {
  if (!HaveFixtures("capi PerSAM-F vs persam personalize --finetune")) return;
  ComparePersonalize(true);
}

// ---- Automatic mask generation -----------------------------------------------

TEST_CASE("generate_masks equals `persam everything` (uncompressed RLE)") {
  if (!HaveFixtures("capi generate_masks vs persam everything")) return;
  const TempDir scratch;
  const std::string& dir = scratch.path();
  const std::string image_path = FixturePath(kCat01);
  persam_image* image = LoadImage(image_path);
  const int w = persam_image_width(image), h = persam_image_height(image);

  // MobileSAM (the TinyViT encoder), as the reference case d_odd_batch_rle:
  // no score filter and an odd batch size (a last partial batch).
  const std::string model_path = FixturePath("models/mobile_sam_rand_fp16.pth");
  persam_model* model = nullptr;
  REQUIRE_MESSAGE(persam_model_load(model_path.c_str(), nullptr, &model) == PERSAM_OK, persam_last_error());
  persam_model_info info;
  REQUIRE(persam_model_get_info(model, &info) == PERSAM_OK);
  CHECK(std::string(info.encoder) == "tinyvit");
  CHECK(info.embed_grid == 64);
  persam_amg_options options;
  persam_amg_options_init(&options);
  options.points_per_side = 12;
  options.points_per_batch = 17;
  options.pred_iou_thresh = -100;
  options.stability_score_thresh = 0;
  persam_mask_set* masks = nullptr;
  REQUIRE_MESSAGE(persam_generate_masks(model, image, &options, &masks) == PERSAM_OK, persam_last_error());
  const persam::testing::CliRun r = Persam(
      "everything --model " + model_path + " --image " + image_path + " --out " + dir +
      "/amg --points-per-side 12 --points-per-batch 17 --pred-iou-thresh -100 --stability-score-thresh 0"
      " --output-mode uncompressed_rle");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  const Json records = ReadJson(dir + "/amg/masks.json");
  REQUIRE(records.kind == Json::kArray);
  const int count = persam_mask_set_count(masks);
  MESSAGE(count << " masks");
  CHECK(count >= 3);  // not vacuous
  REQUIRE(count == static_cast<int>(records.items.size()));
  std::vector<uint8_t> mask(static_cast<size_t>(w) * h), expected(mask.size());
  for (int i = 0; i < count; ++i) {
    CAPTURE(i);
    const Json& j = records.items[i];
    persam_mask_record rec;
    REQUIRE(persam_mask_set_get(masks, i, &rec) == PERSAM_OK);
    CHECK(rec.area == static_cast<int64_t>(j["area"].number));
    for (int k = 0; k < 4; ++k) {
      CHECK(rec.bbox[k] == static_cast<int>(j["bbox"].items[k].number));
      CHECK(rec.crop_box[k] == static_cast<int>(j["crop_box"].items[k].number));
    }
    const float iou = static_cast<float>(j["predicted_iou"].number);
    CHECK(std::memcmp(&iou, &rec.predicted_iou, sizeof(float)) == 0);
    if (j["stability_score"].kind == Json::kNull) {
      CHECK(std::isnan(rec.stability_score));
    } else {
      const float s = static_cast<float>(j["stability_score"].number);
      CHECK(std::memcmp(&s, &rec.stability_score, sizeof(float)) == 0);
    }
    CHECK(rec.point_coords[0] == j["point_coords"].items[0].items[0].number);
    CHECK(rec.point_coords[1] == j["point_coords"].items[0].items[1].number);

    // The mask: column-major runs starting with background.
    const Json& seg = j["segmentation"];
    REQUIRE(static_cast<int>(seg["size"].items[0].number) == h);
    REQUIRE(static_cast<int>(seg["size"].items[1].number) == w);
    size_t q = 0;
    int64_t area = 0;
    for (size_t run = 0; run < seg["counts"].items.size(); ++run) {
      const size_t end = q + static_cast<size_t>(seg["counts"].items[run].number);
      REQUIRE(end <= expected.size());
      for (; q < end; ++q) expected[(q % h) * w + q / h] = run % 2;
    }
    REQUIRE(q == expected.size());
    std::fill(mask.begin(), mask.end(), 0xAB);
    REQUIRE(persam_mask_set_copy_mask(masks, i, mask.data(), mask.size()) == PERSAM_OK);
    CHECK(mask == expected);
    for (uint8_t v : mask) area += v;
    CHECK(area == rec.area);
  }

  // Indices and buffers.
  persam_mask_record rec;
  uint8_t byte = 0;
  EXPECT_INVALID(persam_mask_set_get(masks, -1, &rec), "persam_mask_set_get", "index -1");
  EXPECT_INVALID(persam_mask_set_get(masks, count, &rec), "persam_mask_set_get", "index " + std::to_string(count));
  EXPECT_INVALID(persam_mask_set_get(masks, 0, nullptr), "persam_mask_set_get", "out_record");
  EXPECT_INVALID(persam_mask_set_copy_mask(masks, count, mask.data(), mask.size()), "persam_mask_set_copy_mask",
                 "index");
  EXPECT_INVALID(persam_mask_set_copy_mask(masks, 0, nullptr, mask.size()), "persam_mask_set_copy_mask", "out");
  EXPECT_INVALID(persam_mask_set_copy_mask(masks, 0, &byte, 1), "persam_mask_set_copy_mask", "capacity");
  persam_mask_set_free(masks);
  persam_image_free(image);
  persam_model_free(model);
}

}  // namespace
