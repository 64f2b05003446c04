#!/usr/bin/env bash
# Wheels of the packages disentax needs that the lent accelerator machine does not have,
# for its Python (3.12). That machine reaches no package registry; it has jax, flax,
# optax, chex, orbax-checkpoint, absl-py, PyYAML, Pillow, matplotlib, h5py, scikit-learn,
# tqdm and protobuf, but not ml_collections (configs) or tensorboardX (training logs),
# both pure Python whose own needs are in that list. Run here, where pip works:
#
#   bash benchmarks/device_wheels.sh          # writes .whl/ (ignored by git)
#
# then carry .whl to the machine and install it there before benchmarks/gpu.sh (the
# command is in gpu.sh's header).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
rm -rf .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2014_x86_64 -d .whl \
  "ml_collections>=1.1.0" "tensorboardX>=2.6.5"
ls .whl
