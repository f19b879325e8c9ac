#include "persam/dataset.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>

#include "base/error.h"

namespace persam {
namespace fs = std::filesystem;

namespace {

bool IsImageExtension(std::string ext) {
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

bool IsNumber(const std::string& s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

std::vector<DatasetObject> ScanPerSegDataset(const std::string& root, const std::string& ref_idx) {
  const fs::path images_root = fs::path(root) / "Images";
  const fs::path masks_root = fs::path(root) / "Annotations";
  std::error_code ec;
  if (!fs::is_directory(images_root, ec)) {
    throw Error("dataset '" + root + "': no Images/ directory (expected DATA/Images/<object>/NN.jpg)");
  }
  if (!fs::is_directory(masks_root, ec)) {
    throw Error("dataset '" + root + "': no Annotations/ directory (expected DATA/Annotations/<object>/NN.png)");
  }
  if (!IsNumber(ref_idx)) throw Error("--ref-idx '" + ref_idx + "' is not a number like 00");
  std::vector<DatasetObject> objects;
  for (const auto& entry : fs::directory_iterator(images_root)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.find(".DS") != std::string::npos) continue;
    DatasetObject object;
    object.name = name;
    std::map<int, std::string> by_index;
    for (const auto& file : fs::directory_iterator(entry.path())) {
      if (!file.is_regular_file() || !IsImageExtension(file.path().extension().string())) continue;
      const std::string stem = file.path().stem().string();
      if (!IsNumber(stem)) continue;
      const int index = std::stoi(stem);
      if (by_index.count(index)) {
        throw Error("dataset object '" + name + "': two images numbered " + stem + " ('" + by_index[index] +
                    "', '" + file.path().string() + "')");
      }
      by_index[index] = file.path().string();
    }
    if (by_index.empty()) throw Error("dataset object '" + name + "': no NN.jpg / NN.png image in " + entry.path().string());
    const int ref = std::stoi(ref_idx);
    if (!by_index.count(ref)) {
      throw Error("dataset object '" + name + "': no reference image " + ref_idx + ".jpg or " + ref_idx + ".png");
    }
    object.ref_image = by_index[ref];
    const fs::path ref_mask = masks_root / name / (ref_idx + ".png");
    if (!fs::is_regular_file(ref_mask, ec)) {
      throw Error("dataset object '" + name + "': reference mask '" + ref_mask.string() + "' not found");
    }
    object.ref_mask = ref_mask.string();
    for (const auto& [index, path] : by_index) {
      char stem[16];
      std::snprintf(stem, sizeof(stem), "%02d", index);
      object.images.push_back({index, stem, path});
    }
    objects.push_back(std::move(object));
  }
  if (objects.empty()) throw Error("dataset '" + root + "': no object directory in " + images_root.string());
  std::sort(objects.begin(), objects.end(),
            [](const DatasetObject& a, const DatasetObject& b) { return a.name < b.name; });
  return objects;
}

}  // namespace persam
