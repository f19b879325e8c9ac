#!/usr/bin/python3
"""PyTorch side of the `persam everything` benchmark: times the official
SamAutomaticMaskGenerator on the CPU, with the encoder (SamPredictor.set_image)
timed apart from mask generation.

The official Personalize-SAM code is imported at run time from $REF_SRC (the
folder that holds per_segment_anything/); nothing of it lives in this repository.
Needs Debian's python3-torch python3-torchvision python3-pil libopenblas0-openmp
(python3-opencv only for --min-mask-region-area > 0); run with /usr/bin/python3.

  amg_torch.py --save-checkpoint vit_b_rand.pth [--model vit_b]
      builds the architecture with torch.manual_seed(0) and saves its state_dict
  amg_torch.py --make-image photo.png --from SRC.png
      writes a 1024 x 768 (W x H) RGB PNG: SRC scaled to cover, then center-cropped
  amg_torch.py --checkpoint vit_b_rand.pth --image photo.png [--runs 3] [--threads 2]
      [--points-per-side 32 --points-per-batch 64 --pred-iou-thresh 0.88
       --stability-score-thresh 0.95 --crop-n-layers 0 ...]
      one untimed warm-up run of generate(), then --runs timed ones; prints one JSON line.
      encoder_s: time spent inside predictor.set_image (summed over crops);
      generate_s: generate() wall time minus that (mask generation after the encoder).
"""
import argparse
import json
import os
import statistics
import sys
import time
import types

MAKE_W, MAKE_H = 1024, 768


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vit_b", help="key of sam_model_registry: vit_b, vit_t, vit_l, vit_h")
    ap.add_argument("--checkpoint", help=".pth state_dict to load (default: random init, seed 0)")
    ap.add_argument("--save-checkpoint", metavar="PATH", help="save the seed-0 random state_dict to PATH")
    ap.add_argument("--image", help="image file (read with PIL, converted to RGB)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", metavar="PATH", help="write the last run's mask records (no pixels) as JSON")
    ap.add_argument("--make-image", metavar="OUT", help="helper: write a 1024x768 RGB PNG made --from SRC")
    ap.add_argument("--from", dest="src", metavar="SRC")
    g = ap.add_argument_group("SamAutomaticMaskGenerator parameters (official defaults)")
    g.add_argument("--points-per-side", type=int, default=32)
    g.add_argument("--points-per-batch", type=int, default=64)
    g.add_argument("--pred-iou-thresh", type=float, default=0.88)
    g.add_argument("--stability-score-thresh", type=float, default=0.95)
    g.add_argument("--stability-score-offset", type=float, default=1.0)
    g.add_argument("--box-nms-thresh", type=float, default=0.7)
    g.add_argument("--crop-n-layers", type=int, default=0)
    g.add_argument("--crop-nms-thresh", type=float, default=0.7)
    g.add_argument("--crop-overlap-ratio", type=float, default=512 / 1500)
    g.add_argument("--crop-n-points-downscale-factor", type=int, default=1)
    g.add_argument("--min-mask-region-area", type=int, default=0)
    g.add_argument("--output-mode", default="binary_mask", choices=["binary_mask", "uncompressed_rle", "coco_rle"])
    return ap.parse_args()


def make_image(out, src):
    from PIL import Image
    im = Image.open(src).convert("RGB")
    w, h = im.size
    scale = max(MAKE_W / w, MAKE_H / h)
    nw, nh = max(MAKE_W, round(w * scale)), max(MAKE_H, round(h * scale))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.LANCZOS)
    x0, y0 = (nw - MAKE_W) // 2, (nh - MAKE_H) // 2
    im.crop((x0, y0, x0 + MAKE_W, y0 + MAKE_H)).save(out)
    print(json.dumps({"wrote": out, "from": src, "size": [MAKE_W, MAKE_H]}))


def import_reference():
    """Puts $REF_SRC on sys.path; TinyViT (vit_t) imports three timm helpers that
    Debian lacks, so a small stand-in module is registered when timm is absent."""
    src = os.environ.get("REF_SRC")
    if not src or not os.path.isdir(os.path.join(src, "per_segment_anything")):
        sys.exit("amg_torch.py: set REF_SRC to the folder that holds per_segment_anything/")
    sys.path.insert(0, src)
    try:
        import timm  # noqa: F401
    except ImportError:
        import torch.nn as nn

        class DropPath(nn.Identity):
            def __init__(self, *args, **kwargs):
                super().__init__()

        timm = types.ModuleType("timm")
        models = types.ModuleType("timm.models")
        layers = types.ModuleType("timm.models.layers")
        registry = types.ModuleType("timm.models.registry")
        layers.DropPath = DropPath
        layers.to_2tuple = lambda x: tuple(x) if isinstance(x, (tuple, list)) else (x, x)
        layers.trunc_normal_ = lambda t, std=1.0, **_: nn.init.trunc_normal_(t, std=std)
        registry.register_model = lambda f: f
        models.layers, models.registry, timm.models = layers, registry, models
        sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers,
                            "timm.models.registry": registry})
    try:
        import torchvision  # noqa: F401  (the generator's batched_nms / box_area)
    except ImportError:
        sys.exit("amg_torch.py: torchvision is missing: apt-get install python3-torchvision")
    import per_segment_anything
    return per_segment_anything


def build_model(ref, a):
    import torch
    if a.model not in ref.sam_model_registry:
        sys.exit(f"amg_torch.py: unknown --model {a.model} (have {sorted(ref.sam_model_registry)})")
    torch.manual_seed(0)
    sam = ref.sam_model_registry[a.model]()
    if a.checkpoint:
        state = torch.load(a.checkpoint, map_location="cpu")
        sam.load_state_dict(state)
    return sam.eval()


def main():
    a = parse_args()
    if a.make_image:
        if not a.src:
            sys.exit("amg_torch.py: --make-image needs --from SRC")
        make_image(a.make_image, a.src)
        return
    if not a.save_checkpoint and not a.image:
        sys.exit("amg_torch.py: give --image (benchmark), --save-checkpoint or --make-image; see --help")

    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    ref = import_reference()

    if a.save_checkpoint:
        if a.checkpoint:
            sys.exit("amg_torch.py: --save-checkpoint saves the seed-0 random init; drop --checkpoint")
        t = time.perf_counter()
        sam = build_model(ref, a)
        d = os.path.dirname(os.path.abspath(a.save_checkpoint))
        os.makedirs(d, exist_ok=True)
        torch.save(sam.state_dict(), a.save_checkpoint)
        print(json.dumps({"wrote": a.save_checkpoint, "model": a.model, "seed": 0,
                          "bytes": os.path.getsize(a.save_checkpoint),
                          "seconds": round(time.perf_counter() - t, 2)}))
        if not a.image:
            return
        a.checkpoint = a.save_checkpoint

    from PIL import Image
    image = np.array(Image.open(a.image).convert("RGB"))
    sam = build_model(ref, a)

    params = {
        "points_per_side": a.points_per_side,
        "points_per_batch": a.points_per_batch,
        "pred_iou_thresh": a.pred_iou_thresh,
        "stability_score_thresh": a.stability_score_thresh,
        "stability_score_offset": a.stability_score_offset,
        "box_nms_thresh": a.box_nms_thresh,
        "crop_n_layers": a.crop_n_layers,
        "crop_nms_thresh": a.crop_nms_thresh,
        "crop_overlap_ratio": a.crop_overlap_ratio,
        "crop_n_points_downscale_factor": a.crop_n_points_downscale_factor,
        "min_mask_region_area": a.min_mask_region_area,
        "output_mode": a.output_mode,
    }
    gen = ref.SamAutomaticMaskGenerator(sam, **params)
    pred = gen.predictor

    # The PerSAM fork's predict_torch returns (masks, iou, low_res, high_res); the
    # generator unpacks upstream's three. Trim at run time (as the fixtures were made).
    predict_torch = pred.predict_torch
    pred.predict_torch = lambda *args, **kw: predict_torch(*args, **kw)[:3]

    # Time spent inside set_image (image resize + normalize + encoder), summed over crops.
    clock = {"s": 0.0, "n": 0}
    set_image = pred.set_image

    def timed_set_image(*args, **kw):
        t0 = time.perf_counter()
        try:
            return set_image(*args, **kw)
        finally:
            clock["s"] += time.perf_counter() - t0
            clock["n"] += 1
    pred.set_image = timed_set_image

    enc, rest, total = [], [], []
    records = None
    crashed = {"n": 0}
    with torch.no_grad():
        for i in range(a.warmup + a.runs):
            clock["s"], clock["n"] = 0.0, 0
            t0 = time.perf_counter()
            try:
                records = gen.generate(image)
            except IndexError:
                # REFERENCE-AMG.md section 6: with crop layers, when no mask
                # survives in any crop the reference's cross-crop NMS raises
                # IndexError (its empty crop-box tensor is 1-d), after all the
                # crops' work is done. Time it up to there; no records.
                if a.crop_n_layers == 0:
                    raise
                records = []
                crashed["n"] += 1
            dt = time.perf_counter() - t0
            if i >= a.warmup:
                enc.append(clock["s"])
                rest.append(dt - clock["s"])
                total.append(dt)

    if a.dump:
        keys = ("area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box")
        with open(a.dump, "w") as f:
            json.dump([{k: r[k] for k in keys} for r in records], f)

    r4 = lambda v: [round(x, 4) for x in v]  # noqa: E731
    out = {
        "model": a.model,
        "checkpoint": a.checkpoint or "random-seed0",
        "image": a.image,
        "image_hw": list(image.shape[:2]),
        "threads": a.threads,
        "torch": torch.__version__,
        "params": params,
        "n_masks": len(records),
        "reference_crashed_at_cross_crop_nms": crashed["n"],
        "set_image_calls": clock["n"],
        "encoder_s": r4(enc),
        "generate_s": r4(rest),
        "total_s": r4(total),
    }
    if a.runs > 0:
        out["median_encoder_s"] = round(statistics.median(enc), 4)
        out["median_generate_s"] = round(statistics.median(rest), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
