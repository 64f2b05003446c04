"""One process of the multi-host test (run as a script, not collected by pytest).

Trains a tiny VAE for a few steps on a global mesh spanning every process's CPU devices
and writes the final parameters (replicated, so any process's copy) to ``--out``.

  python multihost_worker.py --devices 2 --num_processes 2 --process_id 0 \
      --coordinator localhost:PORT --out params.npz
"""

import argparse
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, required=True, help="CPU devices per process")
    parser.add_argument("--num_processes", type=int, default=1)
    parser.add_argument("--process_id", type=int, default=0)
    parser.add_argument("--coordinator", default=None)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
    os.environ["JAX_PLATFORMS"] = "cpu"

    import jax
    import numpy as np
    import optax

    from disentax import data, models
    from disentax import parallel as par
    from disentax.train import make_train_step

    if args.num_processes > 1:
        par.initialize_distributed(
            coordinator=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    assert jax.process_count() == args.num_processes
    mesh = par.make_mesh()
    assert mesh.size == args.devices * args.num_processes
    dataset = data.get("synthetic_identity")
    vae = models.VAE(
        models.FCEncoder(num_latents=4, hidden=(32,)),
        models.FCDecoder(image_shape=tuple(dataset.observation_shape), hidden=(32,)),
    )
    train_step = make_train_step(
        vae,
        "beta_tcvae",
        optax.adam(1e-2),
        mesh=mesh,
        dataset=dataset,
        batch_size=16,
        hyperparameters={"beta": 6.0},
    )
    state = train_step.init(jax.random.key(0))
    for _ in range(args.steps):
        state, metrics = train_step(state, None)
    # parameters are replicated: this process's first shard is the whole array
    flat = jax.tree_util.tree_flatten_with_path(state.params)[0]
    arrays = {
        jax.tree_util.keystr(path): np.asarray(leaf.addressable_shards[0].data)
        for path, leaf in flat
    }
    arrays["loss"] = np.asarray(metrics["loss"].addressable_shards[0].data)
    if jax.process_index() == 0:
        np.savez(args.out, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
