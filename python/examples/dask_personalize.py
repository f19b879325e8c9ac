#!/usr/bin/env python3
"""PerSAM over a folder of images on a dask.distributed cluster.

    python3 dask_personalize.py --local-workers 2 --model sam_vit_b.safetensors \
        --ref-image ref.jpg --ref-mask ref_mask.png --out masks/ photos/
    python3 dask_personalize.py --scheduler tcp://10.0.0.5:8786 ...   # an existing cluster

Every worker process loads the model and learns the reference once (a
WorkerPlugin: its setup() runs once per worker, also on workers that join
later); then each target image is one task, which segments it and writes
OUT/<target stem>.png, the mask with the object in RGB (128, 0, 0) on black,
as `persam personalize --ref-image ... --out OUT TARGET...` (--no-vis: no
vis_mask_*.jpg). Workers read the targets and write OUT themselves, so with
remote workers the paths must be on a shared file system.

Engine threads per worker: --threads, by default the machine's cores divided
by the local workers (--local-workers) or by the worker's task threads.
"""
import argparse
import hashlib
import json
import logging
import os
import sys
import time
import uuid

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tga")
PLUGIN_PREFIX = "persam-personalizer"

try:
    import persam  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # running from the source tree: <repo>/python/examples
    _python_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, _python_dir)
    # Worker processes of a LocalCluster inherit the environment.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_python_dir, os.environ.get("PYTHONPATH")) if p)
    import persam  # noqa: F401

from distributed import Client, LocalCluster, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin


class PersonalizerPlugin(WorkerPlugin):
    """Holds one persam.Model + persam.Personalizer per worker process."""

    def __init__(self, model, ref_image, ref_mask, finetune=False, threads=None):
        self.model_path = os.path.abspath(model)
        self.ref_image = os.path.abspath(ref_image)
        self.ref_mask = os.path.abspath(ref_mask)
        self.finetune = finetune
        self.threads = threads
        key = "\0".join([self.model_path, self.ref_image, self.ref_mask, str(bool(finetune))])
        self.name = f"{PLUGIN_PREFIX}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
        self.model = self.personalizer = None
        self.load_seconds = 0.0

    def setup(self, worker):
        import persam
        threads = self.threads or max(1, (os.cpu_count() or 1) // max(1, worker.state.nthreads))
        start = time.perf_counter()
        self.model = persam.Model(self.model_path, threads=threads)
        self.personalizer = persam.Personalizer(self.model, self.ref_image, self.ref_mask, finetune=self.finetune)
        self.load_seconds = time.perf_counter() - start
        self.loads = getattr(self, "loads", 0) + 1

    def teardown(self, worker):
        if self.model is not None:
            self.model.close()  # closes the personalizer too
        self.model = self.personalizer = None


def write_mask_png(path, mask):
    """The CLI's mask PNG: RGB, (128, 0, 0) for the object, black elsewhere;
    written to a temporary name and renamed (no half-written files)."""
    import numpy as np
    from PIL import Image
    rgb = np.zeros(mask.shape + (3,), np.uint8)
    rgb[mask, 0] = 128
    directory, name = os.path.split(path)
    temp = os.path.join(directory, f".{os.path.splitext(name)[0]}.tmp{os.getpid()}.png")
    try:
        Image.fromarray(rgb).save(temp)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def segment_target(path, out_path, plugin_name):
    """One task: segment `path` with this worker's personalizer, write out_path."""
    worker = get_worker()
    plugin = worker.plugins[plugin_name]
    start = time.perf_counter()
    mask, point = plugin.personalizer.segment(path)
    seconds = time.perf_counter() - start
    write_mask_png(out_path, mask)
    return {"target": path, "mask": out_path, "area": int(mask.sum()), "point": point, "seconds": seconds,
            "worker": worker.address, "pid": os.getpid(), "model_loads": plugin.loads,
            "load_seconds": plugin.load_seconds}


def collect_targets(items):
    """Files, and the images of folders (sorted), as [(stem, path)]; two
    targets with one stem would overwrite each other's output: an error."""
    targets, seen = [], {}
    for item in items:
        if os.path.isdir(item):
            paths = sorted(os.path.join(item, f) for f in os.listdir(item)
                           if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
        elif os.path.isfile(item):
            paths = [item]
        else:
            raise SystemExit(f"error: target '{item}' not found")
        for path in paths:
            stem = os.path.splitext(os.path.basename(path))[0]
            if stem in seen:
                raise SystemExit(f"error: two target images share the output name '{stem}' ({seen[stem]}, {path})")
            seen[stem] = path
            targets.append((stem, os.path.abspath(path)))
    if not targets:
        raise SystemExit("error: no target image given")
    return targets


def personalize(client, model, ref_image, ref_mask, targets, out_dir, finetune=False, threads=None,
                progress=None):
    """Maps PerSAM over targets [(stem, path)] on `client`; returns one
    result dict per target, in the targets' order."""
    if __name__ != "__main__":
        # Imported as a module: ship this module's code to the workers
        # (they need not be able to import it).
        import cloudpickle
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    os.makedirs(out_dir, exist_ok=True)
    plugin = PersonalizerPlugin(model, ref_image, ref_mask, finetune=finetune, threads=threads)
    out_dir = os.path.abspath(out_dir)
    futures = []
    run = uuid.uuid4().hex[:8]  # task keys unique across runs sharing a cluster
    try:
        # Runs setup() on every worker now (and on those joining later); a
        # failure there (e.g. persam.EngineError for a bad model) raises here.
        client.register_worker_plugin(plugin, name=plugin.name)
        futures = client.map(segment_target, [p for _, p in targets],
                             [os.path.join(out_dir, f"{stem}.png") for stem, _ in targets],
                             plugin_name=plugin.name, pure=False, key=[f"persam-{stem}-{run}" for stem, _ in targets])
        order = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(futures)
        for future in as_completed(futures):
            r = future.result()  # re-raises a task's exception (e.g. persam.EngineError) here
            results[order[future.key]] = r
            if progress:
                progress(r)
    finally:
        # A long-lived cluster must not keep the model in every worker.
        if futures:
            client.cancel(futures)
        try:
            client.unregister_worker_plugin(plugin.name)
        except Exception:  # never registered
            pass
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--local-workers", type=int, metavar="N",
                       help="start a LocalCluster of N worker processes (1 thread each) on 127.0.0.1")
    parser.add_argument("--model", required=True, help="SAM checkpoint (.pth / .safetensors)")
    parser.add_argument("--ref-image", required=True)
    parser.add_argument("--ref-mask", required=True, help="reference mask (any non-zero pixel is the object)")
    parser.add_argument("--out", required=True, help="output directory: OUT/<target stem>.png")
    parser.add_argument("--finetune", action="store_true", help="PerSAM-F")
    parser.add_argument("--threads", type=int, help="engine threads per worker process")
    parser.add_argument("--report", metavar="FILE", help="write the per-target results as JSON")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("targets", nargs="+", help="target images or folders of images")
    args = parser.parse_args(argv)

    targets = collect_targets(args.targets)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    start = time.perf_counter()
    if args.local_workers is not None:
        if args.local_workers < 1:
            parser.error("--local-workers must be at least 1")
        threads = args.threads or max(1, (os.cpu_count() or 1) // args.local_workers)
        cluster = LocalCluster(n_workers=args.local_workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        threads, cluster = args.threads, None
        client = Client(args.scheduler)
    try:
        say(f"{len(targets)} target(s) on {len(client.scheduler_info()['workers'])} worker(s)")
        results = personalize(client, args.model, args.ref_image, args.ref_mask, targets, args.out,
                              finetune=args.finetune, threads=threads,
                              progress=lambda r: say(f"{r['mask']}: area {r['area']} px, point {r['point']}, "
                                                     f"{r['seconds']:.2f} s on {r['worker']}"))
    except persam.PersamError as e:  # raised on a worker, re-raised here: one line, as the CLI
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if args.report:
        with open(args.report, "w") as f:
            json.dump(results, f, indent=1)
    say(f"{len(results)} mask(s) in {args.out}, {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
