"""`persam serve`'s JSON API over loopback on the fixture model: results
identical to `persam segment` / `persam personalize`, and a JSON 4xx for
every malformed request class, the server alive afterwards."""
import base64
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_util as su  # noqa: E402


def setUpModule():
    su.require_fixtures()
    global server, tmp
    tmp = tempfile.TemporaryDirectory(prefix="persam-serve-test-")
    server = su.Server("--max-body-mb", "2")


def tearDownModule():
    code, out, err = server.stop()
    tmp.cleanup()
    # SIGTERM is a clean shutdown: exit 0 and a last line saying so.
    assert code == 0, f"persam serve exited {code} after SIGTERM: {err}"
    assert "terminated, stopped" in out, out


class SegmentParity(unittest.TestCase):
    def check(self, image, cli_args, request):
        image_id = server.upload(image)
        out = os.path.join(tmp.name, "seg_" + image_id)
        su.run_cli("segment", "--model", su.MODEL, "--image", image, "--out", out, *cli_args)
        status, body = server.request("POST", f"/api/images/{image_id}/predict", request)
        self.assertEqual(status, 200, body)
        with open(os.path.join(out, "scores.json")) as f:
            cli_scores = json.load(f)["scores"]
        # Both write the float32 scores with round-trip precision: equal.
        self.assertEqual(body["scores"], cli_scores)
        self.assertEqual(body["num_masks"], len(cli_scores))
        for k, png in enumerate(body["masks"]):
            served = su.decode_png(png)
            cli = su.read_png(os.path.join(out, f"mask_{k}.png"))
            self.assertEqual(served.shape, cli.shape)
            self.assertTrue(np.array_equal(served, cli), f"mask {k} differs in {np.sum(served != cli)} pixels")
            # The download route serves the same mask.
            status, data = server.request("GET", f"/api/results/{body['result']}/masks/{k}.png")
            self.assertEqual(status, 200)
            self.assertTrue(np.array_equal(su.decode_png(data), cli))
        return image_id, body

    def test_point_multimask(self):
        self.check(su.image_path("cat", "01.png"), ["--point", "300,250", "--multimask"],
                   {"points": [{"x": 300, "y": 250, "label": 1}], "multimask": True})

    def test_points_and_box(self):
        self.check(su.image_path("duck_toy", "00.png"), ["--point", "200.5,150", "--point", "40,30,0",
                                                        "--box", "20,10,400,300"],
                   {"points": [{"x": 200.5, "y": 150}, {"x": 40, "y": 30, "label": 0}], "box": [20, 10, 400, 300]})

    def test_mask_input_rle_logits_and_cutout(self):
        image = su.image_path("cat", "02.png")
        image_id, first = self.check(image, ["--point", "250,200"], {"points": [{"x": 250, "y": 200}]})
        status, body = server.request("POST", f"/api/images/{image_id}/predict",
                                      {"points": [{"x": 250, "y": 200}], "return_logits": True, "format": "rle",
                                       "mask_input": {"result": first["result"], "index": 0}})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["low_res_logits"]), 1)
        self.assertEqual(len(body["low_res_logits"][0]), body["low_res_size"] ** 2)
        # The same prompt with the first call's logits saved as .npy through the CLI.
        status, logits = server.request("POST", f"/api/images/{image_id}/predict",
                                        {"points": [{"x": 250, "y": 200}], "return_logits": True})
        npy = os.path.join(tmp.name, "low.npy")
        size = logits["low_res_size"]
        np.save(npy, np.array(logits["low_res_logits"], dtype=np.float32).reshape(1, size, size))
        out = os.path.join(tmp.name, "seg_mask_input")
        su.run_cli("segment", "--model", su.MODEL, "--image", image, "--out", out, "--point", "250,200",
                   "--mask-input", npy)
        cli = su.read_png(os.path.join(out, "mask_0.png")) > 0
        rle = body["rle"][0]
        self.assertEqual(rle["size"], list(cli.shape))
        flat = np.zeros(cli.size, dtype=bool)
        pos, value = 0, False
        for count in rle["counts"]:
            flat[pos:pos + count] = value
            pos, value = pos + count, not value
        self.assertEqual(pos, cli.size)
        self.assertTrue(np.array_equal(flat.reshape(cli.shape[1], cli.shape[0]).T, cli))
        with open(os.path.join(out, "scores.json")) as f:
            self.assertEqual(body["scores"], json.load(f)["scores"])
        # Cut-out: the image's pixels where the mask is set, alpha 255 there, 0 elsewhere.
        status, data = server.request("GET", f"/api/results/{first['result']}/cutouts/0.png")
        self.assertEqual(status, 200)
        cut = su.decode_png(data)
        mask = su.decode_png(first["masks"][0]) > 0
        rgb = np.asarray(Image.open(image).convert("RGB"))
        self.assertEqual(cut.shape, rgb.shape[:2] + (4,))
        self.assertTrue(np.array_equal(cut[..., 3] > 0, mask))
        self.assertTrue(np.array_equal(cut[..., :3][mask], rgb[mask]))


class PersonalizeParity(unittest.TestCase):
    def check(self, finetune):
        ref, ref_mask = su.image_path("cat", "00.png"), su.mask_path("cat", "00.png")
        # PerSAM-F's fine-tuning is the slow part: one target for it.
        targets = [su.image_path("cat", "01.png")] + ([] if finetune else [su.image_path("cat", "02.png")]) + [ref]
        out = os.path.join(tmp.name, "per_f" if finetune else "per")
        su.run_cli("personalize", "--model", su.MODEL, "--ref-image", ref, "--ref-mask", ref_mask, "--out", out,
                   "--no-vis", *(["--finetune"] if finetune else []), *targets[:-1])
        ref_id = server.upload(ref)
        target_ids = [server.upload(t) for t in targets[:-1]] + [ref_id]
        with open(ref_mask, "rb") as f:
            mask_b64 = base64.b64encode(f.read()).decode()
        status, body = server.request("POST", "/api/personalize", {
            "reference": {"image": ref_id, "mask_png": mask_b64}, "targets": target_ids,
            "method": "persam_f" if finetune else "persam"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["method"], "persam_f" if finetune else "persam")
        self.assertEqual(len(body["targets"]), len(targets))
        for t, path in zip(body["targets"][:-1], targets[:-1]):
            # The CLI's personalize mask is a 1-bit palette PNG: read as RGB.
            cli = su.read_png(os.path.join(out, os.path.basename(path)), "RGB")
            served = su.decode_png(t["mask"])
            self.assertTrue(np.array_equal(served > 0, cli[..., 0] > 0), f"{path}: masks differ")
            self.assertEqual(t["mask_area"], int(np.sum(cli[..., 0] > 0)))
            self.assertGreaterEqual(len(t["prior_points"]), 1)
        # The reference as a target segments without a second encode.
        self.assertEqual(body["targets"][-1]["image"], ref_id)
        return body

    def test_persam(self):
        self.check(False)

    def test_persam_f(self):
        body = self.check(True)
        self.assertEqual(len(body["reference"]["mask_weights"]), 3)

    def test_reference_from_predict(self):
        ref_id = server.upload(su.image_path("duck_toy", "00.png"))
        target_id = server.upload(su.image_path("duck_toy", "01.png"))
        status, pred = server.request("POST", f"/api/images/{ref_id}/predict",
                                      {"points": [{"x": 250, "y": 200}], "multimask": True})
        self.assertEqual(status, 200, pred)
        status, body = server.request("POST", "/api/personalize", {
            "reference": {"image": ref_id, "result": pred["result"], "index": 1}, "targets": [target_id]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["targets"][0]["image"], target_id)


def rasterize_strokes(strokes, height, width):
    """The documented stroke raster (docs/serve.md): a pixel is painted when
    its centre lies within width / 2 of a stroke's polyline."""
    ys, xs = np.mgrid[0:height, 0:width]
    cx, cy = xs + 0.5, ys + 0.5
    mask = np.zeros((height, width), dtype=bool)
    for stroke in strokes:
        pts = stroke["points"]
        r2 = (stroke["width"] / 2) ** 2
        for (ax, ay), (bx, by) in zip(pts, pts[1:] or pts):
            dx, dy = bx - ax, by - ay
            length2 = dx * dx + dy * dy
            t = np.clip(((cx - ax) * dx + (cy - ay) * dy) / length2, 0, 1) if length2 > 0 else 0
            mask |= (ax + t * dx - cx) ** 2 + (ay + t * dy - cy) ** 2 <= r2
    return mask.astype(np.uint8) * 255


class Concepts(unittest.TestCase):
    """POST /api/concept answers the file `persam learn` writes for the same
    reference (byte for byte when given the same names); POST /api/concepts
    takes such a file back for /api/personalize."""
    REF, REF_MASK = su.image_path("cat", "00.png"), su.mask_path("cat", "00.png")

    @classmethod
    def setUpClass(cls):
        cls.ref_id = server.upload(cls.REF)
        cls.target_id = server.upload(su.image_path("cat", "01.png"))
        with open(cls.REF_MASK, "rb") as f:
            cls.mask_b64 = base64.b64encode(f.read()).decode()

    def learn_cli(self, name, mask, *extra):
        """(path, bytes) of `persam learn`'s concept (made once per name)."""
        out = os.path.join(tmp.name, name)
        if not os.path.exists(out):
            su.run_cli("learn", "--model", su.MODEL, "--ref-image", self.REF, "--ref-mask", mask, "--out", out, *extra)
        with open(out, "rb") as f:
            return out, f.read()

    def learn_served(self, reference, method):
        status, data = server.request("POST", "/api/concept", {
            "reference": reference, "method": method, "image_name": self.REF, "mask_name": self.REF_MASK})
        self.assertEqual(status, 200, data)
        self.assertIsInstance(data, bytes)
        return data

    def check_learn(self, method, extra):
        _, cli = self.learn_cli(method + ".concept", self.REF_MASK, *extra)
        served = self.learn_served({"image": self.ref_id, "mask_png": self.mask_b64}, method)
        self.assertEqual(served, cli, f"{method}: the served concept differs from persam learn's")

    def test_learn_persam(self):
        self.check_learn("persam", [])

    def test_learn_persam_f(self):
        self.check_learn("persam_f", ["--finetune"])

    def test_learn_from_strokes(self):
        # Strokes are rasterised as documented: the concept equals persam
        # learn's from that raster saved as a PNG.
        strokes = [{"width": 40, "points": [[300, 260], [420, 300], [520, 330]]},
                   {"width": 25, "points": [[380, 420]]}]
        height, width = np.asarray(Image.open(self.REF)).shape[:2]
        raster = os.path.join(tmp.name, "strokes.png")
        Image.fromarray(rasterize_strokes(strokes, height, width)).save(raster)
        _, cli = self.learn_cli("strokes.concept", raster)
        status, data = server.request("POST", "/api/concept", {
            "reference": {"image": self.ref_id, "strokes": strokes}, "image_name": self.REF, "mask_name": raster})
        self.assertEqual(status, 200, data)
        self.assertEqual(data, cli)
        # Personalise straight from strokes.
        status, body = server.request("POST", "/api/personalize", {
            "reference": {"image": self.ref_id, "strokes": strokes}, "targets": [self.target_id]})
        self.assertEqual(status, 200, body)
        self.assertGreater(body["targets"][0]["mask_area"], 0)

    def test_upload_and_personalize(self):
        # A concept from persam learn segments a target exactly as `persam
        # find` does with that file (its first instance: PerSAM's mask).
        target = su.image_path("cat", "01.png")
        for method, extra in (("persam", []), ("persam_f", ["--finetune"])):
            path, data = self.learn_cli(method + ".concept", self.REF_MASK, *extra)
            status, up = server.request("POST", "/api/concepts", data, "application/octet-stream")
            self.assertEqual(status, 201, up)
            self.assertEqual(up["method"], method)
            self.assertEqual(up["references"][0]["image"], self.REF)
            status, body = server.request("POST", "/api/personalize", {"concept": up["concept"],
                                                                      "targets": [self.target_id]})
            self.assertEqual(status, 200, body)
            self.assertEqual(body["method"], method)
            self.assertEqual(body["reference"]["concept"], up["concept"])
            out = os.path.join(tmp.name, "find_" + method)
            su.run_cli("find", "--model", su.MODEL, "--concept", path, "--out", out, target)
            with open(os.path.join(out, "results.jsonl")) as f:
                found = json.loads(f.readline())
            self.assertTrue(found["present"], found)
            served = body["targets"][0]
            cli_mask = su.read_png(os.path.join(out, found["instances"][0]["mask"])) > 0
            self.assertTrue(np.array_equal(su.decode_png(served["mask"]) > 0, cli_mask), method)
            positive = [p for p in served["prior_points"] if p["label"] == 1][0]
            self.assertEqual([positive["x"], positive["y"]], found["instances"][0]["point"])

    def test_other_model_refused(self):
        # The same checkpoint at bf16 is another model for a concept, as
        # `persam find` says; the server refuses the file the same way.
        path, data = self.learn_cli("bf16.concept", self.REF_MASK, "--precision", "bf16")
        cmd = [su.EXE, "find", "--model", su.MODEL, "--concept", path, "--out", os.path.join(tmp.name, "find_bf16"),
               "--quiet", su.image_path("cat", "01.png")]
        cli = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertNotEqual(cli.returncode, 0)
        self.assertIn("was learned with model", cli.stderr)
        status, reply = server.request("POST", "/api/concepts", data, "application/octet-stream")
        self.assertEqual(status, 409, reply)
        self.assertIn("was learned with model", reply["error"])
        self.assertIn("bf16", reply["error"])

    def test_bad_concepts(self):
        _, data = self.learn_cli("persam.concept", self.REF_MASK)

        def upload(body, status, message):
            got, reply = server.request("POST", "/api/concepts", body, "application/octet-stream")
            self.assertEqual(got, status, reply)
            self.assertIsInstance(reply, dict)
            self.assertIn(message, reply["error"])

        upload(b"", 400, "empty upload")
        upload(b"not a concept", 400, "not a readable concept file")
        upload(data[:len(data) // 2], 400, "not a readable concept file")
        flipped = bytearray(data)
        flipped[-3] ^= 0x40  # a tensor byte: the content hash catches it
        upload(bytes(flipped), 400, "content hash")
        with open(su.MODEL, "rb") as f:  # a checkpoint is no concept
            upload(f.read(1 << 20), 400, "")
        fake = "0123456789abcdef0123456789abcdef"

        def per(body, status, message):
            got, reply = server.request("POST", "/api/personalize", body)
            self.assertEqual(got, status, reply)
            self.assertIn(message, reply["error"])

        per({"concept": fake, "targets": [self.target_id]}, 404, "no concept")
        per({"concept": "x", "targets": [self.target_id]}, 400, "concept: expected an id")
        per({"concept": fake, "targets": [self.target_id], "method": "persam"}, 400, "keeps the method")
        per({"concept": fake, "reference": {"image": self.ref_id, "mask_png": self.mask_b64},
             "targets": [self.target_id]}, 400, "exactly one")

    def test_bad_concept_requests(self):
        def learn(body, status, message):
            got, reply = server.request("POST", "/api/concept", body)
            self.assertEqual(got, status, reply)
            self.assertIsInstance(reply, dict)
            self.assertIn(message, reply["error"])

        ref = {"image": self.ref_id, "mask_png": self.mask_b64}
        learn({}, 400, "reference")
        learn({"reference": ref, "method": "sam"}, 400, "method")
        learn({"reference": ref, "targets": []}, 400, "unknown member 'targets'")
        learn({"reference": ref, "image_name": 5}, 400, "image_name")
        learn({"reference": ref, "mask_name": "x" * 300}, 400, "mask_name")
        empty = base64.b64encode(png_bytes(np.zeros((10, 10), dtype=np.uint8))).decode()
        learn({"reference": {"image": self.ref_id, "mask_png": empty}}, 400, "reference mask is 10 x 10")

        def strokes(value, message, status=400):
            learn({"reference": {"image": self.ref_id, "strokes": value}}, status, message)

        strokes([], "non-empty array")
        strokes("abc", "non-empty array")
        strokes([{"width": 0, "points": [[1, 1]]}], "strokes[0].width")
        strokes([{"width": 600, "points": [[1, 1]]}], "strokes[0].width")
        strokes([{"width": 5, "points": []}], "strokes[0].points")
        strokes([{"width": 5, "points": [[1, 2, 3]]}], "strokes[0].points[0]: expected [x, y]")
        strokes([{"width": 5, "points": [[1, "2"]]}], "strokes[0].points[0][1]")
        strokes([{"width": 5}], "needs")
        strokes([{"width": 5, "points": [[1, 1]], "colour": 1}], "unknown member 'colour'")
        strokes([{"width": 5, "points": [[10, 10], [5000, 10]]}], "strokes[0].points[1] (5000")
        strokes([{"width": 5, "points": [[10, 10]]}] * 2 + [{"width": 5, "points": [[1, 1]] * 100000}], "at most")
        # Wide strokes painted over and over: refused before the work.
        strokes([{"width": 512, "points": [[300, 300], [301, 300]] * 2000}], "too many wide")
        learn('{"reference": {"image": "%s", "strokes": [{"width": 5, "points": [[1e999, 1]]}]}}' % self.ref_id,
              400, "")


def png_bytes(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def png_claiming(width, height):
    """A valid PNG header and a tiny IDAT for a huge image: a decompression bomb's shape."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


class BadRequests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.image_id = server.upload(su.image_path("cat", "01.png"))
        cls.other_id = server.upload(su.image_path("cat", "02.png"))
        server.wait_ready(cls.image_id)
        status, cls.pred = server.request("POST", f"/api/images/{cls.other_id}/predict",
                                          {"points": [{"x": 10, "y": 10}]})
        assert status == 200, cls.pred

    def expect(self, status, method, path, body=None, content_type=None, message=""):
        got, reply = server.request(method, path, body, content_type)
        self.assertEqual(got, status, f"{method} {path} {str(body)[:200]!r}: {reply}")
        self.assertIsInstance(reply, dict, f"{method} {path}: the error body is not JSON")
        self.assertIn(message, reply.get("error", ""))
        return reply

    def predict(self, body, status=400, message="", content_type=None):
        return self.expect(status, "POST", f"/api/images/{self.image_id}/predict", body, content_type, message)

    def test_bad_json(self):
        self.predict('{"points": [', message="request body")
        self.predict("", message="empty request body")
        self.predict("[1, 2]", message="expected a JSON object")
        self.predict('{"points": [{"x": NaN, "y": 1}]}', message="request body")
        self.predict('{"points": [], "points": []}', message="request body")

    def test_wrong_types(self):
        self.predict({"points": {"x": 1}}, message="points: expected an array")
        self.predict({"points": [{"x": "1", "y": 2}]}, message="points[0].x: expected a number")
        self.predict({"points": [[1, 2]]}, message="points[0]: expected")
        self.predict({"points": [{"x": 1, "y": 2, "label": 2}]}, message="points[0].label")
        self.predict({"points": [{"x": 1, "y": 2, "label": 0.5}]}, message="points[0].label")
        self.predict({"points": [{"x": 1, "y": 2}], "multimask": "yes"}, message="multimask")
        self.predict({"box": [1, 2, 3]}, message="box: expected")
        self.predict({"points": [{"x": 1, "y": 2}], "format": "jpeg"}, message="format")
        self.predict({"points": [{"x": 1, "y": 2}], "mask_input": "abc"}, message="mask_input")
        self.predict({"points": [{"x": 1, "y": 2}], "multimask": True, "typo": 1}, message="unknown member 'typo'")
        self.predict({}, message="give at least one")
        self.predict({"points": [{"x": 1, "y": 1}] * 300}, message="at most")

    def test_non_finite_and_outside(self):
        self.predict('{"points": [{"x": 1e999, "y": 1}]}', message="")
        self.predict({"points": [{"x": -1, "y": 5}]}, message="outside the 1277 x 977 image")
        self.predict({"points": [{"x": 1277, "y": 5}]}, message="outside")
        self.predict({"points": [{"x": 5, "y": 977}]}, message="outside")
        self.predict({"box": [10, 10, 5, 20]}, message="x0 <= x1")
        self.predict({"box": [0, 0, 1278, 10]}, message="outside")

    def test_unknown_ids(self):
        fake = "0123456789abcdef0123456789abcdef"
        self.expect(404, "POST", f"/api/images/{fake}/predict", {"points": [{"x": 1, "y": 1}]}, message="no image")
        self.expect(404, "GET", "/api/images/../../etc/passwd", message="")
        self.expect(404, "GET", "/api/images/%2e%2e%2fetc")
        self.expect(404, "GET", f"/api/results/{fake}", message="no result")
        self.expect(404, "GET", f"/api/results/{self.pred['result']}/masks/1.png", message="mask index")
        self.expect(404, "GET", f"/api/results/{self.pred['result']}/masks/x.png", message="mask index")
        self.predict({"points": [{"x": 1, "y": 1}], "mask_input": {"result": fake}}, status=404, message="no result")
        self.predict({"points": [{"x": 1, "y": 1}], "mask_input": {"result": self.pred["result"]}},
                     message="belongs to another image")
        self.predict({"points": [{"x": 1, "y": 1}], "mask_input": {"result": self.pred["result"], "index": 3}},
                     message="mask_input.index")
        self.expect(404, "GET", "/api/nothing", message="no such endpoint")
        self.expect(404, "DELETE", f"/api/images/{fake}", message="no image")

    def test_uploads(self):
        self.expect(400, "POST", "/api/images", b"", "application/octet-stream", message="empty upload")
        self.expect(400, "POST", "/api/images", b"not an image at all", "application/octet-stream",
                    message="not an image this build decodes")
        self.expect(413, "POST", "/api/images", b"x" * (3 << 20), "application/octet-stream", message="2 MB limit")
        self.expect(413, "POST", "/api/images", b"x" * 10000, "application/x-www-form-urlencoded",
                    message="application/octet-stream")
        # A header claiming 60000 x 60000 pixels is refused, not decoded.
        got, reply = server.request("POST", "/api/images", png_claiming(60000, 60000), "application/octet-stream")
        self.assertIn(got, (400, 413), reply)
        self.assertIn("error", reply)

    def test_personalize(self):
        mask = np.zeros((977, 1277), dtype=np.uint8)
        mask[400:600, 500:800] = 255
        good = base64.b64encode(png_bytes(mask)).decode()
        ref = {"image": self.image_id, "mask_png": good}

        def per(body, status=400, message=""):
            return self.expect(status, "POST", "/api/personalize", body, message=message)

        per({"targets": [self.image_id]}, message="reference")
        per({"reference": ref}, message="targets")
        per({"reference": ref, "targets": []}, message="targets")
        per({"reference": ref, "targets": [self.image_id], "method": "sam"}, message="method")
        per({"reference": {**ref, "result": self.pred["result"]}, "targets": [self.image_id]},
            message="exactly one")
        per({"reference": {"image": self.image_id, "mask_png": "***"}, "targets": [self.image_id]},
            message="base64")
        per({"reference": {"image": self.image_id, "mask_png": base64.b64encode(png_bytes(mask * 0)).decode()},
             "targets": [self.image_id]}, message="")
        per({"reference": {"image": self.image_id, "mask_png": base64.b64encode(png_bytes(mask[:10])).decode()},
             "targets": [self.image_id]}, message="reference mask is 1277 x 10")
        per({"reference": {"image": self.image_id, "result": self.pred["result"]}, "targets": [self.image_id]},
            message="segments another image")
        per({"reference": ref, "targets": ["0123456789abcdef0123456789abcdef"]}, status=404, message="no image")
        per({"reference": ref, "targets": ["short"]}, message="targets[0]")


class Lifecycle(unittest.TestCase):
    def test_info_and_delete(self):
        status, info = server.request("GET", "/api/info")
        self.assertEqual(status, 200)
        self.assertEqual(info["mask_size"], 256)
        image_id = server.upload(su.image_path("cat", "01.png"))
        status, body = server.request("DELETE", f"/api/images/{image_id}")
        self.assertEqual(status, 200, body)
        status, body = server.request("GET", f"/api/images/{image_id}")
        self.assertEqual(status, 404, body)

    def test_page(self):
        for path, kind in [("/", "text/html"), ("/app.js", "text/javascript"), ("/style.css", "text/css")]:
            req_status, data = server.request("GET", path)
            self.assertEqual(req_status, 200)
            self.assertGreater(len(data), 500)

    def test_cache_cap_evicts_oldest(self):
        # 64 MB cache: 48 MB for images; a 1277 x 977 image + 4 MB embedding
        # is ~7.7 MB, so 6 fit. The first, once encoded, is evicted by the
        # 7th upload; the others are still waiting for the encoder, so they
        # stay (pinned) even though the cache is then above its cap.
        small = su.Server("--cache-mb", "64")
        try:
            first = small.upload(su.image_path("cat", "01.png"))
            small.wait_ready(first)
            ids = [small.upload(su.image_path("cat", "01.png")) for _ in range(6)]
            self.assertEqual(small.request("GET", f"/api/images/{first}")[0], 404)
            for image_id in ids:
                self.assertEqual(small.request("GET", f"/api/images/{image_id}")[0], 200)
            status, info = small.request("GET", "/api/info")
            self.assertEqual(info["images"], 6)
        finally:
            code, _, err = small.stop()
            self.assertEqual(code, 0, err)

    def test_non_loopback_warns(self):
        import signal
        import subprocess
        # A non-loopback address serves, with a warning first.
        proc = subprocess.Popen([su.EXE, "serve", "--model", su.MODEL, "--host", "0.0.0.0", "--port", "0",
                                 "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = [proc.stdout.readline() for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        text = "".join(lines) + rest
        self.assertEqual(proc.returncode, 0, text)
        self.assertIn("warning: listening on 0.0.0.0", text)
        self.assertIn("no authentication", text)
        self.assertIn("interrupted, stopped", text)
        proc = subprocess.run([su.EXE, "serve", "--model", "/nonexistent.pth", "--host", "0.0.0.0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("/nonexistent.pth", proc.stderr)
        # A port in use: exit 1 naming the address.
        proc = subprocess.run([su.EXE, "serve", "--model", su.MODEL, "--port", str(server.port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn(f"cannot listen on 127.0.0.1:{server.port}", proc.stderr)
        proc = subprocess.run([su.EXE, "serve", "--model", su.MODEL, "--port", "70000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--port", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
