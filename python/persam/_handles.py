"""Owned C handles, images and NumPy <-> C conversions shared by the classes."""
import ctypes
import os
from ctypes import byref, c_uint8, c_void_p

import numpy as np

from . import _lib
from .errors import InvalidArgumentError

_U8P = ctypes.POINTER(c_uint8)


class Closeable:
    """`with` support over close(); on garbage collection releases what
    _release() names (close() may do more, e.g. a model closes its users)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self._release()
        except Exception:
            pass


class Handle:
    """An opaque C pointer freed exactly once by ``free_name``."""
    __slots__ = ("ptr", "_free_name")

    def __init__(self, ptr, free_name):
        self.ptr = ptr
        self._free_name = free_name

    def free(self):
        ptr, self.ptr = self.ptr, None
        if ptr:
            getattr(_lib.lib(), self._free_name)(ptr)

    def __bool__(self):
        return bool(self.ptr)


def u8_ptr(array):
    return array.ctypes.data_as(_U8P)


def f32_ptr(array):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def _is_path(x):
    return isinstance(x, (str, bytes, os.PathLike))


def pixels_array(image, image_format="RGB"):
    """Validates an H x W x 3 (RGB/BGR) or H x W x 4 (RGBA/BGRA) uint8 array
    (H x W grayscale is replicated); returns one whose rows are contiguous
    (possibly a view: no copy when already RGB and C-contiguous)."""
    if image_format not in ("RGB", "BGR"):
        raise InvalidArgumentError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise InvalidArgumentError(f"image must be uint8 (0..255 pixels), got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InvalidArgumentError(f"image must be H x W x 3 (RGB) or H x W x 4 (RGBA), got shape {a.shape}")
    if image_format == "BGR":
        a = a[:, :, [2, 1, 0, 3][:a.shape[2]]]
    if not (a.strides[2] == 1 and a.strides[1] == a.shape[2] and a.strides[0] >= a.shape[1] * a.shape[2]):
        a = np.ascontiguousarray(a)
    return a


def make_image(image, image_format="RGB"):
    """A persam_image Handle from a path (the C loader: JPEG/PNG/BMP/TGA, EXIF
    orientation applied) or a uint8 pixel array."""
    L = _lib.lib()
    out = c_void_p()
    if _is_path(image):
        _lib.check(L.persam_image_load(_lib.encode_path(image), byref(out)))
    else:
        a = pixels_array(image, image_format)
        h, w, c = a.shape
        _lib.check(L.persam_image_from_pixels(u8_ptr(a), w, h, a.strides[0], c, byref(out)))
    return Handle(out.value, "persam_image_free")


def image_size(handle):
    """(height, width) of a persam_image Handle."""
    L = _lib.lib()
    return L.persam_image_height(handle.ptr), L.persam_image_width(handle.ptr)


def load_rgb(path):
    """An image file as an H x W x 3 uint8 array through Pillow (needed for
    mask files, which the C API takes as arrays)."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(f"reading {path} needs Pillow (python3-pil); or pass a NumPy array") from e
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
