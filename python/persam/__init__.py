"""persam: Segment Anything, PerSAM / PerSAM-F and automatic mask generation
on the CPU, over libpersam's C API (ctypes, NumPy in and out).

    import numpy as np, persam
    with persam.Model("sam_vit_b.safetensors") as model:
        predictor = persam.SamPredictor(model)
        predictor.set_image(image)                      # H x W x 3 uint8 RGB
        masks, scores, logits = predictor.predict(point_coords=np.array([[500, 375]]),
                                                  point_labels=np.array([1]))
"""
from ._lib import API_VERSION, library_path, load_library
from .amg import SamAutomaticMaskGenerator, default_options as amg_default_options, generate_masks, mask_to_rle, \
    rle_to_mask
from .errors import (EngineError, InternalError, InvalidArgumentError, OutOfMemoryError, PersamError,
                     PersamLibraryError)
from .model import Model, ModelInfo, set_num_threads
from .personalizer import Personalizer
from .predictor import SamPredictor

__version__ = "0.1.0"


def engine_version():
    """libpersam's engine version string, e.g. "0.1.0"."""
    from ._lib import lib
    return lib().persam_version().decode("ascii")


__all__ = ["API_VERSION", "EngineError", "InternalError", "InvalidArgumentError", "Model", "ModelInfo",
           "OutOfMemoryError", "PersamError", "PersamLibraryError", "Personalizer", "SamAutomaticMaskGenerator",
           "SamPredictor", "amg_default_options", "engine_version", "generate_masks", "library_path",
           "load_library", "mask_to_rle", "rle_to_mask", "set_num_threads"]
