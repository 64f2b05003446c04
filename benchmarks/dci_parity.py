"""Parity of DCI-gbt with the scikit-learn reference path at the reference sizes.

The arrays are :func:`benchmarks.metrics_scores.vae_like_codes` (10,000 train / 5,000
test points, 10 codes, factors of sizes 3, 6, 40, 32, 32). The reference importance matrix
comes from scikit-learn's ``GradientBoostingClassifier()`` (the reference's
``compute_importance_gbt``), one process per factor so that the five fits run in parallel
(each process seeds NumPy's global RNG with 0 before its fit). It is computed on the raw
codes and, to separate the effect of histogram splits from the rest, on the codes
pre-binned into 32 quantile bins. disentax's ``dci`` runs with several bin counts.

Run: ``python -m benchmarks.dci_parity --out FILE [--bins 16,32,64] [--quick]``.
``--reference FILE`` skips the scikit-learn fits (minutes of CPU) and compares with the
``sklearn`` record of an earlier run's JSON (this script's ``--out``, or a ``disentax bench
metrics/dci`` results file with a ``metrics/dci/sklearn`` row) on the same arrays.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time

import numpy as np

from benchmarks.metrics_scores import vae_like_codes


def _fit_one(args):
    x_train, y_train, x_test, y_test = args
    from sklearn.ensemble import GradientBoostingClassifier

    np.random.seed(0)  # noqa: NPY002 (scikit-learn draws its feature permutations here)
    start = time.perf_counter()
    model = GradientBoostingClassifier().fit(x_train, y_train)
    return (
        np.abs(model.feature_importances_).tolist(),
        float(np.mean(model.predict(x_train) == y_train)),
        float(np.mean(model.predict(x_test) == y_test)),
        time.perf_counter() - start,
    )


def sklearn_reference(x_train, y_train, x_test, y_test, processes: int) -> dict:
    from disentax.metrics.dci import dci_from_importance

    jobs = [(x_train, y_train[:, j], x_test, y_test[:, j]) for j in range(y_train.shape[1])]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        fits = pool.map(_fit_one, jobs)
    importance = np.asarray([f[0] for f in fits]).T
    d, c = dci_from_importance(importance)
    return {
        "disentanglement": float(d),
        "completeness": float(c),
        "informativeness_train": float(np.mean([f[1] for f in fits])),
        "informativeness_test": float(np.mean([f[2] for f in fits])),
        "seconds_per_factor": [f[3] for f in fits],
        "importance": importance.tolist(),
    }


def stored_reference(path: str, num_train: int, num_test: int) -> dict:
    """The scikit-learn record of an earlier run on the same arrays (see the docstring)."""
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    if "sklearn" in data:
        ref, sizes = data["sklearn"], (data["num_train"], data["num_test"])
    else:
        rows = {r["name"]: r for r in data["results"]}
        row = rows["metrics/dci/sklearn"]
        ref, sizes = row["value"], (row["num_train"], row["num_test"])
    if sizes != (num_train, num_test):
        raise ValueError(f"{path} holds sizes {sizes}, not {(num_train, num_test)}")
    return {**ref, "source": path}


def main() -> None:
    import jax

    from disentax.metrics import dci
    from disentax.metrics.estimators import gbt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bins", default="16,32,64,128")
    parser.add_argument("--quick", action="store_true", help="2,000 / 1,000 points")
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--out", default=None)
    parser.add_argument("--reference", default=None, help="JSON with a stored sklearn record")
    args = parser.parse_args()
    num_train, num_test = (2000, 1000) if args.quick else (10_000, 5_000)
    ctr, ftr = vae_like_codes(num_train, seed=0)
    cte, fte = vae_like_codes(num_test, seed=1)
    record = {
        "num_train": num_train,
        "num_test": num_test,
        "device": jax.devices()[0].device_kind,
        "disentax": {},
    }
    if args.reference:
        record["sklearn"] = stored_reference(args.reference, num_train, num_test)
    else:
        edges = gbt.quantile_bin_edges(ctr, 32)
        binned = [np.asarray(gbt.apply_bins(c, edges), np.float64) for c in (ctr, cte)]
        record["sklearn"] = sklearn_reference(ctr, ftr, cte, fte, args.processes)
        record["sklearn_prebinned32"] = sklearn_reference(
            binned[0], ftr, binned[1], fte, args.processes
        )
    for num_bins in (int(b) for b in args.bins.split(",")):
        jax.block_until_ready(dci(ctr, ftr, cte, fte, num_bins=num_bins))  # compile
        start = time.process_time()
        out = jax.block_until_ready(dci(ctr, ftr, cte, fte, num_bins=num_bins))
        record["disentax"][f"bins{num_bins}"] = {
            k: float(v) if np.ndim(v) == 0 else np.asarray(v).tolist() for k, v in out.items()
        }
        record["disentax"][f"bins{num_bins}"]["cpu_seconds"] = time.process_time() - start
    compared = [(k, v) for k, v in record.items() if k == "sklearn_prebinned32"]
    for name, row in compared + list(record["disentax"].items()):
        row["abs_diff_vs_sklearn"] = {
            k: abs(row[k] - record["sklearn"][k]) for k in ("disentanglement", "completeness")
        }
        print(
            name,
            {k: round(row[k], 4) for k in ("disentanglement", "completeness")},
            row["abs_diff_vs_sklearn"],
        )
    print(
        "sklearn", {k: round(record["sklearn"][k], 4) for k in ("disentanglement", "completeness")}
    )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=2)


if __name__ == "__main__":
    main()
