#!/usr/bin/env bash
# The accelerator benchmarks for the README's table, in one short call (~5-8 minutes).
#
#   bash benchmarks/gpu.sh [OUT.json]        # default: benchmarks/results/gpu.json
#
# Needs a JAX with an accelerator backend in $PYTHON (default: python), e.g.
# `pip install -e . "jax[cuda12]"`; it stops at once, with a message, when JAX sees only
# the CPU (DISENTAX_GPU_SH_ON_CPU=1 runs it there anyway, to try the script itself).
#
# On the lent GPU machine (no registry; Python 3.12 with JAX): first, here,
# `bash benchmarks/device_wheels.sh`, then run there, carrying .whl:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
#     --target /tmp/site .whl/*.whl && PYTHONPATH=.:/tmp/site PYTHON=python3 \
#     bash benchmarks/gpu.sh $OUT/gpu.json
# and copy $OUT/gpu.json to benchmarks/results/gpu.json.
#
# Frameworks keep their default threads (DISENTAX_BENCH_THREADS=all); the PyTorch
# comparison and the per-layer profile are CPU benchmarks and are not run here,
# nor is the metric suite's scikit-learn baseline (minutes of host CPU); the metric
# kernels are timed by metrics/scaling, and Chen et al.'s full-grid MIG (737,280 points,
# 10,000 samples) by metrics/mig_grid. The study rows time a group of models over every
# accelerator (one GPU: a models axis of 1) and the group evaluation that `disentax study
# run` uses on accelerators (on a CPU it scores models one at a time). Each benchmark runs
# in its own process, so one failure does not stop the rest; the exit status is 1 if any
# failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${1:-benchmarks/results/gpu.json}

"$PY" - <<'EOF' || exit 2
import os
import sys

import jax
backend = jax.default_backend()
if backend == "cpu" and os.environ.get("DISENTAX_GPU_SH_ON_CPU") != "1":
    sys.exit("benchmarks/gpu.sh: JAX sees no accelerator (backend: cpu); install a CUDA/ROCm/TPU "
             "build of jax, or run `disentax bench` for the CPU benchmarks")
print(f"backend {backend}: {jax.devices()}")
EOF

export DISENTAX_BENCH_THREADS=all
status=0
for name in \
    peak/matmul \
    train_step/beta_vae/b64 \
    train_step/beta_vae/b256 \
    train_step/beta_tcvae/b64 \
    train_step/factor_vae/b64 \
    train_step/dip_vae_i/b64 \
    train_step/beta_vae/b64/bfloat16 \
    train_step/beta_vae/b64/sweep8 \
    study/group/beta_vae/b64/S8 \
    study/evaluate/dsprites/S4 \
    data/render \
    metrics/scaling \
    metrics/mig_grid \
    startup/first_step; do
  echo "== $name"
  "$PY" -m disentax.cli bench "$name" --out "$OUT" || status=1
done
echo "results merged into $OUT"
exit $status
