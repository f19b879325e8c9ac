"""examples/dask_personalize.py on a LocalCluster of 2 worker processes
(loopback): the masks equal `persam personalize`'s (or, without the CLI,
persam.Personalizer's) for the same reference and targets."""
import json
import os
import subprocess
import sys
import unittest

import numpy as np

import _common as C

try:
    import distributed  # noqa: F401
except ImportError:
    distributed = None

EXAMPLE = os.path.join(C.PYTHON_DIR, "examples", "dask_personalize.py")


def setUpModule():
    if distributed is None:
        raise unittest.SkipTest("dask.distributed is not importable (Debian: apt-get install python3-distributed)")
    C.require_fixtures()


class DaskPersonalize(unittest.TestCase):
    def test_local_cluster_two_workers(self):
        obj = "cat"
        out = C.tmpdir("dask-out")
        report = os.path.join(C.tmpdir("dask-report"), "report.json")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (C.PYTHON_DIR, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, EXAMPLE, "--local-workers", "2", "--threads", str(C.THREADS), "--model", C.MODEL,
               "--ref-image", os.path.join(C.IMAGES, obj, "00.png"), "--ref-mask", os.path.join(C.MASKS, obj, "00.png"),
               "--out", out, "--report", report, "--quiet", os.path.join(C.IMAGES, obj)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])

        stems = sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(C.IMAGES, obj)))
        self.assertEqual(sorted(os.listdir(out)), [f"{s}.png" for s in stems])  # the CLI's naming
        with open(report) as f:
            results = json.load(f)
        self.assertEqual([os.path.basename(r["mask"]) for r in results], [f"{s}.png" for s in stems])
        # One model load per worker process, however many tasks it ran.
        self.assertTrue(all(r["model_loads"] == 1 for r in results), results)
        self.assertLessEqual(len({r["pid"] for r in results}), 2)

        if os.access(C.EXE, os.X_OK):
            expected = C.cli_personalize(obj, "00", tuple(stems))
        else:
            import persam
            with persam.Personalizer(C.model(), os.path.join(C.IMAGES, obj, "00.png"),
                                     os.path.join(C.MASKS, obj, "00.png")) as p:
                expected = {s: p.segment(os.path.join(C.IMAGES, obj, f"{s}.png"))[0] for s in stems}
        for r, stem in zip(results, stems):
            mask = C.cli_mask_png(os.path.join(out, f"{stem}.png"))
            self.assertTrue(np.array_equal(mask, expected[stem]), f"{obj}/{stem}: mask differs")
            self.assertEqual(r["area"], int(mask.sum()))


if __name__ == "__main__":
    unittest.main()
