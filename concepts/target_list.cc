#include "concepts/target_list.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "base/error.h"

namespace persam {
namespace fs = std::filesystem;
namespace {

bool IsImageName(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".tga";
}

}  // namespace

std::vector<TargetImage> CollectTargets(const std::vector<std::string>& arguments) {
  std::vector<TargetImage> targets;
  std::map<std::string, std::string> names;  // name -> path, for the duplicate message
  auto add = [&](const std::string& path, const std::string& name) {
    const auto [it, inserted] = names.emplace(name, path);
    if (!inserted) {
      throw Error("targets '" + it->second + "' and '" + path + "' share the output name '" + name + "'");
    }
    targets.push_back({path, name});
  };
  for (const std::string& argument : arguments) {
    std::error_code ec;
    const fs::file_status status = fs::status(argument, ec);
    if (fs::is_directory(status)) {
      std::vector<fs::path> found;
      for (fs::recursive_directory_iterator it(argument, fs::directory_options::follow_directory_symlink, ec), end;
           !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec) && IsImageName(it->path())) found.push_back(it->path());
      }
      if (ec) throw Error("cannot list target folder '" + argument + "': " + ec.message());
      if (found.empty()) throw Error("target folder '" + argument + "' holds no image (.jpg .jpeg .png .bmp .tga)");
      std::sort(found.begin(), found.end());
      for (const fs::path& p : found) {
        add(p.string(), fs::relative(p, argument).replace_extension().generic_string());
      }
    } else if (fs::is_regular_file(status)) {
      add(argument, fs::path(argument).stem().string());
    } else {
      throw Error("target '" + argument + "' not found (expected an image file or a folder)");
    }
  }
  if (targets.empty()) throw Error("no target image given");
  return targets;
}

}  // namespace persam
