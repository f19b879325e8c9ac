// The images `persam find` runs over: files as given, folders searched
// recursively for image files, in sorted order, each with the output name
// it is written under.
#ifndef PERSAM_CONCEPTS_TARGET_LIST_H_
#define PERSAM_CONCEPTS_TARGET_LIST_H_

#include <string>
#include <vector>

namespace persam {

struct TargetImage {
  std::string path;
  // Output name: a file's stem; for a folder's file its path relative to the
  // folder without the extension ("trip/0042"). Unique over the list.
  std::string name;
};

// Files are taken whatever their extension; in folders, .jpg .jpeg .png
// .bmp .tga (any case). Throws persam::Error for a path that does not exist,
// a folder without images, or two targets with the same output name.
std::vector<TargetImage> CollectTargets(const std::vector<std::string>& arguments);

}  // namespace persam

#endif  // PERSAM_CONCEPTS_TARGET_LIST_H_
