"""Shared test setup: paths (PERSAM_FIXTURES, PERSAM_EXE, PERSAM_LIBRARY),
the package import from the source tree, one model and one encoded image
per test run, and the `persam` CLI runner."""
import functools
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(PYTHON_DIR)
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)  # test the source tree's package

import persam  # noqa: E402

FIXTURES = os.environ.get("PERSAM_FIXTURES") or os.path.join(REPO, "..", "shared", "fixtures")
EXE = os.environ.get("PERSAM_EXE") or os.path.join(REPO, "build", "tools", "persam")
if not os.path.isabs(EXE):
    EXE = os.path.join(REPO, EXE)
# Engine threads of both the package and the CLI (results do not depend on
# it; 1 keeps a 2-core machine responsive).
THREADS = int(os.environ.get("PERSAM_TEST_THREADS", "1"))

MODEL = os.path.join(FIXTURES, "models", "sam_vit_tiny.pth")
IMAGES = os.path.join(FIXTURES, "perseg-mini", "Images")
MASKS = os.path.join(FIXTURES, "perseg-mini", "Annotations")
CAT_01 = os.path.join(IMAGES, "cat", "01.png")


def require_fixtures():
    """Raises SkipTest (one message per module) without the fixtures."""
    if not (os.path.isfile(MODEL) and os.path.isdir(IMAGES)):
        raise unittest.SkipTest(f"fixtures not found in {os.path.abspath(FIXTURES)} (set PERSAM_FIXTURES)")


def require_cli():
    if not os.access(EXE, os.X_OK):
        raise unittest.SkipTest(f"persam CLI not found at {EXE} (set PERSAM_EXE)")


def run_cli(*args):
    """Runs `persam ARGS --threads N --quiet`; fails the test with its stderr."""
    cmd = [EXE, *[str(a) for a in args], "--threads", str(THREADS), "--quiet"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


@functools.lru_cache(maxsize=None)
def model():
    return persam.Model(MODEL, threads=THREADS)


@functools.lru_cache(maxsize=None)
def cat01_predictor():
    p = persam.SamPredictor(model())
    p.set_image_file(CAT_01)
    return p


def read_png(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im)


def load_rgb(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


_tmp = tempfile.TemporaryDirectory(prefix="persam-pytest-")


def tmpdir(name):
    d = os.path.join(_tmp.name, name)
    os.makedirs(d, exist_ok=True)
    return d


@functools.lru_cache(maxsize=None)
def cli_personalize(obj="cat", ref="00", targets=("00", "01", "02")):
    """`persam personalize` of one perseg-mini object: {stem: mask bool}."""
    out = tmpdir(f"cli-personalize-{obj}")
    run_cli("personalize", "--model", MODEL, "--ref-image", os.path.join(IMAGES, obj, f"{ref}.png"),
            "--ref-mask", os.path.join(MASKS, obj, f"{ref}.png"), "--out", out, "--no-vis",
            *[os.path.join(IMAGES, obj, f"{t}.png") for t in targets])
    return {t: cli_mask_png(os.path.join(out, f"{t}.png")) for t in targets}


def cli_mask_png(path):
    """A `persam personalize` mask PNG: (128, 0, 0) object on black -> bool.
    The file is a 1-bit palette PNG: read as RGB, as the reference's readers do."""
    rgb = load_rgb(path)
    assert rgb.ndim == 3 and rgb.shape[2] == 3, rgb.shape
    fg = np.all(rgb == [128, 0, 0], axis=2)
    bg = np.all(rgb == 0, axis=2)
    assert np.all(fg | bg), f"{path}: pixels other than (128, 0, 0) and black"
    return fg


def read_json(path):
    with open(path) as f:
        return json.load(f)
