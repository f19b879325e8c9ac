// `persam download`: an official checkpoint (or any URL with a pinned
// SHA-256) into a folder, resumable, verified, optionally converted.
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "download/http_download.h"
#include "download/official_checkpoints.h"
#include "download/sha256_file.h"
#include "tools/cli.h"

namespace persam::cli {

extern const Command kConvertCommand;

namespace {

struct Target {
  std::string url, file_name, sha256;
  uint64_t size = 0;
};

bool IsHexDigest(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

Target ResolveTarget(const Args& args) {
  Target t;
  const auto url = args.Value("url");
  if (url) {
    if (!args.positionals().empty()) throw UsageError{"give a model name or --url, not both"};
    if (args.Value("base-url")) throw UsageError{"--base-url applies to the official models, not to --url"};
    t.url = *url;
    const size_t slash = t.url.find_last_of('/');
    t.file_name = t.url.substr(slash == std::string::npos ? 0 : slash + 1);
    t.file_name = t.file_name.substr(0, t.file_name.find_first_of("?#"));
    if (t.file_name.empty()) throw UsageError{"--url '" + t.url + "' does not end in a file name"};
    const auto sha = args.Value("sha256");
    if (sha) {
      if (!IsHexDigest(*sha)) throw UsageError{"--sha256 expects 64 lower-case hex digits, got '" + *sha + "'"};
      t.sha256 = *sha;
    } else if (!args.Flag("no-verify")) {
      throw UsageError{"--url needs --sha256 HEX (or --no-verify to keep an unverified file)"};
    }
    if (const auto size = args.Value("size")) {
      char* end = nullptr;
      t.size = std::strtoull(size->c_str(), &end, 10);
      if (size->empty() || *end != '\0' || size->find('-') != std::string::npos || t.size == 0) {
        throw UsageError{"--size expects a positive byte count, got '" + *size + "'"};
      }
    }
    return t;
  }
  if (args.positionals().size() != 1) throw UsageError{"expected one model name: vit_b, vit_l, vit_h or vit_t"};
  if (args.Value("sha256") || args.Value("size")) throw UsageError{"--sha256 / --size only apply with --url"};
  const std::string& name = args.positionals()[0];
  const OfficialCheckpoint* c = FindOfficialCheckpoint(name);
  if (c == nullptr) throw UsageError{"unknown model '" + name + "': expected vit_b, vit_l, vit_h or vit_t"};
  t.file_name = c->file_name;
  t.url = c->url;
  if (const auto base = args.Value("base-url")) {
    std::string b = *base;
    while (!b.empty() && b.back() == '/') b.pop_back();
    t.url = b + "/" + t.file_name;
  }
  t.sha256 = c->sha256;
  t.size = c->size;
  return t;
}

std::string Megabytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

// Redrawn in place on a terminal; elsewhere (logs, CI) one line per 10 %.
std::function<void(uint64_t, uint64_t)> ProgressPrinter(const Args& args, const std::string& file_name) {
  const bool tty = isatty(STDERR_FILENO);
  auto last_decile = std::make_shared<int>(-1);
  return [&args, file_name, tty, last_decile](uint64_t done, uint64_t total) {
    if (args.quiet()) return;
    const int percent = total > 0 ? static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)) : -1;
    const std::string line = file_name + ": " + Megabytes(done) + (total > 0 ? " of " + Megabytes(total) : "") +
                             (percent >= 0 ? " (" + std::to_string(percent) + "%)" : "");
    if (tty) {
      Progress(args, line);
    } else if (done > 0 && percent >= 0 && percent / 10 > *last_decile) {
      *last_decile = percent / 10;
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };
}

// The SHA-256 check; a file that fails it is removed (resuming from it
// would only keep it wrong).
void Verify(const Args& args, const Target& t, const std::string& path) {
  if (t.sha256.empty()) {
    Say(args, "%s: NOT verified (no SHA-256 recorded for it); its SHA-256 is %s\n", path.c_str(),
        Sha256OfFile(path).c_str());
    return;
  }
  const std::string actual = Sha256OfFile(path);
  if (actual != t.sha256) {
    std::filesystem::remove(path);
    throw Error(t.url + ": SHA-256 mismatch: got " + actual + ", expected " + t.sha256 +
                " (the file was removed; check the URL or mirror and run again)");
  }
}

int RunDownload(const Args& args) {
  const Target t = ResolveTarget(args);
  const std::string dir = args.Value("dir").value_or(".");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("cannot create --dir '" + dir + "': " + ec.message());
  const std::string path = (std::filesystem::path(dir) / t.file_name).string();
  const std::string part = path + ".part";

  if (std::filesystem::exists(path)) {
    if (t.sha256.empty()) throw Error("'" + path + "' already exists and cannot be verified; remove it to download again");
    if (Sha256OfFile(path) != t.sha256) {
      throw Error("'" + path + "' already exists and its SHA-256 is not " + t.sha256 +
                  ": remove it to download again");
    }
    Say(args, "%s: already present, SHA-256 verified\n", path.c_str());
  } else {
    DownloadRequest request;
    request.url = t.url;
    request.part_path = part;
    request.expected_size = t.size;
    request.progress = ProgressPrinter(args, t.file_name);
    Say(args, "downloading %s\n", t.url.c_str());
    DownloadOutcome outcome;
    try {
      outcome = DownloadToPartFile(request);
    } catch (...) {
      EndProgress(args);
      std::error_code ignored;
      if (std::filesystem::file_size(part, ignored) == 0 && !ignored) std::filesystem::remove(part, ignored);
      throw;
    }
    EndProgress(args);
    if (outcome.resumed_from > 0) Say(args, "resumed after %" PRIu64 " bytes already in %s\n", outcome.resumed_from, part.c_str());
    if (t.size > 0 && outcome.bytes != t.size) {
      std::filesystem::remove(part);
      throw Error(t.url + ": got " + std::to_string(outcome.bytes) + " bytes, the recorded size is " +
                  std::to_string(t.size) + " (the file was removed)");
    }
    Verify(args, t, part);
    std::filesystem::rename(part, path, ec);
    if (ec) throw Error("cannot rename '" + part + "' to '" + path + "': " + ec.message());
    if (!t.sha256.empty()) Say(args, "%s: %s, SHA-256 verified\n", path.c_str(), Megabytes(outcome.bytes).c_str());
  }

  if (args.Flag("convert")) {
    const std::string out = (std::filesystem::path(dir) / std::filesystem::path(t.file_name).stem()).string() +
                            ".safetensors";
    if (out == path) throw Error("--convert would overwrite '" + path + "' with its own conversion");
    std::vector<std::string> convert_argv = {path, out};
    if (const auto dtype = args.Value("dtype")) convert_argv.push_back("--dtype=" + *dtype);
    if (args.quiet()) convert_argv.push_back("--quiet");
    const Args convert_args("convert", convert_argv, kConvertCommand.value_options, kConvertCommand.flags);
    return kConvertCommand.run(convert_args);
  }
  if (args.Value("dtype")) throw UsageError{"--dtype only applies with --convert"};
  return 0;
}

}  // namespace

extern const Command kDownloadCommand = {
    "download",
    "fetch an official SAM / MobileSAM checkpoint (resumable, SHA-256 verified)",
    "usage: persam download vit_b|vit_l|vit_h|vit_t [--dir D] [--convert [--dtype T]] [--base-url URL]\n"
    "       persam download --url URL --sha256 HEX [--size BYTES] [--dir D] [--convert]\n"
    "\n"
    "Fetches the official checkpoint into D (default: the current folder):\n"
    "  vit_b  sam_vit_b_01ec64.pth  375 MB   SAM ViT-B (Meta)\n"
    "  vit_l  sam_vit_l_0b3195.pth  1.25 GB  SAM ViT-L (Meta)\n"
    "  vit_h  sam_vit_h_4b8939.pth  2.56 GB  SAM ViT-H (Meta)\n"
    "  vit_t  mobile_sam.pt         41 MB    MobileSAM (TinyViT)\n"
    "from Meta's dl.fbaipublicfiles.com and MobileSAM's GitHub repository, and\n"
    "checks the size and SHA-256 the engine records for each file; a file that\n"
    "does not match is removed and the command fails. The data arrives in\n"
    "D/FILE.part: when the transfer is cut, running the same command again\n"
    "continues from there (HTTP Range). Progress goes to stderr. An existing\n"
    "D/FILE is checked, not fetched again.\n"
    "\n"
    "  --dir D         destination folder (created if needed)\n"
    "  --convert       also write D/<file stem>.safetensors ('persam convert')\n"
    "  --dtype T       with --convert: f32, f16, bf16 or int8 (see 'persam convert --help')\n"
    "  --base-url URL  a mirror holding the same files: fetches URL/FILE instead\n"
    "                  (still checked against the recorded SHA-256)\n"
    "  --url URL       any other file, checked against --sha256 HEX (and --size\n"
    "                  BYTES when given); --no-verify keeps it unchecked\n"
    "\n"
    "Without network it fails naming the URL and libcurl's reason; HTTPS\n"
    "proxies are taken from the usual https_proxy / no_proxy variables.\n"
    "\n"
    "exit status: 0 when the file is present and verified, 1 on a network,\n"
    "size or checksum failure, 2 on a command-line error.\n",
    {"dir", "base-url", "url", "sha256", "size", "dtype"},
    {"convert", "no-verify"},
    RunDownload,
};

}  // namespace persam::cli
