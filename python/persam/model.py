"""persam.Model: a SAM / MobileSAM checkpoint loaded by libpersam."""
import weakref
from ctypes import byref, c_void_p
from dataclasses import dataclass

from . import _lib
from ._handles import Closeable, Handle
from .errors import InvalidArgumentError, PersamError


@dataclass(frozen=True)
class ModelInfo:
    encoder: str        # "vit" or "tinyvit"
    precision: str      # "f32", "bf16" or "int8": what the image encoder runs at
    image_size: int     # 1024
    embed_dim: int      # 256
    embed_grid: int     # 64
    low_res_size: int   # 256: side of low-res logits / mask inputs


def _precision_value(precision):
    if precision is None:
        return 0
    if isinstance(precision, str):
        key = precision.lower()
        if key not in _lib.PRECISIONS:
            raise InvalidArgumentError(f"precision must be one of {sorted(_lib.PRECISIONS)}, got {precision!r}")
        return _lib.PRECISIONS[key]
    return int(precision)  # a persam_precision value; the C API checks it


def set_num_threads(threads):
    """Worker threads of every later libpersam call (process-wide); <= 0: all cores; at most 4 per core."""
    _lib.check(_lib.lib().persam_set_num_threads(int(threads)))


class Model(Closeable):
    """A SAM checkpoint (.pth / .safetensors; ViT-B/L/H or MobileSAM).

    threads: when given, sets the process-wide engine thread count first.
    precision: None (the file's own), "f32", "bf16" or "int8".
    Use as a context manager or call close(); predictors, personalizers ...
    made from it are closed with it.
    """

    def __init__(self, path, threads=None, precision=None):
        L = _lib.lib()
        self.path = str(path)
        self._handle = Handle(None, "persam_model_free")
        self._dependents = weakref.WeakSet()
        opts = _lib.ModelOptions()
        L.persam_model_options_init(byref(opts))
        if threads is not None:
            if int(threads) <= 0:
                raise InvalidArgumentError(f"threads must be positive (or None), got {threads}")
            opts.threads = int(threads)
        opts.precision = _precision_value(precision)
        out = c_void_p()
        _lib.check(L.persam_model_load(_lib.encode_path(path), byref(opts), byref(out)))
        self._handle.ptr = out.value
        self._info = None

    @property
    def ptr(self):
        if not self._handle:
            raise PersamError(f"model {self.path} is closed")
        return self._handle.ptr

    @property
    def closed(self):
        return not self._handle

    @property
    def info(self):
        if self._info is None:
            s = _lib.ModelInfoStruct()
            _lib.check(_lib.lib().persam_model_get_info(self.ptr, byref(s)))
            self._info = ModelInfo(encoder=s.encoder.decode("ascii"),
                                   precision=_lib.PRECISION_NAMES.get(s.precision, str(s.precision)),
                                   image_size=s.image_size, embed_dim=s.embed_dim, embed_grid=s.embed_grid,
                                   low_res_size=s.low_res_size)
        return self._info

    def _register(self, dependent):
        self.ptr  # raises when closed
        self._dependents.add(dependent)

    def close(self):
        for d in list(self._dependents):
            d.close()
        self._handle.free()

    def _release(self):
        self._handle.free()

    def __repr__(self):
        state = "closed" if self.closed else f"{self.info.encoder}, {self.info.precision}"
        return f"persam.Model({self.path!r}, {state})"
