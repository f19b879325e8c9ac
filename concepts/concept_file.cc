#include "concepts/concept_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "weights/checkpoint.h"
#include "weights/json.h"

namespace persam {
namespace {

constexpr char kFormat[] = "persam-concept";
constexpr int64_t kMaxChannels = 4096;
constexpr int64_t kMaxReferences = 10000;

Tensor F32(std::vector<int64_t> shape, const float* values) { return Tensor::FromFloat32(std::move(shape), values); }

Tensor I32(std::vector<int64_t> shape, const std::vector<int32_t>& values) {
  auto buffer = std::make_shared<std::vector<int32_t>>(values);
  Tensor t;
  t.dtype = DType::kI32;
  t.shape = std::move(shape);
  t.data = reinterpret_cast<const uint8_t*>(buffer->data());
  t.owner = buffer;
  return t;
}

std::string FloatText(double v) { return WriteJson(JsonValue::Number(v)); }

// The tensors of a concept.
TensorMap ConceptTensors(const Concept& c) {
  TensorMap tensors;
  const int64_t channels = static_cast<int64_t>(c.target.feat.size());
  tensors["target_feat"] = F32({channels}, c.target.feat.data());
  tensors["target_embedding"] = F32({channels}, c.target.embedding.data());
  if (c.finetune) tensors["mask_weights"] = F32({3}, c.mask_weights.data());
  std::vector<float> sims;
  std::vector<int32_t> sizes;
  for (const ConceptReference& r : c.references) {
    sims.insert(sims.end(), {r.peak_similarity, r.mean_similarity});
    sizes.insert(sizes.end(), {r.height, r.width});
  }
  const int64_t refs = static_cast<int64_t>(c.references.size());
  tensors["reference_similarity"] = F32({refs, 2}, sims.data());
  tensors["reference_size"] = I32({refs, 2}, sizes);
  return tensors;
}

// WeightsHash of the tensors and the metadata (but content_hash itself), the
// metadata as one more byte tensor: every byte of the file but the padding
// is covered, so a flipped bit is an error, not a different concept.
std::string ContentHash(TensorMap tensors, std::map<std::string, std::string> metadata) {
  metadata.erase("content_hash");
  auto bytes = std::make_shared<std::string>();
  for (const auto& [key, value] : metadata) *bytes += key + '\0' + value + '\0';
  Tensor meta;
  meta.dtype = DType::kU8;
  meta.shape = {static_cast<int64_t>(bytes->size())};
  meta.data = reinterpret_cast<const uint8_t*>(bytes->data());
  meta.owner = bytes;
  tensors["\0metadata"] = std::move(meta);  // no safetensors name starts with NUL
  return WeightsHash(tensors);
}

class Reader {
 public:
  Reader(const Checkpoint& file, const std::string& path) : file_(file), path_(path) {}

  [[noreturn]] void Fail(const std::string& what) const { throw Error("concept '" + path_ + "': " + what); }

  const std::string& Meta(const std::string& key) const {
    const auto it = file_.metadata.find(key);
    if (it == file_.metadata.end()) Fail("missing metadata '" + key + "'");
    return it->second;
  }

  double Number(const std::string& key) const {
    const std::string& text = Meta(key);
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(v)) Fail("metadata '" + key + "' is not a finite number");
    return v;
  }

  // A float32 tensor of exactly `shape`, every value finite.
  std::vector<float> Floats(const std::string& name, const std::vector<int64_t>& shape) const {
    const Tensor& t = Find(name, DType::kF32, shape);
    std::vector<float> v(static_cast<size_t>(t.NumElements()));
    if (!v.empty()) std::memcpy(v.data(), t.data, t.NumBytes());
    for (float x : v) {
      if (!std::isfinite(x)) Fail("tensor '" + name + "' holds a value that is not finite");
    }
    return v;
  }

  const Tensor& Find(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const {
    const auto it = file_.tensors.find(name);
    if (it == file_.tensors.end()) Fail("missing tensor '" + name + "'");
    if (it->second.dtype != dtype || it->second.shape != shape) {
      Fail("tensor '" + name + "' is " + DTypeSafetensorsName(it->second.dtype) + " " +
           ShapeToString(it->second.shape) + ", expected " + DTypeSafetensorsName(dtype) + " " + ShapeToString(shape));
    }
    return it->second;
  }

 private:
  const Checkpoint& file_;
  const std::string& path_;
};

}  // namespace

bool IsConceptMetadata(const std::map<std::string, std::string>& metadata) {
  const auto it = metadata.find("format");
  return it != metadata.end() && it->second == kFormat;
}

float Concept::ReferencePeak() const {
  float peak = INFINITY;
  for (const ConceptReference& r : references) peak = std::min(peak, r.peak_similarity);
  return references.empty() ? 1.0f : peak;
}

void WriteConcept(const std::string& path, const Concept& c) {
  if (c.references.empty() || c.target.feat.empty() || c.target.embedding.size() != c.target.feat.size()) {
    throw Error("concept '" + path + "': nothing learned to write");
  }
  const TensorMap tensors = ConceptTensors(c);
  std::vector<JsonValue> refs;
  for (const ConceptReference& r : c.references) {
    refs.push_back(JsonValue::Object({{"image", JsonValue::String(r.image)}, {"mask", JsonValue::String(r.mask)}}));
  }
  std::map<std::string, std::string> meta = {
      {"format", kFormat},
      {"format_version", std::to_string(kConceptFormatVersion)},
      {"method", c.method()},
      {"model.architecture", c.model.architecture},
      {"model.weights_hash", c.model.weights_hash},
      {"model.precision", c.model.precision},
      {"model.file", c.model.file},
      {"references", WriteJson(JsonValue::Array(std::move(refs)))},
  };
  if (c.finetune) {
    meta["train.steps"] = std::to_string(c.training.steps);
    meta["train.lr"] = FloatText(c.training.lr);
  }
  meta["content_hash"] = ContentHash(tensors, meta);
  WriteSafetensors(path, tensors, meta);
}

Concept ReadConceptFromBytes(const FileBytes& bytes) {
  const std::string& path = bytes.path;
  Checkpoint file;
  try {
    file = ReadSafetensors(bytes);
  } catch (const Error& e) {
    throw Error("concept '" + path + "' is not a readable concept file: " + e.what());
  }
  const Reader in(file, path);
  if (!IsConceptMetadata(file.metadata)) {
    in.Fail("not a concept file (no metadata format = persam-concept; write one with 'persam learn')");
  }
  Concept c;
  const std::string& version = in.Meta("format_version");
  if (version != std::to_string(kConceptFormatVersion)) {
    in.Fail("format version '" + version + "', this build reads version " + std::to_string(kConceptFormatVersion));
  }
  if (in.Meta("content_hash") != ContentHash(file.tensors, file.metadata)) {
    in.Fail("content hash does not match its tensors and metadata (the file is corrupt)");
  }
  const std::string& method = in.Meta("method");
  if (method != "persam" && method != "persam_f") in.Fail("unknown method '" + method + "' (persam or persam_f)");
  c.finetune = method == "persam_f";
  c.model.architecture = in.Meta("model.architecture");
  c.model.weights_hash = in.Meta("model.weights_hash");
  c.model.precision = in.Meta("model.precision");
  c.model.file = in.Meta("model.file");

  const auto feat = file.tensors.find("target_feat");
  if (feat == file.tensors.end() || feat->second.shape.size() != 1 || feat->second.shape[0] < 1 ||
      feat->second.shape[0] > kMaxChannels) {
    in.Fail("missing tensor 'target_feat' of shape [C] (1 <= C <= " + std::to_string(kMaxChannels) + ")");
  }
  const int64_t channels = feat->second.shape[0];
  c.target.feat = in.Floats("target_feat", {channels});
  c.target.embedding = in.Floats("target_embedding", {channels});
  double norm = 0;
  for (float v : c.target.feat) norm += static_cast<double>(v) * v;
  if (std::fabs(std::sqrt(norm) - 1.0) > 1e-3) in.Fail("target_feat is not of unit length");
  size_t expected = 4;
  if (c.finetune) {
    const std::vector<float> w = in.Floats("mask_weights", {3});
    std::copy(w.begin(), w.end(), c.mask_weights.begin());
    const double steps = in.Number("train.steps");
    if (steps < 0 || steps > 1e9 || steps != std::floor(steps)) in.Fail("metadata 'train.steps' is not a step count");
    c.training.steps = static_cast<int>(steps);
    c.training.lr = in.Number("train.lr");
    ++expected;
  }
  const auto sims = file.tensors.find("reference_similarity");
  if (sims == file.tensors.end() || sims->second.shape.size() != 2 || sims->second.shape[0] < 1 ||
      sims->second.shape[0] > kMaxReferences) {
    in.Fail("missing tensor 'reference_similarity' of shape [R, 2] (1 <= R <= " + std::to_string(kMaxReferences) + ")");
  }
  const int64_t count = sims->second.shape[0];
  const std::vector<float> sim = in.Floats("reference_similarity", {count, 2});
  const Tensor& size = in.Find("reference_size", DType::kI32, {count, 2});
  std::vector<int32_t> sizes(static_cast<size_t>(2 * count));
  std::memcpy(sizes.data(), size.data, size.NumBytes());
  JsonValue refs;
  try {
    const std::string& text = in.Meta("references");
    refs = ParseJson(text.data(), text.size(), "metadata 'references'");
  } catch (const Error& e) {
    in.Fail(e.what());
  }
  if (!refs.IsArray() || static_cast<int64_t>(refs.size()) != count) {
    in.Fail("metadata 'references' is not an array of " + std::to_string(count) + " entries");
  }
  for (int64_t i = 0; i < count; ++i) {
    ConceptReference r;
    const JsonValue& entry = refs.Items()[i];
    const JsonValue* image = entry.IsObject() ? entry.Find("image") : nullptr;
    const JsonValue* mask = entry.IsObject() ? entry.Find("mask") : nullptr;
    if (image == nullptr || mask == nullptr || !image->IsString() || !mask->IsString()) {
      in.Fail("metadata 'references' entry " + std::to_string(i) + " is not {\"image\", \"mask\"}");
    }
    r.image = image->AsString();
    r.mask = mask->AsString();
    r.height = sizes[2 * i];
    r.width = sizes[2 * i + 1];
    if (r.height <= 0 || r.width <= 0) in.Fail("reference_size holds a size that is not positive");
    r.peak_similarity = sim[2 * i];
    r.mean_similarity = sim[2 * i + 1];
    if (!(r.peak_similarity > 0.0f) || r.peak_similarity > 1.001f) {
      in.Fail("reference_similarity: peak " + FloatText(r.peak_similarity) + " is not a cosine in (0, 1]");
    }
    c.references.push_back(std::move(r));
  }
  if (file.tensors.size() != expected) in.Fail("holds tensors other than a " + method + " concept's");
  return c;
}

Concept ReadConcept(const std::string& path) { return ReadConceptFromBytes(MapFile(path)); }

void CheckConceptModel(const Concept& c, const std::string& concept_path, const ConceptModelIdentity& model) {
  if (c.model.SameModel(model)) return;
  throw Error("concept '" + concept_path + "' was learned with model " + c.model.Describe() +
              ", but --model is " + model.Describe() + ": learn the concept again with this model");
}

}  // namespace persam
