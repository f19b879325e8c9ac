"""persam.Personalizer: PerSAM / PerSAM-F (one reference image + mask)."""
import math
import os
from ctypes import byref, c_float, c_void_p

import numpy as np

from . import _lib
from ._handles import Closeable, Handle, image_size, load_rgb, make_image, u8_ptr
from .errors import InvalidArgumentError, PersamError


def reference_mask_array(mask):
    """A mask (array or image file) as H x W uint8 0/1: any non-zero pixel
    (any channel) is the object, as `persam personalize --ref-mask`."""
    if isinstance(mask, (str, bytes, os.PathLike)):
        mask = load_rgb(mask)
    m = np.asarray(mask)
    if m.ndim == 3:
        m = np.any(m != 0, axis=2)
    if m.ndim != 2:
        raise InvalidArgumentError(f"ref_mask must be H x W (or H x W x C), got shape {np.shape(mask)}")
    return np.ascontiguousarray(m != 0, dtype=np.uint8)


class Personalizer(Closeable):
    """PerSAM (finetune=False) or PerSAM-F (finetune=True): learns the concept
    from ref_image (array or path) and ref_mask (array, nonzero = the object,
    or a mask image path); segment(image) finds it in other images."""

    def __init__(self, model, ref_image, ref_mask, finetune=False, image_format="RGB"):
        L = _lib.lib()
        self.model = model
        self.finetune = bool(finetune)
        self._handle = Handle(None, "persam_personalizer_free")
        mask = reference_mask_array(ref_mask)
        ref = make_image(ref_image, image_format)
        try:
            h, w = image_size(ref)
            if mask.shape != (h, w):
                raise InvalidArgumentError(f"ref_mask is {mask.shape[1]} x {mask.shape[0]} (W x H), the reference "
                                           f"image {w} x {h}")
            opts = _lib.PersonalizeOptions()
            L.persam_personalize_options_init(byref(opts))
            opts.finetune = 1 if finetune else 0
            out = c_void_p()
            _lib.check(L.persam_personalizer_create(model.ptr, ref.ptr, u8_ptr(mask), w, h, byref(opts),
                                                    byref(out)))
            self._handle.ptr = out.value
        finally:
            ref.free()
        model._register(self)

    def segment(self, image, image_format="RGB"):
        """image: array (H x W x 3/4 uint8) or path. Returns (mask, point):
        mask H x W bool, point the location prior's positive point (x, y)
        (None if the engine reported none)."""
        if not self._handle:
            raise PersamError("the Personalizer is closed")
        L = _lib.lib()
        target = make_image(image, image_format)
        try:
            h, w = image_size(target)
            mask = np.empty((h, w), dtype=np.uint8)
            point = (c_float * 2)(math.nan, math.nan)
            _lib.check(L.persam_personalizer_segment(self._handle.ptr, target.ptr, u8_ptr(mask), mask.nbytes,
                                                     point))
        finally:
            target.free()
        xy = None if math.isnan(point[0]) else (float(point[0]), float(point[1]))
        return mask.view(np.bool_), xy

    def close(self):
        self._handle.free()

    def _release(self):
        self._handle.free()
