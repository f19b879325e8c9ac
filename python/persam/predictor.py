"""persam.SamPredictor: segment_anything.SamPredictor over libpersam."""
import json
import os
import tempfile
from ctypes import byref, c_void_p

import numpy as np

from . import _lib
from ._handles import Closeable, Handle, f32_ptr, make_image
from .errors import InvalidArgumentError, PersamError


def _resized_size(h, w, side):
    # ResizeLongestSide.get_preprocess_shape
    scale = side / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


class SamPredictor(Closeable):
    """Like segment_anything.SamPredictor: set_image() once (the image
    encoder), then predict() any number of prompts (the prompt encoder and
    mask decoder). Outputs are NumPy arrays of the official shapes/dtypes.
    """

    def __init__(self, model):
        self.model = model
        self._embedding = Handle(None, "persam_embedding_free")
        model._register(self)
        self.reset_image()

    # -- image / embedding --------------------------------------------------

    def set_image(self, image, image_format="RGB"):
        """image: H x W x 3 uint8 (RGB, or BGR with image_format="BGR"),
        H x W x 4 (alpha ignored) or a file path."""
        handle = make_image(image, image_format)
        try:
            self._compute(handle)
        finally:
            handle.free()

    def set_image_file(self, path):
        """Loads the image with libpersam's loader (JPEG/PNG/BMP/TGA, EXIF
        orientation applied as OpenCV's imread)."""
        handle = make_image(os.fspath(path))
        try:
            self._compute(handle)
        finally:
            handle.free()

    def _compute(self, image_handle):
        self.reset_image()
        out = c_void_p()
        _lib.check(_lib.lib().persam_embedding_compute(self.model.ptr, image_handle.ptr, byref(out)))
        self._set_embedding(out.value)

    def _set_embedding(self, ptr):
        L = _lib.lib()
        self._embedding.ptr = ptr
        h, w = L.persam_embedding_image_height(ptr), L.persam_embedding_image_width(ptr)
        self.original_size = (h, w)
        self.input_size = _resized_size(h, w, self.model.info.image_size)
        self.is_image_set = True

    def save_embedding(self, path):
        """Writes PATH (.npy, float32 1 x 256 x 64 x 64) and PATH.json, as `persam embed`."""
        _lib.check(_lib.lib().persam_embedding_save(self._require_image(), _lib.encode_path(path)))

    def load_embedding(self, path, image_size=None):
        """Reads what save_embedding / `persam embed` wrote. image_size is the
        original image's (height, width) (official original_size order); by
        default the one recorded in PATH.json."""
        if image_size is None:
            try:
                with open(os.fspath(path) + ".json") as f:
                    meta = json.load(f)
                image_size = (int(meta["image_height"]), int(meta["image_width"]))
            except (OSError, KeyError, ValueError) as e:
                raise InvalidArgumentError(f"load_embedding: no image_size given and cannot read it from "
                                           f"{os.fspath(path)}.json: {e}") from e
        h, w = (int(v) for v in image_size)
        self.reset_image()
        out = c_void_p()
        _lib.check(_lib.lib().persam_embedding_load(self.model.ptr, _lib.encode_path(path), w, h, byref(out)))
        self._set_embedding(out.value)

    def get_image_embedding(self):
        """The image embedding, float32 (1, 256, 64, 64) (through
        persam_embedding_save to a temporary file: the C API has no accessor)."""
        self._require_image()
        with tempfile.TemporaryDirectory(prefix="persam-emb-") as d:
            path = os.path.join(d, "embedding.npy")
            self.save_embedding(path)
            return np.load(path)

    def reset_image(self):
        self._embedding.free()
        self.is_image_set = False
        self.original_size = None
        self.input_size = None

    def _require_image(self):
        if not self._embedding:
            raise PersamError("An image must be set with .set_image(...) before mask prediction.")
        self.model.ptr  # raises when the model was closed
        return self._embedding.ptr

    @property
    def device(self):
        return "cpu"

    # -- prompts ------------------------------------------------------------

    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None, multimask_output=True,
                return_logits=False):
        """Official SamPredictor.predict: point_coords (N, 2) x, y pixels of the
        original image, point_labels (N,) 1 foreground / 0 background, box (4,)
        or (1, 4) x0, y0, x1, y1, mask_input (1, 256, 256) low-res logits.

        Returns masks (C, H, W) bool (float32 logits with return_logits),
        scores (C,) float32, low-res logits (C, 256, 256) float32, with C = 3
        when multimask_output else 1.

        A box of shape (B, 4), B > 1, is a batch (as predict_torch): one
        prompt per box, each with the same points and mask_input; the outputs
        gain a leading B: (B, C, H, W), (B, C), (B, C, 256, 256).
        """
        emb = self._require_image()
        L = _lib.lib()
        prompt = _lib.Prompt()
        keep = []  # arrays the prompt points into

        if point_coords is not None:
            if point_labels is None:
                raise InvalidArgumentError("point_labels must be supplied if point_coords is supplied.")
            pts = np.ascontiguousarray(point_coords, dtype=np.float32)
            if pts.ndim == 1 and pts.shape[0] == 2:
                pts = pts[None, :]
            if pts.ndim != 2 or pts.shape[1] != 2:
                raise InvalidArgumentError(f"point_coords must have shape (N, 2), got {np.shape(point_coords)}")
            labels = np.asarray(point_labels)
            if labels.dtype == np.bool_:
                labels = labels.astype(np.int32)
            if labels.ndim == 0:
                labels = labels[None]
            if labels.shape != (pts.shape[0],):
                raise InvalidArgumentError(f"point_labels must have shape ({pts.shape[0]},) for "
                                           f"{pts.shape[0]} point(s), got {np.shape(point_labels)}")
            if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
                raise InvalidArgumentError(f"point_labels must be integers (1 foreground, 0 background), got "
                                           f"{labels.tolist()}")
            labels = np.ascontiguousarray(labels, dtype=np.int32)
            keep += [pts, labels]
            prompt.point_coords = f32_ptr(pts)
            prompt.point_labels = labels.ctypes.data_as(type(prompt.point_labels))
            prompt.num_points = pts.shape[0]
        elif point_labels is not None:
            raise InvalidArgumentError("point_coords must be supplied if point_labels is supplied.")

        batched = False
        if box is not None:
            boxes = np.ascontiguousarray(box, dtype=np.float32)
            if boxes.ndim == 1:
                boxes = boxes[None, :]
            if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] < 1:
                raise InvalidArgumentError(f"box must have shape (4,), (1, 4) or (B, 4), got {np.shape(box)}")
            batched = boxes.shape[0] > 1
            keep.append(boxes)
            prompt.boxes = f32_ptr(boxes)
            prompt.num_boxes = boxes.shape[0]

        if mask_input is not None:
            side = self.model.info.low_res_size
            m = np.asarray(mask_input)
            if m.shape not in ((1, side, side), (side, side)):
                raise InvalidArgumentError(f"mask_input must have shape (1, {side}, {side}) (low-res logits, "
                                           f"e.g. logits[np.argmax(scores)][None]), got {m.shape}")
            m = np.ascontiguousarray(m, dtype=np.float32)
            keep.append(m)
            prompt.mask_input = f32_ptr(m)

        prompt.multimask_output = 1 if multimask_output else 0
        pred = c_void_p()
        _lib.check(L.persam_predict(self.model.ptr, emb, byref(prompt), byref(pred)))
        try:
            return self._outputs(pred.value, batched, return_logits)
        finally:
            L.persam_prediction_free(pred.value)

    def _outputs(self, pred, batched, return_logits):
        L = _lib.lib()
        b = L.persam_prediction_batch(pred)
        c = L.persam_prediction_num_masks(pred)
        h, w = L.persam_prediction_height(pred), L.persam_prediction_width(pred)
        side = self.model.info.low_res_size
        scores = np.ctypeslib.as_array(L.persam_prediction_scores(pred), shape=(b, c)).copy()
        low_res = np.ctypeslib.as_array(L.persam_prediction_low_res(pred), shape=(b, c, side, side)).copy()
        logits = np.ctypeslib.as_array(L.persam_prediction_logits(pred), shape=(b, c, h, w))
        # mask = logits > 0 (persam.h); NumPy's vectorised compare is ~4x
        # faster than persam_prediction_copy_masks' loop, same result.
        masks = logits.copy() if return_logits else np.greater(logits, 0.0)
        if batched:
            return masks, scores, low_res
        return masks[0], scores[0], low_res[0]

    def close(self):
        self.reset_image()

    def _release(self):
        self._embedding.free()
