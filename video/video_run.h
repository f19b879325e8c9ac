// Running video PerSAM over whole sequences: a DAVIS-layout dataset
// (REFERENCE-VIDEO.md section 1: DAVISTestDataset) or a plain frame folder,
// label PNGs written as the reference writes them, per-sequence crashes
// reported and the next sequence run, and the --report JSON.
// ref: Personalize-SAM/persam_video.py main (the sequence loop), davis2017/
//      davis.py DAVISTestDataset.
#ifndef PERSAM_VIDEO_VIDEO_RUN_H_
#define PERSAM_VIDEO_VIDEO_RUN_H_

#include <functional>
#include <string>
#include <vector>

#include "video/label_png.h"
#include "video/video_segmenter.h"

namespace persam {

struct VideoSequenceInput {
  std::string name;
  std::vector<std::string> frames;       // frame files in order; frame 0 carries the first map
  std::vector<std::string> out_names;    // output PNG per frame (index 0 unused)
  std::string first_map_path;            // for messages
  LabelMap first;                        // ids of frame 0
};

// DAVIS layout: the sequences listed in ROOT/ImageSets/<set> (each line
// stripped of its trailing newline only), or `only` when not empty. Frames
// are {f:05d}.jpg for f below the number of entries in the sequence's
// JPEGImages/480p folder; the first map is Annotations/480p/<seq>/00000.png.
// A sequence that cannot be read becomes an input with `error` set by the
// caller (see RunVideo); this only lists names.
std::vector<std::string> DavisSequenceNames(const std::string& root, const std::string& set,
                                            const std::vector<std::string>& only);
VideoSequenceInput DavisSequence(const std::string& root, const std::string& name);
// A folder of frames (JPEG or PNG, sorted by name; any other file is an
// error naming it) and the first frame's mask: an indexed / greyscale PNG of
// ids, or any image whose non-zero pixels are one object.
VideoSequenceInput FrameFolderSequence(const std::string& frames_dir, const std::string& first_mask);
// The palette the reference writes with: Annotations/480p/bike-packing/
// 00000.png's when present, else the DAVIS palette (sets *source).
std::vector<PaletteEntry> DavisOutputPalette(const std::string& root, std::string* source);

struct VideoSequenceOutcome {
  std::string name;
  bool skipped = false;      // the output folder existed (reference behaviour)
  std::string error;         // the sequence stopped here (other sequences still run)
  int frames_written = 0;
  std::vector<VideoObjectInit> objects;
  std::vector<VideoFrameResult> frames;  // without the label maps
  std::vector<std::string> deviations;
  double seconds_encoder = 0, seconds_total = 0;
};

struct VideoRunOptions {
  VideoOptions video;
  std::string out_dir;
  bool overlay = false;     // also <out>/<seq>/overlay/<name>.jpg
  bool skip_existing = true;  // the reference skips a sequence whose folder exists
};

// Runs one sequence: reads every frame (all must have frame 0's size),
// encodes each once, writes <out>/<seq>/<name>.png. Never throws for the
// sequence's own problems: they end up in `error`.
VideoSequenceOutcome RunVideoSequence(const SamModel& model, const VideoSequenceInput& input,
                                      const std::vector<PaletteEntry>& palette, const VideoRunOptions& options,
                                      const std::function<void(const std::string&)>& progress);

std::string VideoReportJson(const std::vector<VideoSequenceOutcome>& outcomes, const VideoOptions& options);

}  // namespace persam

#endif  // PERSAM_VIDEO_VIDEO_RUN_H_
