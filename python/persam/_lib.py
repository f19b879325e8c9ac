"""Finding, loading and declaring libpersam.so (the C API, persam.h) with ctypes.

Discovery order:
  1. the environment variable PERSAM_LIBRARY (a path to libpersam.so);
  2. a build tree of the source checkout this package lives in
     (<repo>/build/capi/libpersam.so when running from <repo>/python);
  3. the installed library: ctypes.util.find_library("persam"), then
     "libpersam.so.1" through the dynamic loader's search path.
The library is loaded on first use (``import persam`` never fails because
of it) and its persam_api_version() must equal API_VERSION.
"""
import ctypes
import ctypes.util
import os
import threading
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_int32, c_int64,
                    c_size_t, c_uint8, c_void_p)

from .errors import PersamLibraryError, _raise_for_status

#: The PERSAM_API_VERSION this package is written against (persam.h).
API_VERSION = 1

PRECISIONS = {"default": 0, "f32": 1, "bf16": 2, "int8": 3}
PRECISION_NAMES = {v: k for k, v in PRECISIONS.items()}


class ModelOptions(Structure):
    _fields_ = [("threads", c_int), ("precision", c_int)]


class ModelInfoStruct(Structure):
    _fields_ = [("encoder", c_char * 16), ("precision", c_int), ("image_size", c_int), ("embed_dim", c_int),
                ("embed_grid", c_int), ("low_res_size", c_int)]


class Prompt(Structure):
    _fields_ = [("point_coords", POINTER(c_float)), ("point_labels", POINTER(c_int32)), ("num_points", c_int),
                ("boxes", POINTER(c_float)), ("num_boxes", c_int), ("mask_input", POINTER(c_float)),
                ("multimask_output", c_int)]


class PersonalizeOptions(Structure):
    _fields_ = [("finetune", c_int)]


class AmgOptions(Structure):
    _fields_ = [("points_per_side", c_int), ("points_per_batch", c_int), ("pred_iou_thresh", c_double),
                ("stability_score_thresh", c_double), ("stability_score_offset", c_double),
                ("box_nms_thresh", c_double), ("crop_n_layers", c_int), ("crop_nms_thresh", c_double),
                ("crop_overlap_ratio", c_double), ("crop_n_points_downscale_factor", c_int),
                ("min_mask_region_area", c_int64)]


class MaskRecord(Structure):
    _fields_ = [("area", c_int64), ("bbox", c_int * 4), ("predicted_iou", c_float),
                ("point_coords", c_double * 2), ("stability_score", c_float), ("crop_box", c_int * 4)]


_P = c_void_p  # every opaque handle
_PP = POINTER(c_void_p)
_u8p = POINTER(c_uint8)
_f32p = POINTER(c_float)

# name: (restype, argtypes); restype c_int for a persam_status.
_SIGNATURES = {
    "persam_api_version": (c_int, []),
    "persam_version": (c_char_p, []),
    "persam_last_error": (c_char_p, []),
    "persam_status_name": (c_char_p, [c_int]),
    "persam_set_num_threads": (c_int, [c_int]),
    "persam_model_options_init": (None, [POINTER(ModelOptions)]),
    "persam_model_load": (c_int, [c_char_p, POINTER(ModelOptions), _PP]),
    "persam_model_free": (None, [_P]),
    "persam_model_get_info": (c_int, [_P, POINTER(ModelInfoStruct)]),
    "persam_image_load": (c_int, [c_char_p, _PP]),
    "persam_image_from_pixels": (c_int, [_u8p, c_int, c_int, c_size_t, c_int, _PP]),
    "persam_image_width": (c_int, [_P]),
    "persam_image_height": (c_int, [_P]),
    "persam_image_free": (None, [_P]),
    "persam_embedding_compute": (c_int, [_P, _P, _PP]),
    "persam_embedding_save": (c_int, [_P, c_char_p]),
    "persam_embedding_load": (c_int, [_P, c_char_p, c_int, c_int, _PP]),
    "persam_embedding_image_width": (c_int, [_P]),
    "persam_embedding_image_height": (c_int, [_P]),
    "persam_embedding_free": (None, [_P]),
    "persam_prompt_init": (None, [POINTER(Prompt)]),
    "persam_predict": (c_int, [_P, _P, POINTER(Prompt), _PP]),
    "persam_prediction_batch": (c_int, [_P]),
    "persam_prediction_num_masks": (c_int, [_P]),
    "persam_prediction_width": (c_int, [_P]),
    "persam_prediction_height": (c_int, [_P]),
    "persam_prediction_scores": (_f32p, [_P]),
    "persam_prediction_low_res": (_f32p, [_P]),
    "persam_prediction_logits": (_f32p, [_P]),
    "persam_prediction_copy_masks": (c_int, [_P, _u8p, c_size_t]),
    "persam_prediction_free": (None, [_P]),
    "persam_personalize_options_init": (None, [POINTER(PersonalizeOptions)]),
    "persam_personalizer_create": (c_int, [_P, _P, _u8p, c_int, c_int, POINTER(PersonalizeOptions), _PP]),
    "persam_personalizer_segment": (c_int, [_P, _P, _u8p, c_size_t, _f32p]),
    "persam_personalizer_free": (None, [_P]),
    "persam_amg_options_init": (None, [POINTER(AmgOptions)]),
    "persam_generate_masks": (c_int, [_P, _P, POINTER(AmgOptions), _PP]),
    "persam_mask_set_count": (c_int, [_P]),
    "persam_mask_set_get": (c_int, [_P, c_int, POINTER(MaskRecord)]),
    "persam_mask_set_copy_mask": (c_int, [_P, c_int, _u8p, c_size_t]),
    "persam_mask_set_free": (None, [_P]),
}

_lock = threading.Lock()
_lib = None
_lib_path = None


def _source_tree_candidates():
    here = os.path.dirname(os.path.abspath(__file__))  # <repo>/python/persam
    repo = os.path.dirname(os.path.dirname(here))
    return [os.path.join(repo, "build", "capi", "libpersam.so")]


def _candidates():
    env = os.environ.get("PERSAM_LIBRARY")
    if env:
        # An explicit choice: never silently fall back to another library.
        return [("PERSAM_LIBRARY", env)]
    out = [("source tree", p) for p in _source_tree_candidates() if os.path.exists(p)]
    found = ctypes.util.find_library("persam")
    if found:
        out.append(("installed", found))
    out.append(("installed", "libpersam.so.1"))
    return out


def _declare(lib):
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError as e:
            raise PersamLibraryError(f"{lib._name}: missing symbol {name} (not a libpersam.so of API version "
                                     f"{API_VERSION}?)") from e
        fn.restype = restype
        fn.argtypes = argtypes


def load_library(path=None):
    """Loads (once) and returns the ctypes handle of libpersam.so.

    path overrides the discovery (and PERSAM_LIBRARY) when given before the
    first use.
    """
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            if path is not None and os.path.realpath(path) != os.path.realpath(_lib_path):
                raise PersamLibraryError(f"libpersam is already loaded from {_lib_path}; cannot switch to {path}")
            return _lib
        candidates = [("argument", path)] if path is not None else _candidates()
        errors = []
        for origin, candidate in candidates:
            try:
                lib = ctypes.CDLL(candidate)
            except OSError as e:
                errors.append(f"{origin} {candidate}: {e}")
                continue
            try:
                lib.persam_api_version.restype = c_int
                lib.persam_api_version.argtypes = []
                version = lib.persam_api_version()
            except AttributeError:
                errors.append(f"{origin} {candidate}: no persam_api_version symbol (not libpersam)")
                continue
            if version != API_VERSION:
                raise PersamLibraryError(
                    f"{candidate} ({origin}) has persam API version {version}, but this persam Python package "
                    f"needs version {API_VERSION}: install matching versions (or point PERSAM_LIBRARY at a "
                    f"libpersam.so of API version {API_VERSION})")
            _declare(lib)
            _lib, _lib_path = lib, candidate
            return lib
        raise PersamLibraryError(
            "cannot load libpersam.so; set PERSAM_LIBRARY=/path/to/libpersam.so, build it in the source tree "
            "(ninja -C build) or install it. Tried: " + "; ".join(errors))


def lib():
    return _lib if _lib is not None else load_library()


def library_path():
    """The path (or soname) libpersam was loaded from."""
    lib()
    return _lib_path


def check(status):
    """Raises the PersamError of a failed status, with persam_last_error()."""
    if status != 0:
        L = lib()
        message = L.persam_last_error().decode("utf-8", "replace")
        name = L.persam_status_name(status).decode("ascii", "replace")
        _raise_for_status(status, name, message)


def encode_path(path):
    return os.fsencode(os.fspath(path))
