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
names="peak/matmul compare/torch/b64 train_step/beta_vae/b64 train_step/beta_vae/b64/sweep8"
names="$names train_step/beta_vae/b256/mesh8 data/render metrics/suite startup/first_step"
names="$names train_step/beta_tcvae/b64 train_step/factor_vae/b64 layers/conv_vae"
names="$names metrics/scaling host/allocator"
for o in annealed_vae dip_vae_i dip_vae_ii; do names="$names train_step/$o/b64"; done
for o in beta_tcvae factor_vae annealed_vae dip_vae_i dip_vae_ii; do
  names="$names train_step/$o/b256"
done
names="$names train_step/beta_vae/b64/bfloat16 layers/conv_vae_bf16 profile/train_step/beta_vae/b64"
for name in $names; do
  echo "== $name"
  "$DISENTAX" bench "$name" --out "$OUT" || status=1
done
echo "results merged into $OUT; the manual's page: python -m benchmarks.report (writes docs/benchmarks.md)"
exit $status
