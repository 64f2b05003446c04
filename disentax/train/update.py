"""The single-model update on a global batch, shared by the jit, pmap and sweep paths.

``Update(state, batch, hyper) -> (state, metrics)``: ``batch`` is a dict of arrays with a
leading row axis (``{"images": [N,H,W,C], ...}``, see :mod:`disentax.train.step_sampling`);
the model is applied by the objective's declared ``forward`` (``Objective.forward``, given
the model as ``disentax.losses.ModelFns``) or, without one, by the standard
reparameterised pass of ``batch["images"]``; the objective receives the batch entries it
declares (``Objective.inputs``). The update is the VAE's gradient step on its
objective and, for FactorVAE, the discriminator's step with its own optimizer, both from
the parameters before the update (the discriminator sees detached ``z``; the VAE sees the
discriminator's logits with its parameters frozen), so neither gradient leaks into the
other part. Under pmap, ``gather`` all-gathers the per-device outputs so the objective sees
the global batch and ``reduce_grads`` averages the gradients (see ``disentax.train.step_pmap``).
:func:`make_update` builds it for either layout.

References:
  Kim & Mnih, "Disentangling by Factorising", ICML 2018 (FactorVAE's two-part update).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from disentax.train.state import TrainState

__all__ = ["Update", "make_update", "step_keys"]


def step_keys(state_key: jax.Array, step) -> tuple[jax.Array, jax.Array]:
    """The data and noise keys of one step.

    Args:
      state_key: the state's root key (``TrainState.key``).
      step: the step number (``TrainState.step``), an int or an int32 scalar.

    Returns:
      ``(data_key, noise_key)``: the data key is the same for every step (batches are
      drawn from ``fold_in(data_key, step)`` by the data module); the noise key is
      ``fold_in(model_key, step)``, where ``data_key, model_key = split(state_key)``.
    """
    data_key, model_key = jax.random.split(state_key)
    return data_key, jax.random.fold_in(model_key, step)


@dataclasses.dataclass(frozen=True)
class Update:
    """The single-model update on a global batch (shared by the jit and pmap paths)."""

    model: Any
    objective: Callable
    tx: optax.GradientTransformation
    reconstruction: str
    discriminator: Any
    discriminator_tx: Any
    discriminator_loss: Callable | None
    permute_dims: Callable | None
    gather: Callable  # identity (jit) or all_gather over the pmap axis
    reduce_grads: Callable  # identity (jit) or pmean over the pmap axis
    num_shards: int  # 1 (jit: global view) or the pmap device count
    shard_index: Callable  # () -> this shard's index (0 under jit)

    def __call__(self, state: TrainState, batch, hyper):
        """One optimizer step of the VAE and, with a discriminator, of the discriminator.

        Both steps start from the parameters in ``state``; the noise comes from
        ``step_keys(state.key, state.step)``.

        Args:
          state: the single-model state.
          batch: dict of this shard's rows (the whole global batch under jit):
            ``images [n,H,W,C]`` and the other entries of the objective's batch.
          hyper: the objective's keyword hyperparameters (may be traced).

        Returns:
          ``(state, metrics)``: the state one step on, and the scalar metrics: the
          objective's scalar ``aux`` entries, ``loss``, ``grad_norm`` and, with a
          discriminator, ``discriminator/loss`` and its scalar ``discriminator/...`` terms.
        """
        _, noise_key = step_keys(state.key, state.step)
        z_key, perm_key = jax.random.split(noise_key)
        params, opt_state = state.params, state.opt_state
        disc_params = params.get("discriminator")
        forward = getattr(self.objective, "forward", None)
        inputs = getattr(self.objective, "inputs", ())

        def vae_loss(vae_params):
            fns = self.model_fns(vae_params, z_key)
            if forward is None:
                images = batch["images"]
                out = self.model.apply({"params": vae_params}, images, fns.noise(0, len(images)))
            else:
                out = forward(fns, batch, **self.forward_hyper(hyper))
            out = self.gather(out)
            full = self.gather({name: batch[name] for name in ("images", *inputs)})
            extra = {name: full[name] for name in inputs}
            if getattr(self.objective, "takes_params", False):
                extra["objective_params"] = vae_params.get("objective")  # absent: none
            if self.discriminator is not None:
                frozen = jax.lax.stop_gradient(disc_params)
                extra["discriminator_logits"] = self.discriminator.apply({"params": frozen}, out.z)
            loss, aux = self.objective(
                full["images"],
                out,
                step=state.step,
                reconstruction=self.reconstruction,
                **hyper,
                **extra,
            )
            return loss, (aux, out.z if self.discriminator is not None else None)

        (loss, (aux, z)), grads = jax.value_and_grad(vae_loss, has_aux=True)(params["vae"])
        grads = self.reduce_grads(grads)
        updates, vae_opt = self.tx.update(grads, opt_state["vae"], params["vae"])
        new_params = {"vae": optax.apply_updates(params["vae"], updates)}
        new_opt = {"vae": vae_opt}
        metrics = {k: v for k, v in aux.items() if jnp.ndim(v) == 0}
        metrics["loss"] = loss
        metrics["grad_norm"] = optax.tree.norm(grads)

        if self.discriminator is not None:
            # z is the global batch's sample (identical on every pmap device), detached:
            # the discriminator's gradient never reaches the VAE and vice versa.
            z = jax.lax.stop_gradient(z)
            z_perm = self.permute_dims(perm_key, z)

            def disc_loss(dp):
                logits_z = self.discriminator.apply({"params": dp}, z)
                logits_perm = self.discriminator.apply({"params": dp}, z_perm)
                return self.discriminator_loss(logits_z, logits_perm)

            (d_loss, d_aux), d_grads = jax.value_and_grad(disc_loss, has_aux=True)(disc_params)
            d_updates, d_opt = self.discriminator_tx.update(
                d_grads, opt_state["discriminator"], disc_params
            )
            new_params["discriminator"] = optax.apply_updates(disc_params, d_updates)
            new_opt["discriminator"] = d_opt
            metrics["discriminator/loss"] = d_loss
            for k, v in d_aux.items():
                if jnp.ndim(v) == 0:
                    name = k if k.startswith("discriminator/") else f"discriminator/{k}"
                    metrics.setdefault(name, v)

        new_state = TrainState(
            step=state.step + 1, params=new_params, opt_state=new_opt, key=state.key
        )
        return new_state, metrics

    def model_fns(self, vae_params, z_key):
        """The model as a declared ``forward`` sees it (``disentax.losses.ModelFns``)."""
        from disentax.losses import ModelFns

        def apply(method):
            return lambda x: self.model.apply({"params": vae_params}, x, method=method)

        def noise(stream: int, n: int):
            # drawn for the global batch and sliced, so every parallel layout gives the same
            # z to the same row; stream 0 is the standard pass's noise
            key = z_key if stream == 0 else jax.random.fold_in(z_key, stream)
            full = jax.random.normal(key, (n * self.num_shards, self.model.num_latents))
            return jax.lax.dynamic_slice_in_dim(full, self.shard_index() * n, n)

        return ModelFns(encode=apply("encode"), decode=apply("decode"), noise=noise)

    def forward_hyper(self, hyper):
        """What a declared ``forward`` takes: the resolved hyperparameters of the loss."""
        return self.objective.loss_hyperparameters(self.objective.resolve(hyper))


def make_update(
    model,
    objective: Callable,
    tx: optax.GradientTransformation,
    *,
    reconstruction: str,
    discriminator=None,
    discriminator_tx: optax.GradientTransformation | None = None,
    axis_name: str | None = None,
    num_shards: int = 1,
) -> Update:
    """The :class:`Update` of one layout: the global view (jit) or one pmap shard.

    Args:
      model: the VAE module.
      objective: an ``ObjectiveFn`` (``disentax.losses.OBJECTIVES``).
      tx: optax optimizer of the VAE parameters.
      reconstruction: ``"bernoulli"`` or ``"gaussian"``.
      discriminator: FactorVAE discriminator module; turns on the two-part update.
      discriminator_tx: the discriminator's own optimizer.
      axis_name: None when the update sees the global batch (jit over a mesh); the pmap
        axis name when it sees one device's rows (outputs all-gathered, gradients
        averaged over that axis).
      num_shards: the pmap device count (1 with ``axis_name=None``).

    Returns:
      The update ``(state, images, hyper) -> (state, metrics)``.
    """
    from disentax import losses

    if axis_name is None:
        gather, reduce_grads, shard_index = (lambda t: t), (lambda g: g), (lambda: 0)
    else:
        gather = lambda t: jax.tree.map(  # noqa: E731
            lambda x: jax.lax.all_gather(x, axis_name, tiled=True), t
        )
        reduce_grads = lambda g: jax.lax.pmean(g, axis_name)  # noqa: E731
        shard_index = lambda: jax.lax.axis_index(axis_name)  # noqa: E731
    return Update(
        model=model,
        objective=objective,
        tx=tx,
        reconstruction=reconstruction,
        discriminator=discriminator,
        discriminator_tx=discriminator_tx,
        discriminator_loss=losses.factor_vae_discriminator_loss if discriminator else None,
        permute_dims=losses.permute_dims if discriminator else None,
        gather=gather,
        reduce_grads=reduce_grads,
        num_shards=num_shards,
        shard_index=shard_index,
    )
