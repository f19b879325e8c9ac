#!/usr/bin/env python3
"""A click's round trip through `persam serve`: HTTP + prompt/mask decoder +
mask PNG encode (+ base64 and JSON), on one image, sequential requests.

usage: bench/serve_click.py MODEL [--threads 2] [--width 1024 --height 768] [--clicks 60]
       (PERSAM_EXE: the persam binary, default build/tools/persam)

Prints p50/p95 of the client-measured round trip and the server's own split
(decoder, mask encode) for single-mask clicks and for 3-candidate clicks."""
import argparse
import io
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "server"))
import serve_util as su  # noqa: E402
from PIL import Image  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--height", type=int, default=768)
    ap.add_argument("--clicks", type=int, default=60)
    args = ap.parse_args()
    with Image.open(su.image_path("cat", "01.png")) as im:
        image = im.convert("RGB").resize((args.width, args.height))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    server = su.Server(model=args.model, threads=args.threads)
    try:
        status, body = server.request("POST", "/api/images", buf.getvalue(), "application/octet-stream")
        assert status == 201, body
        ready = server.wait_ready(body["id"], timeout=600)
        print(f"image {args.width} x {args.height}: encoded in {ready['encode_seconds']:.2f} s")
        rng = random.Random(0)
        for multimask in (False, True):
            rows = []
            for i in range(args.clicks + 5):
                request = {"points": [{"x": rng.uniform(0, args.width - 1), "y": rng.uniform(0, args.height - 1),
                                       "label": 1}], "multimask": multimask}
                start = time.perf_counter()
                status, r = server.request("POST", f"/api/images/{body['id']}/predict", request)
                elapsed = (time.perf_counter() - start) * 1e3
                assert status == 200, r
                if i >= 5:  # warm-up
                    rows.append((elapsed, r["timings_ms"]["decoder"], r["timings_ms"]["encode_masks"]))
            name = "3 candidates" if multimask else "1 mask"
            print(f"{name}: round trip p50 {pct([r[0] for r in rows], 0.5):.1f} ms, "
                  f"p95 {pct([r[0] for r in rows], 0.95):.1f} ms; server decoder p50 "
                  f"{statistics.median(r[1] for r in rows):.1f} ms, mask PNG+base64 p50 "
                  f"{statistics.median(r[2] for r in rows):.1f} ms ({len(rows)} clicks, {args.threads} threads)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
