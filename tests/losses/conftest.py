"""The losses tests' shared batch: a tiny forward pass to feed every objective.

``batch`` holds ``images [8,6,6,1]`` in [0, 1], a forward pass ``out`` (``mean``,
``logvar``, ``z [8,4]`` and ``logits [8,6,6,1]``), discriminator logits ``[8,2]`` for the
objectives that need them, and the batch means of the Bernoulli NLL and the Gaussian KL
computed from the tested pieces (the ``recon`` and ``kl`` every objective reports).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import pytest

from disentax import losses
from disentax.losses.weak import PairPass

N, L = 8, 4


class Out(NamedTuple):
    mean: jax.Array
    logvar: jax.Array
    z: jax.Array
    logits: jax.Array


class Batch(NamedTuple):
    images: jax.Array
    out: Out
    discriminator_logits: jax.Array
    recon: float
    kl: float

    def call(self, name: str, out: Out | None = None, step: Any = 0, **hyper):
        """``OBJECTIVES[name]`` on this batch (``out`` replaced if given); discriminator
        logits are passed to the objectives that declare ``needs_discriminator``; a pair
        objective sees the batch twice (both images' passes ``out``, no dimension apart)."""
        if losses.OBJECTIVES[name].needs_discriminator:
            hyper.setdefault("discriminator_logits", self.discriminator_logits)
        out = self.out if out is None else out
        if losses.OBJECTIVES[name].needs_pairs:
            hyper.setdefault("images_2", self.images)
            out = PairPass(out, out, jnp.zeros(out.mean.shape, bool))
        if losses.OBJECTIVES[name].batch == "labelled":  # the labelled rows: the batch itself
            from disentax.losses.semi_objectives import SemiPass

            hyper = {**self.inputs(name), **hyper}
            out = SemiPass(*out, labelled_mean=out.mean)
        return losses.OBJECTIVES[name](self.images, out, step=step, **hyper)

    def inputs(self, name: str) -> dict:
        """The batch entries besides ``images`` that objective ``name`` reads (labels)."""
        if losses.OBJECTIVES[name].batch != "labelled":
            return {}
        labels = jnp.stack([jnp.arange(N) % 3, jnp.arange(N) % 5], axis=1)
        return {"labels": labels, "label_sizes": jnp.broadcast_to(jnp.array([3, 5]), (N, 2))}


def make_batch(seed: int = 0) -> Batch:
    keys = jax.random.split(jax.random.key(seed), 5)
    images = jax.random.uniform(keys[0], (N, 6, 6, 1))
    mean = jax.random.normal(keys[1], (N, L))
    logvar = 0.5 * jax.random.normal(keys[2], (N, L))
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(keys[3], (N, L))
    logits = jax.random.normal(keys[4], (N, 6, 6, 1))
    out = Out(mean, logvar, z, logits)
    recon = float(jnp.mean(losses.bernoulli_nll(images, logits)))
    kl = float(jnp.mean(jnp.sum(losses.gaussian_kl(mean, logvar), axis=1)))
    d_logits = jax.random.normal(jax.random.key(9), (N, 2))
    return Batch(images, out, d_logits, recon, kl)


@pytest.fixture(scope="session")
def batch() -> Batch:
    return make_batch()
