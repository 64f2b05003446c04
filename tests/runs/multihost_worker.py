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
    parser.add_argument(
        "--models", type=int, default=0, help="a sweep of this many models on a models mesh"
    )
    parser.add_argument("--mesh_data", type=int, default=1, help="data axis of that mesh")
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
    if args.models:
        return sweep(args)
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


def _vae(dataset):
    from disentax import models

    return models.VAE(
        models.FCEncoder(num_latents=4, hidden=(32,)),
        models.FCDecoder(image_shape=tuple(dataset.observation_shape), hidden=(32,)),
    )


def sweep(args) -> int:
    """A sweep of ``args.models`` models split over a models x data mesh of every device."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from disentax import data
    from disentax import parallel as par
    from disentax.train import make_train_step

    mesh = par.make_model_mesh(data=args.mesh_data)
    dataset = data.get("synthetic_identity")
    train_step = make_train_step(
        _vae(dataset),
        "beta_tcvae",
        optax.adam(1e-2),
        mesh=mesh,
        dataset=dataset,
        batch_size=16,
        hyperparameters={"beta": np.linspace(1.0, 6.0, args.models, dtype=np.float32)},
        num_models=args.models,
    )
    init_one = jax.jit(train_step.init_fn)
    states = [init_one(jax.random.key(seed)) for seed in range(args.models)]
    state = train_step.place(jax.tree.map(lambda *xs: jnp.stack(xs), *states))
    for _ in range(args.steps):
        state, metrics = train_step(state, None)
    gather = jax.jit(lambda t: t, out_shardings=par.replicated_sharding(mesh))
    params, loss = gather((state.params, metrics["loss"]))
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    arrays = {
        jax.tree_util.keystr(path): np.asarray(leaf.addressable_shards[0].data)
        for path, leaf in flat
    }
    arrays["loss"] = np.asarray(loss.addressable_shards[0].data)
    if jax.process_index() == 0:
        np.savez(args.out, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
