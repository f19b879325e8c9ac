// The PerSeg dataset layout: DATA/Images/<object>/NN.jpg|png and
// DATA/Annotations/<object>/NN.png (REFERENCE.md section 9).
#ifndef PERSAM_PERSAM_DATASET_H_
#define PERSAM_PERSAM_DATASET_H_

#include <string>
#include <vector>

namespace persam {

struct DatasetImage {
  int index = 0;
  std::string name;  // "%02d" of the index: the reference's output stem
  std::string path;
};

struct DatasetObject {
  std::string name;
  std::string ref_image, ref_mask;
  std::vector<DatasetImage> images;  // every image, the reference included, by index
};

// Objects sorted by name (the reference walks os.listdir order; names with
// ".DS" are skipped as there). Images are the files whose stem is a number and
// whose extension is .jpg, .jpeg or .png, sorted by number. Throws
// persam::Error when the layout is broken: no Images/ or Annotations/, an
// object without images, without the reference image or its mask, or two
// images with the same number.
std::vector<DatasetObject> ScanPerSegDataset(const std::string& root, const std::string& ref_idx = "00");

}  // namespace persam

#endif  // PERSAM_PERSAM_DATASET_H_
