"""Loading a TFDS-prepared dSprites: per-example decoding vs the adapter's batches + cache.

Writes a prepared array_record ``dsprites`` folder (procedural dSprites images, PNG as
TFDS stores them; :func:`disentax.data.tfds_testing.write_prepared`, no TensorFlow) over
the first ``--posy`` posY values of the published grid (32 gives the full 737,280),
then times:

* ``per_example``: ``tfds.data_source(...)[i]`` one index at a time, in order (TFDS's
  own deserialisation and decoding: what the adapter did before), on the first
  ``--sample`` indices;
* ``first_load``: ``tfds_adapter.load`` without a cached grid (batched raw records,
  protobuf + Pillow decoding, grid order, bit-packing, cache write), for each
  ``--batch-sizes`` x ``--workers`` (wall time, the CPU time of this process and of
  the worker processes);
* ``cached_load``: ``tfds_adapter.load`` again (the ``.npy`` read back), median of 3.

Prints one JSON object (times in seconds, per-example costs in microseconds, and the
full-grid extrapolation). Usage::

    python -m benchmarks.tfds_load --posy 4 --workdir /tmp/tfds_bench [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

FULL = 737_280
LABELS = ("label_shape", "label_scale", "label_orientation", "label_x_position", "label_y_position")


def _write(root: Path, posy: int) -> int:
    from disentax.data import dsprites, tfds_testing

    sizes = (3, 6, 40, 32, posy)
    classes = np.indices(sizes).reshape(5, -1).T
    chunks = [
        np.asarray(dsprites.render(classes[i : i + 8192])) for i in range(0, len(classes), 8192)
    ]
    images = np.concatenate(chunks).astype(np.uint8).reshape(-1, 64, 64, 1)
    labels = {k: classes[:, j] for j, k in enumerate(LABELS)}
    tfds_testing.write_prepared("dsprites", root, images, labels, num_shards=8)
    return len(images)


def _per_example(root: Path, sample: int) -> tuple[float, float]:
    import tensorflow_datasets as tfds

    source = tfds.data_source("dsprites", split="train", data_dir=str(root), download=False)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(min(sample, len(source))):  # in order, as the adapter used to read
        source[i]
    return (time.perf_counter() - start) / sample, (time.process_time() - cpu) / sample


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers, once joined
    return usage.ru_utime + usage.ru_stime


def _load(root: Path, cache: Path, batch_size: int, workers: int) -> tuple[float, ...]:
    from disentax.data import tfds_adapter

    start, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    dataset = tfds_adapter.load(
        "dsprites", data_dir=root, cache_dir=cache, batch_size=batch_size, num_workers=workers
    )
    dataset.images.block_until_ready()
    spent = time.process_time() - cpu, _children_cpu() - children
    return time.perf_counter() - start, *spent


def main(argv=None) -> dict:
    """Runs the measurements and prints them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posy", type=int, default=4, help="posY values (32: full grid)")
    parser.add_argument("--sample", type=int, default=2000, help="indices read one by one")
    parser.add_argument("--batch-sizes", default="1024,64")
    parser.add_argument("--workers", default="1,2", help="decoding processes")
    parser.add_argument("--reuse", action="store_true", help="keep an earlier folder")
    parser.add_argument("--workdir", default="/tmp/tfds_bench")
    args = parser.parse_args(argv)
    import tensorflow_datasets as tfds

    work = Path(args.workdir)
    root, cache = work / "data", work / "cache"
    start = time.perf_counter()
    if not (args.reuse and root.is_dir()):
        shutil.rmtree(work, ignore_errors=True)
        _write(root, args.posy)
    out = {"examples": 3 * 6 * 40 * 32 * args.posy, "write_s": round(time.perf_counter() - start)}
    n = out["examples"]
    wall, cpu = _per_example(root, args.sample)
    out["per_example_us"] = {"wall": round(wall * 1e6, 1), "cpu": round(cpu * 1e6, 1)}
    out["first_load"] = {}
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        for workers in (int(w) for w in args.workers.split(",")):
            shutil.rmtree(cache, ignore_errors=True)
            wall, cpu, children = _load(root, cache, batch_size, workers)
            out["first_load"][f"batch{batch_size}_workers{workers}"] = {
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "workers_cpu_s": round(children, 2),
                "wall_us": round(wall / n * 1e6, 1),
            }
    cached = [_load(root, cache, 1024, 1)[0] for _ in range(3)]
    out["cached_load_s"] = round(statistics.median(cached), 3)
    out["cache_bytes"] = sum(p.stat().st_size for p in cache.rglob("*.npy"))
    best = min(v["wall_us"] for v in out["first_load"].values())
    out["full_grid_extrapolated_s"] = {
        "per_example": round(out["per_example_us"]["wall"] * FULL / 1e6),
        "first_load": round(best * FULL / 1e6),
    }
    out["versions"] = {"tensorflow_datasets": tfds.__version__, "numpy": np.__version__}
    python = platform.python_version()
    out["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {python}"
    out["load_average_1_5_15"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
