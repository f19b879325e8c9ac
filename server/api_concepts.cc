// Concepts in `persam serve`: POST /api/concept learns one from a reference
// (PerSAM / PerSAM-F) and answers the .concept file `persam learn` writes
// for it; POST /api/concepts takes such a file back (checked as `persam
// find` checks it) for /api/personalize {"concept": id}.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "base/error.h"
#include "concepts/learn.h"
#include "kernels/parallel.h"
#include "server/server_state.h"
#include "weights/mapped_file.h"

namespace persam::server {
namespace {

// WriteConcept is the one writer of the format and writes a file
// (temporary name + rename): the download is that file's bytes, written in
// a private directory removed afterwards.
std::string ConceptFileBytes(const Concept& learned) {
  std::string dir = (std::filesystem::temp_directory_path() / "persam-serve-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) throw Error("cannot create a temporary directory in " + dir);
  struct Remove {
    std::string path;
    ~Remove() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } remove{dir};
  const std::string path = dir + "/learned.concept";
  WriteConcept(path, learned);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error("cannot read back " + path);
  return bytes;
}

void RequireIdentity(const Server::State* s) {
  if (s->options.identity.weights_hash.empty()) {
    throw RequestError(501, "this server was started without the model's identity: concepts are unavailable");
  }
}

void Learn(Server::State* s, const HttpRequest& req, HttpResponse& res) {
  RequireIdentity(s);
  const ConceptRequest request = ParseConceptRequest(req.body.data(), req.body.size());
  const ResolvedReference reference = ResolveReference(s, request.reference);
  const ImageEmbedding& embedding = s->WaitForEmbedding(*reference.image);
  kernels::SetNumThreads(s->options.threads);
  PersonalizeOptions options;
  options.finetune = request.finetune;
  const LearnResult learned = LearnConceptFromEmbedding(s->model, s->options.identity, embedding, reference.mask,
                                                        {request.image_name, request.mask_name}, options);
  res.status = 200;
  res.set_content(ConceptFileBytes(learned.learned), "application/octet-stream");
  res.set_header("Content-Disposition", std::string("attachment; filename=\"") + learned.learned.method() +
                                            ".concept\"");
}

void Upload(Server::State* s, const HttpRequest& req, HttpResponse& res) {
  RequireIdentity(s);
  std::string name = "uploaded concept";
  const std::string& body = UploadedFile(req, "concept", &name);
  auto uploaded = std::make_shared<Concept>(
      ReadConceptFromBytes(BytesFromMemory(name, reinterpret_cast<const uint8_t*>(body.data()), body.size())));
  try {
    CheckConceptModel(*uploaded, name, s->options.identity);
  } catch (const Error& e) {
    // A valid concept of another model: the request conflicts with the
    // server's model, as `persam find --model` refuses it.
    throw RequestError(409, e.what());
  }
  const std::string id = NewId();
  if (!s->concepts.Put(id, uploaded, sizeof(Concept) + body.size())) {
    throw RequestError(413, "the concept exceeds the concept cache");
  }
  std::vector<JsonValue> references;
  for (const ConceptReference& r : uploaded->references) {
    references.push_back(JsonValue::Object({{"image", JsonValue::String(r.image)}, {"mask", JsonValue::String(r.mask)},
                                            {"width", JsonValue::Integer(r.width)},
                                            {"height", JsonValue::Integer(r.height)}}));
  }
  SendJson(res, JsonValue::Object({{"concept", JsonValue::String(id)},
                                   {"method", JsonValue::String(uploaded->method())},
                                   {"model", JsonValue::String(uploaded->model.Describe())},
                                   {"references", JsonValue::Array(std::move(references))}}),
           201);
}

}  // namespace

void AddConceptRoutes(Server::State* s) {
  s->http->Post("/api/concept", [s](const HttpRequest& req, HttpResponse& res) { Learn(s, req, res); });
  s->http->Post("/api/concepts", [s](const HttpRequest& req, HttpResponse& res) { Upload(s, req, res); });
}

}  // namespace persam::server
