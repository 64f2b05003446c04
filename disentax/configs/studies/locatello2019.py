"""The grid of Locatello et al. (ICML 2019): 6 objectives × 6 hyperparameter values × seeds.

The reference study trained 50 seeds per point (1,800 models on dSprites alone), 300,000
steps each, with the set-up of every shipped run config (the convolutional
encoder/decoder, 10 latents, Bernoulli decoder, batch 64, Adam 1e-4). The grid is their
Table 2.

Command (a small slice first; the full grid is many accelerator-days):
  disentax study run --config locatello2019 --config.num_seeds=2 --config.num_steps=20 \
      --workdir runs/locatello2019
  disentax study run --config locatello2019 --config.objectives=beta_vae,beta_tcvae ...
  disentax study status runs/locatello2019

References:
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019, Table 2.
"""

import ml_collections

from disentax.configs._base import base_config

# objective -> (the hyperparameter the study varies, its six values, fixed values)
GRID = {
    "beta_vae": ("beta", (1.0, 2.0, 4.0, 6.0, 8.0, 16.0), {}),
    "annealed_vae": (
        "c_max",
        (5.0, 10.0, 25.0, 50.0, 75.0, 100.0),
        {"gamma": 1000.0, "iteration_threshold": 100000},
    ),
    "factor_vae": ("gamma", (10.0, 20.0, 30.0, 40.0, 50.0, 100.0), {}),
    "dip_vae_i": ("lambda_od", (1.0, 2.0, 5.0, 10.0, 20.0, 50.0), {"lambda_d_factor": 10.0}),
    "dip_vae_ii": ("lambda_od", (1.0, 2.0, 5.0, 10.0, 20.0, 50.0), {"lambda_d_factor": 1.0}),
    "beta_tcvae": ("beta", (1.0, 2.0, 4.0, 6.0, 8.0, 10.0), {}),
}


def study_config(grid, *, datasets="dsprites", num_seeds=50, **run) -> ml_collections.ConfigDict:
    """A study spec: the grid, the seeds and the run settings shared by every model.

    Args:
        grid: objective -> (hyperparameter, values, fixed hyperparameters).
        datasets: comma-separated dataset names.
        num_seeds: seeds 0 .. num_seeds - 1 per grid point (``seeds`` lists them instead).
        **run: run settings replacing the reference ones (e.g. ``num_steps=1000``).

    Returns:
        The spec's ``ConfigDict``.
    """
    config = base_config({"name": "beta_vae"}, **run)
    del config.objective, config.seed  # per model
    config.name = "study"
    config.datasets = datasets
    config.objectives = ",".join(grid)
    config.num_seeds = num_seeds
    config.seeds = ""  # comma-separated seeds, used instead of num_seeds when given
    config.grid = ml_collections.ConfigDict(
        {
            objective: {"hyperparameter": hyper, "values": values, "fixed": fixed}
            for objective, (hyper, values, fixed) in grid.items()
        }
    )
    config.models_per_program = 0  # 0: every model of a group in one program
    config.metrics = ""  # comma-separated metric names; empty: every metric
    # devices along the models and data axes of each program's mesh (0: automatic; with
    # several devices and both 0, every device on the models axis)
    config.mesh = ml_collections.ConfigDict({"models": 0, "data": 0})
    return config


def get_config():
    config = study_config(GRID)
    config.name = "locatello2019"
    return config
