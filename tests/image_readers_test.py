#!/usr/bin/env python3
"""The PNGs and JPEGs our writers produce, read back by the reference's
readers: Pillow (np.array(Image.open(p).convert(...))) and OpenCV
(cv2.imread). Usage: image_readers_test.py WRITE_TEST_IMAGES_EXE.
Exit 77 (meson: skipped) when Pillow, NumPy or OpenCV is missing."""
import os
import subprocess
import sys
import tempfile

try:
    import cv2
    import numpy as np
    from PIL import Image
except ImportError as e:
    print(f"skipped: {e.name} is not installed (python3-opencv, python3-pil, python3-numpy)")
    sys.exit(77)

H, W = 23, 37
y, x = np.mgrid[0:H, 0:W]
MASK = np.where((x * 7 + y * 3) % 11 < 5, 255, 0).astype(np.uint8)
RGB = np.stack([(x * 5 + y) % 256, (y * 9) % 256, (x + y * y) % 256], -1).astype(np.uint8)

failures = []


def check(name, got, want, tolerance=0):
    got = np.asarray(got)
    if got.shape != want.shape:
        failures.append(f"{name}: shape {got.shape}, expected {want.shape}")
        return
    diff = int(np.abs(got.astype(int) - want.astype(int)).max())
    if diff > tolerance:
        failures.append(f"{name}: max difference {diff} > {tolerance}")


with tempfile.TemporaryDirectory() as d:
    subprocess.run([sys.argv[1], d], check=True)
    p = lambda n: os.path.join(d, n)
    for mask in ("mask_1bit.png", "mask_grey.png"):
        check(f"PIL {mask} .convert('L')", np.array(Image.open(p(mask)).convert("L")), MASK)
        check(f"PIL {mask} .convert('RGB')", np.array(Image.open(p(mask)).convert("RGB")),
              np.repeat(MASK[..., None], 3, -1))
        check(f"cv2.imread {mask}", cv2.imread(p(mask)), np.repeat(MASK[..., None], 3, -1))
        check(f"cv2.imread {mask} GRAYSCALE", cv2.imread(p(mask), cv2.IMREAD_GRAYSCALE), MASK)
    red = np.stack([np.where(MASK > 0, 128, 0), 0 * MASK, 0 * MASK], -1).astype(np.uint8)
    check("PIL mask_red.png .convert('RGB')", np.array(Image.open(p("mask_red.png")).convert("RGB")), red)
    check("cv2.imread mask_red.png", cv2.imread(p("mask_red.png"))[..., ::-1], red)
    if Image.open(p("mask_1bit.png")).mode != "1":
        failures.append(f"mask_1bit.png: Pillow mode {Image.open(p('mask_1bit.png')).mode}, expected '1'")
    for png in ("rgb.png", "rgba.png"):
        check(f"PIL {png}", np.array(Image.open(p(png)).convert("RGB")), RGB)
        check(f"cv2.imread {png}", cv2.imread(p(png))[..., ::-1], RGB)
    # JPEG (4:2:0) of a busy pattern: a mean error bound; both readers agree.
    jpeg_error = np.abs(np.array(Image.open(p("rgb.jpg")).convert("RGB")).astype(int) - RGB).mean()
    if not jpeg_error < 12:
        failures.append(f"PIL rgb.jpg: mean abs difference {jpeg_error:.1f} >= 12")
    check("PIL vs cv2 rgb.jpg", np.array(Image.open(p("rgb.jpg")).convert("RGB")),
          cv2.imread(p("rgb.jpg"))[..., ::-1])

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("all written images read back as written by Pillow and OpenCV")
