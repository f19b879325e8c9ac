// `persam video`: PerSAM / PerSAM-F through video sequences, several objects
// at once, as the official persam_video.py / persam_video_f.py run them
// (--mode reference) or with the spec's fixes (--mode corrected).
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/sam_model.h"
#include "tools/cli.h"
#include "tools/precision_option.h"
#include "video/video_run.h"

namespace persam::cli {
namespace {

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) throw UsageError{"--sequences has an empty name in '" + s + "'"};
    out.push_back(item);
  }
  return out;
}

int RunVideo(const Args& args) {
  if (!args.positionals().empty()) throw UsageError{"unexpected argument '" + args.positionals()[0] + "'"};
  const std::string model_path = args.Required("model");
  const std::string out_dir = args.Required("out");
  const auto davis = args.Value("davis");
  const auto frames = args.Value("frames");
  if (davis.has_value() == frames.has_value()) throw UsageError{"give either --davis ROOT or --frames DIR"};
  if (frames && !args.Value("first-mask")) throw UsageError{"--frames needs --first-mask MASK.png"};
  if (davis && args.Value("first-mask")) throw UsageError{"--first-mask goes with --frames (DAVIS reads Annotations/)"};
  if (!davis && (args.Value("set") || args.Value("sequences"))) throw UsageError{"--set / --sequences need --davis"};
  if (args.Value("set") && args.Value("sequences")) throw UsageError{"give --set or --sequences, not both"};

  VideoRunOptions options;
  options.out_dir = out_dir;
  options.overlay = args.Flag("overlay");
  options.video.finetune = args.Flag("finetune");
  const std::string mode = args.Value("mode").value_or("reference");
  if (mode == "reference") {
    options.video.mode = VideoMode::kReference;
  } else if (mode == "corrected") {
    options.video.mode = VideoMode::kCorrected;
  } else {
    throw UsageError{"--mode expects 'reference' or 'corrected', got '" + mode + "'"};
  }
  options.video.topk = args.Int("topk", 0);
  if (options.video.topk < 0 || options.video.topk > 64) throw UsageError{"--topk expects 1..64"};
  options.video.training.steps = args.Int("epochs", 800);
  if (options.video.training.steps < 1) throw UsageError{"--epochs expects a positive integer"};
  // The reference skips a sequence whose output folder exists; corrected
  // mode overwrites it.
  options.skip_existing = options.video.mode == VideoMode::kReference;

  // Inputs first: argument mistakes are reported before the model loads.
  std::vector<std::string> names;
  std::vector<PaletteEntry> palette;
  std::string palette_source;
  if (davis) {
    const std::vector<std::string> only = args.Value("sequences") ? SplitCommas(*args.Value("sequences")) : std::vector<std::string>{};
    names = DavisSequenceNames(*davis, args.Value("set").value_or("2017/val.txt"), only);
    if (options.video.mode == VideoMode::kReference) {
      palette = DavisOutputPalette(*davis, &palette_source);
    } else {
      palette = DavisPalette(), palette_source = "DAVIS (PASCAL VOC) palette";
    }
  } else {
    palette = DavisPalette(), palette_source = "DAVIS (PASCAL VOC) palette";
  }
  std::unique_ptr<VideoSequenceInput> folder;
  if (frames) folder = std::make_unique<VideoSequenceInput>(FrameFolderSequence(*frames, *args.Value("first-mask")));

  Progress(args, "loading " + model_path);
  const std::unique_ptr<SamModel> model = SamModel::Load(model_path, ModelLoadOptions(args));
  EndProgress(args);
  auto progress = [&](const std::string& line) { Progress(args, line); };

  std::vector<VideoSequenceOutcome> outcomes;
  int failed = 0;
  const size_t count = folder ? 1 : names.size();
  for (size_t i = 0; i < count; ++i) {
    VideoSequenceOutcome outcome;
    try {
      const VideoSequenceInput input = folder ? *folder : DavisSequence(*davis, names[i]);
      outcome = RunVideoSequence(*model, input, palette, options, progress);
    } catch (const Error& e) {
      outcome.name = folder ? folder->name : names[i];
      outcome.error = e.what();
    }
    EndProgress(args);
    if (outcome.skipped) {
      Say(args, "%s: output folder exists, skipped (as the reference does; --mode corrected overwrites)\n", outcome.name.c_str());
    } else if (!outcome.error.empty()) {
      ++failed;
      std::fprintf(stderr, "persam video: sequence '%s': %s\n", outcome.name.c_str(), outcome.error.c_str());
    } else {
      Say(args, "%s: %d frames, %zu object(s), %.2f s (encoder %.2f s)\n", outcome.name.c_str(), outcome.frames_written,
          outcome.objects.size(), outcome.seconds_total, outcome.seconds_encoder);
    }
    for (const std::string& d : outcome.deviations) Say(args, "  corrected: %s\n", d.c_str());
    outcomes.push_back(std::move(outcome));
  }
  if (auto report = args.Value("report")) {
    std::ofstream out(*report, std::ios::binary);
    out << VideoReportJson(outcomes, options.video);
    if (!out.flush()) throw Error("cannot write '" + *report + "'");
  }
  Say(args, "palette: %s\n", palette_source.c_str());
  return failed > 0 ? 1 : 0;
}

}  // namespace

extern const Command kVideoCommand = {
    "video",
    "PerSAM / PerSAM-F through video sequences (as persam_video*.py)",
    "usage: persam video --model M --davis ROOT [--set 2017/val.txt | --sequences a,b]\n"
    "                    [--finetune] [--mode reference|corrected] --out DIR\n"
    "       persam video --model M --frames DIR --first-mask MASK.png [...] --out DIR\n\n"
    "Segments the objects of the first frame's label map in every later frame:\n"
    "target feature per object from frame 0, then per frame the location prior\n"
    "(top-k points), the box of the object in the previous frame grown by 10 px\n"
    "and its centre, three decoder calls, and the objects fused by logit\n"
    "arg-max. Writes DIR/<seq>/<frame>.png (indexed, DAVIS palette, ids 1..N;\n"
    "no frame 0). Score with: persam eval --davis ROOT --results DIR.\n\n"
    "  --model M         SAM checkpoint (.pth / .safetensors)\n"
    "  --davis ROOT      DAVIS 2017 layout (JPEGImages/480p, Annotations/480p, ImageSets)\n"
    "  --set F           image set under ROOT/ImageSets (default 2017/val.txt)\n"
    "  --sequences a,b   these sequences instead of the set\n"
    "  --frames DIR      any folder of frames (JPEG/PNG, sorted by name)\n"
    "  --first-mask P    its first frame's mask: indexed PNG of ids, or a binary mask\n"
    "  --finetune        PerSAM-F: 800 steps per object on frame 0 (lr 4e-4), top-1 point\n"
    "  --epochs N        PerSAM-F training steps (default 800)\n"
    "  --topk K          prior points per object (default 2; PerSAM-F 1)\n"
    "  --mode M          reference (default): the official scripts' behaviour, bugs\n"
    "                    included (a sequence stops where they crash; an existing\n"
    "                    output folder is skipped); corrected: the fixes of the\n"
    "                    spec, each one that fired printed and in the report\n"
    "  --overlay         also DIR/<seq>/overlay/<frame>.jpg (colours, points, boxes)\n"
    "  --report F.json   per frame and object: points, boxes, scores, choices,\n"
    "                    PerSAM-F weights and loss log\n"
    PERSAM_PRECISION_HELP,
    {"model", "davis", "set", "sequences", "frames", "first-mask", "out", "mode", "topk", "epochs", "report",
     kPrecisionOptionName},
    {"finetune", "overlay"},
    RunVideo,
};

}  // namespace persam::cli
