"""Shared by the `persam serve` tests: paths, a server started on a free
loopback port and stopped with SIGTERM, and HTTP calls that bypass any proxy."""
import io
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.environ.get("PERSAM_FIXTURES") or os.path.join(REPO, "..", "shared", "fixtures")
EXE = os.environ.get("PERSAM_EXE") or os.path.join(REPO, "build", "tools", "persam")
MODEL = os.path.join(FIXTURES, "models", "sam_vit_tiny.pth")
IMAGES = os.path.join(FIXTURES, "perseg-mini", "Images")
MASKS = os.path.join(FIXTURES, "perseg-mini", "Annotations")
# Where meson keeps test logs (screenshots go there too).
LOG_DIR = os.environ.get("PERSAM_TEST_LOG_DIR") or tempfile.gettempdir()

# Loopback only: never through an http_proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def require_fixtures():
    if not (os.path.isfile(MODEL) and os.path.isdir(IMAGES)):
        raise unittest.SkipTest(f"fixtures not found in {os.path.abspath(FIXTURES)} (set PERSAM_FIXTURES)")
    if not os.access(EXE, os.X_OK):
        raise unittest.SkipTest(f"persam not found at {EXE} (set PERSAM_EXE)")


def image_path(obj, name):
    return os.path.join(IMAGES, obj, name)


def mask_path(obj, name):
    return os.path.join(MASKS, obj, name)


class Server:
    """`persam serve --port 0` in a subprocess; the port is read from its
    first output line."""

    def __init__(self, *extra, model=MODEL, threads=2, env=None):
        self.proc = subprocess.Popen([EXE, "serve", "--model", model, "--port", "0", "--threads", str(threads),
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=None if env is None else {**os.environ, **env})
        self.lines = []
        deadline = time.time() + 60
        self.port = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if "serving on http://" in line:
                self.port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                break
        if self.port is None:
            self.proc.kill()
            raise AssertionError("persam serve did not start: " + "".join(self.lines) + self.proc.stderr.read())
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        """SIGTERM; returns (exit code, remaining stdout, stderr)."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err

    def request(self, method, path, body=None, content_type=None):
        """(status, parsed JSON or raw bytes)."""
        headers = {}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with _opener.open(req, timeout=300) as res:
                status, data, ctype = res.status, res.read(), res.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, data, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            return status, json.loads(data)
        return status, data

    def upload(self, path):
        with open(path, "rb") as f:
            status, body = self.request("POST", "/api/images", f.read(), "application/octet-stream")
        assert status == 201, body
        return body["id"]

    def wait_ready(self, image_id, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, body = self.request("GET", f"/api/images/{image_id}")
            assert status == 200, body
            if body["status"] in ("ready", "failed"):
                return body
            time.sleep(0.05)
        raise AssertionError(f"image {image_id} not encoded in {timeout} s")

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def decode_png(data):
    import base64
    if isinstance(data, str):
        data = base64.b64decode(data)
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def read_png(path, mode=None):
    with Image.open(path) as im:
        return np.asarray(im.convert(mode) if mode else im)


def run_cli(*args):
    cmd = [EXE, *[str(a) for a in args], "--threads", "2", "--quiet"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc
