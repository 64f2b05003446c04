"""The FactorVAE discriminator ``z [N,L] -> logits [N,2]``.

Column 0 scores "z drawn from the aggregate posterior q(z)", column 1 "z with each
latent permuted across the batch" (the product of marginals); the total-correlation
estimate is ``mean(logits[:, 0] - logits[:, 1])``.

References:
    Kim & Mnih, "Disentangling by Factorising", ICML 2018 (Appendix: 6 layers of 1000
    units with leaky ReLU).
"""

import flax.linen as nn

from disentax.typing import Array


class Discriminator(nn.Module):
    """MLP discriminator: ``num_layers`` x dense ``hidden`` (leaky ReLU 0.2) -> dense 2.

    Attributes:
        num_latents: ``L`` (the input width; used by ``init_params``).
        hidden: width of every hidden layer.
        num_layers: number of hidden layers.
        negative_slope: slope of the leaky ReLU for negative inputs.

    Examples:
        Shapes only (``jax.eval_shape`` traces, nothing is computed):

        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import Discriminator
        >>> discriminator = Discriminator(num_latents=2, hidden=8, num_layers=2)
        >>> z = jnp.zeros((3, 2))
        >>> logits, variables = jax.eval_shape(discriminator.init_with_output, jax.random.key(0), z)
        >>> logits.shape, sorted(variables["params"])
        ((3, 2), ['hidden0', 'hidden1', 'logits'])
    """

    num_latents: int = 10
    hidden: int = 1000
    num_layers: int = 6
    negative_slope: float = 0.2

    @nn.compact
    def __call__(self, z: Array) -> Array:
        """``z [N,L] -> logits [N,2]``."""
        x = z
        for i in range(self.num_layers):
            x = nn.leaky_relu(nn.Dense(self.hidden, name=f"hidden{i}")(x), self.negative_slope)
        return nn.Dense(2, name="logits")(x)


def make_discriminator(num_latents: int = 10, **kwargs) -> Discriminator:
    """The reference FactorVAE discriminator for ``num_latents`` inputs.

    Examples:
        >>> from disentax.models import make_discriminator
        >>> discriminator = make_discriminator(2)  # the reference: 6 x 1000 units
        >>> discriminator.num_latents, discriminator.num_layers, discriminator.hidden
        (2, 6, 1000)
        >>> make_discriminator(2, hidden=8).hidden  # keywords set the Discriminator's fields
        8
    """
    if int(num_latents) < 1:
        raise ValueError(f"num_latents must be a positive integer, got {num_latents!r}")
    return Discriminator(num_latents=int(num_latents), **kwargs)
