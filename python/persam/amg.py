"""Automatic mask generation (segment_anything.SamAutomaticMaskGenerator)."""
from ctypes import byref, c_void_p

import numpy as np

from . import _lib
from ._handles import make_image, u8_ptr
from .errors import InvalidArgumentError

OPTION_NAMES = tuple(name for name, _ in _lib.AmgOptions._fields_)
OUTPUT_MODES = ("binary_mask", "uncompressed_rle")


def default_options():
    """The official defaults as a dict (points_per_side=32, ...)."""
    o = _lib.AmgOptions()
    _lib.lib().persam_amg_options_init(byref(o))
    return {name: getattr(o, name) for name in OPTION_NAMES}


def mask_to_rle(mask):
    """segment_anything's uncompressed RLE: {"size": [H, W], "counts": [...]},
    column-major runs starting with background."""
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).T.ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [h, w], "counts": counts}


def rle_to_mask(rle):
    h, w = rle["size"]
    flat = np.zeros(h * w, dtype=bool)
    pos, value = 0, False
    for n in rle["counts"]:
        if value:
            flat[pos:pos + n] = True
        pos += n
        value = not value
    return flat.reshape(w, h).T


def generate_masks(model, image, output_mode="binary_mask", image_format="RGB", **options):
    """Every mask of `image` (array or path) as the official generator's
    records: dicts with segmentation (H x W bool, or an uncompressed RLE),
    area, bbox [x, y, w, h], predicted_iou, point_coords [[x, y]],
    stability_score, crop_box [x, y, w, h]. options: the official
    parameters (points_per_side=32, pred_iou_thresh=0.88, ...)."""
    if output_mode not in OUTPUT_MODES:
        raise InvalidArgumentError(f"output_mode must be one of {OUTPUT_MODES} (coco_rle needs pycocotools: "
                                   f"convert the binary masks), got {output_mode!r}")
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"generate_masks: unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTION_NAMES)}")
    L = _lib.lib()
    o = _lib.AmgOptions()
    L.persam_amg_options_init(byref(o))
    for name, value in options.items():
        setattr(o, name, value)
    img = make_image(image, image_format)
    masks = c_void_p()
    try:
        _lib.check(L.persam_generate_masks(model.ptr, img.ptr, byref(o), byref(masks)))
        h, w = L.persam_image_height(img.ptr), L.persam_image_width(img.ptr)
    finally:
        img.free()
    try:
        records = []
        rec = _lib.MaskRecord()
        for i in range(L.persam_mask_set_count(masks)):
            _lib.check(L.persam_mask_set_get(masks, i, byref(rec)))
            m = np.empty((h, w), dtype=np.uint8)
            _lib.check(L.persam_mask_set_copy_mask(masks, i, u8_ptr(m), m.nbytes))
            m = m.view(np.bool_)
            records.append({
                "segmentation": m if output_mode == "binary_mask" else mask_to_rle(m),
                "area": int(rec.area),
                "bbox": [int(v) for v in rec.bbox],
                "predicted_iou": float(rec.predicted_iou),
                "point_coords": [[float(rec.point_coords[0]), float(rec.point_coords[1])]],
                "stability_score": float(rec.stability_score),  # may be NaN
                "crop_box": [int(v) for v in rec.crop_box],
            })
        return records
    finally:
        L.persam_mask_set_free(masks)


class SamAutomaticMaskGenerator:
    """SamAutomaticMaskGenerator(model, points_per_side=32, ...).generate(image)."""

    def __init__(self, model, output_mode="binary_mask", **options):
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTION_NAMES)}")
        self.model = model
        self.output_mode = output_mode
        self.options = options

    def generate(self, image, image_format="RGB"):
        return generate_masks(self.model, image, output_mode=self.output_mode, image_format=image_format,
                              **self.options)
