#!/usr/bin/env bash
# The CPU benchmarks behind benchmarks/results/cpu.json, one group per process (each
# group's rows are merged into the file as soon as it finishes).
#
#   bash benchmarks/cpu.sh [OUT.json]        # default: benchmarks/results/cpu.json
#
# `disentax bench` pins each process to one core with one thread per framework (see
# benchmarks/run.py); the exit status is 1 if any group failed.
set -uo pipefail
cd "$(dirname "$0")/.."
DISENTAX=${DISENTAX:-disentax}
OUT=${1:-benchmarks/results/cpu.json}
status=0
for name in \
    peak/matmul \
    compare/torch/b64 \
    train_step/beta_vae/b64 \
    train_step/beta_vae/b64/sweep8 \
    startup/first_step \
    metrics/suite \
    data/render \
    layers/conv_vae \
    train_step \
    metrics/scaling \
    layers/conv_vae_bf16; do
  echo "== $name"
  "$DISENTAX" bench "$name" --out "$OUT" || status=1
done
echo "results merged into $OUT; README tables: python -m benchmarks.report $OUT"
exit $status
