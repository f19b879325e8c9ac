"""Exceptions: every failed C call raises a PersamError carrying the C API's
persam_last_error() message and its status code."""


class PersamError(Exception):
    """A failed libpersam call. ``status`` is the persam_status code,
    ``status_name`` its name (e.g. "PERSAM_ERROR_ENGINE"), ``str(e)`` the
    C message (naming the argument or the file at fault)."""

    status = None
    status_name = None

    def __init__(self, message, status=None, status_name=None):
        super().__init__(message)
        if status is not None:
            self.status = status
        if status_name is not None:
            self.status_name = status_name


class InvalidArgumentError(PersamError, ValueError):
    """PERSAM_ERROR_INVALID_ARGUMENT (and arguments this package rejects
    before calling C: wrong shapes, dtypes...)."""
    status = 1
    status_name = "PERSAM_ERROR_INVALID_ARGUMENT"


class EngineError(PersamError):
    """PERSAM_ERROR_ENGINE: unreadable or malformed file, bad prompt, mismatch."""
    status = 2
    status_name = "PERSAM_ERROR_ENGINE"


class OutOfMemoryError(PersamError, MemoryError):
    status = 3
    status_name = "PERSAM_ERROR_OUT_OF_MEMORY"


class InternalError(PersamError):
    """PERSAM_ERROR_INTERNAL: a bug in libpersam (please report the message)."""
    status = 4
    status_name = "PERSAM_ERROR_INTERNAL"


class PersamLibraryError(PersamError, ImportError):
    """libpersam.so is missing, unloadable or of another API version."""


_BY_STATUS = {c.status: c for c in (InvalidArgumentError, EngineError, OutOfMemoryError, InternalError)}


def _raise_for_status(status, status_name, message):
    cls = _BY_STATUS.get(status, PersamError)
    raise cls(message, status=status, status_name=status_name)
