"""One-thread, per-layer profile of the reference conv VAE: lax forms vs sub-pixel vs torch.

For every strided layer of the reference VAE at batch 64 this times forward + backward
(gradient of ``sum(layer(x, w) * g)`` for a fixed cotangent ``g`` with respect to the
kernel, and to the input where the network needs it) for each formulation in
:mod:`benchmarks.conv_forms` and for PyTorch's ``conv2d``/``conv_transpose2d``. The
variants of one layer are timed interleaved (repeat r of every variant before repeat
r + 1 of any), and each row carries its paired ratio to PyTorch (median over repeats of
``t_torch / t_variant``: above 1 means faster than PyTorch).

The module also holds a small pure-``lax`` reference VAE (``init_reference_params``,
``reference_forward``) used by tests to check that the PyTorch model computes the same
function.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import conv_forms, harness


def init_reference_params(
    key: jax.Array, *, num_latents: int = 10, channels: int = 1, dtype=jnp.float32
) -> dict[str, Any]:
    """Random parameters of the reference VAE in NHWC/HWIO layout (for tests)."""
    keys = iter(jax.random.split(key, 32))

    def dense(a, b):
        return (
            jax.random.normal(next(keys), (a, b), dtype) / np.sqrt(a),
            0.1 * jax.random.normal(next(keys), (b,), dtype),
        )

    def kernel(shape):
        fan_in = shape[0] * shape[1] * shape[2]
        return (
            jax.random.normal(next(keys), shape, dtype) / np.sqrt(fan_in),
            0.1 * jax.random.normal(next(keys), (shape[-1],), dtype),
        )

    shapes = conv_forms.layer_shapes((64, 64, channels))
    return {
        "encoder_convs": [kernel(s["kernel"]) for s in shapes if s["kind"] == "conv"],
        "encoder_hidden": dense(1024, 256),
        "encoder_mean": dense(256, num_latents),
        "encoder_logvar": dense(256, num_latents),
        "decoder_dense1": dense(num_latents, 256),
        "decoder_dense2": dense(256, 1024),
        "decoder_deconvs": [kernel(s["kernel"]) for s in shapes if s["kind"] == "deconv"],
    }


def reference_forward(params, images, eps, *, conv="plain", deconv="plain"):
    """``(mean, logvar, logits)`` of the reference VAE in ``lax`` (NHWC).

    ``conv``/``deconv`` name a form of :mod:`benchmarks.conv_forms` for every strided
    layer, or give a tuple with one name per layer.
    """
    convs = (conv,) * 4 if isinstance(conv, str) else tuple(conv)
    deconvs = (deconv,) * 4 if isinstance(deconv, str) else tuple(deconv)
    h = images
    for (w, b), form in zip(params["encoder_convs"], convs, strict=True):
        h = jax.nn.relu(conv_forms.CONV_FORMS[form](h, w) + b)
    h = h.reshape(h.shape[0], -1)
    w, b = params["encoder_hidden"]
    h = jax.nn.relu(h @ w + b)
    mean = h @ params["encoder_mean"][0] + params["encoder_mean"][1]
    logvar = h @ params["encoder_logvar"][0] + params["encoder_logvar"][1]
    z = mean + jnp.exp(0.5 * logvar) * eps
    w, b = params["decoder_dense1"]
    h = jax.nn.relu(z @ w + b)
    w, b = params["decoder_dense2"]
    h = jax.nn.relu(h @ w + b).reshape(-1, 4, 4, 64)
    layers_ = params["decoder_deconvs"]
    for i, ((w, b), form) in enumerate(zip(layers_, deconvs, strict=True)):
        h = conv_forms.DECONV_FORMS[form](h, w) + b
        if i < len(layers_) - 1:
            h = jax.nn.relu(h)
    return mean, logvar, h


def _jax_layer_fn(form, needs_input_grad: bool):
    argnums = (0, 1) if needs_input_grad else (1,)

    def loss(x, w, g):
        return jnp.sum(form(x, w) * g)

    return jax.jit(jax.grad(loss, argnums=argnums))


def _torch_layer_fn(kind: str, x, w, g, needs_input_grad: bool, dtype: str):
    import torch
    from torch.nn import functional as F

    tdtype = getattr(torch, dtype)

    def tensor(a, perm, flip=False):
        a = np.asarray(a, np.float32).transpose(perm)
        if flip:
            a = a[:, :, ::-1, ::-1]
        return torch.from_numpy(a.copy()).to(tdtype)

    xt, gt = tensor(x, (0, 3, 1, 2)), tensor(g, (0, 3, 1, 2))
    k = w.shape[0]
    pad = 1 if k == 4 else 0
    wt = tensor(w, (3, 2, 0, 1)) if kind == "conv" else tensor(w, (2, 3, 0, 1), flip=True)
    xt.requires_grad_(needs_input_grad)
    wt.requires_grad_(True)

    def run():
        if kind == "conv":
            y = F.conv2d(xt, wt, stride=2, padding=pad)
        else:
            y = F.conv_transpose2d(xt, wt, stride=2, padding=pad)
        inputs = (xt, wt) if needs_input_grad else (wt,)
        return torch.autograd.grad(y, inputs, grad_outputs=gt)

    return run


def _forms(kind: str) -> dict:
    """The benchmark's own forms plus the library's (``disentax.models.CONV_FORMS`` for
    convolutions, ``disentax.models.FORMS`` for transposed ones), timed as the private
    kernels the layers call, without the layers' bias."""
    forms = dict(conv_forms.CONV_FORMS if kind == "conv" else conv_forms.DECONV_FORMS)
    try:
        from disentax.models import _conv
    except ImportError:
        return forms
    lib = _conv.conv2d if kind == "conv" else _conv.conv_transpose2d
    for form in _conv.CONV_FORMS if kind == "conv" else _conv.FORMS:
        forms[f"disentax_{form}"] = functools.partial(lib, form=form)
    return forms


def bench_layers(
    ctx: harness.Context, *, batch_size: int = 64, dtype: str = "float32"
) -> list[dict[str, Any]]:
    """Rows ``layers/conv_vae[_bf16]/<layer>/<form>`` (the forms + ``torch``).

    Every form's output is checked against the plain ``lax`` form on the benchmark's
    inputs (``max_rel_diff`` in each row) before it is timed.
    """
    batch = 4 if ctx.quick else batch_size
    jdtype = jnp.dtype(dtype)
    prefix = "layers/conv_vae" + ("" if dtype == "float32" else "_bf16")
    key = jax.random.key(0)
    rows = []
    for layer in conv_forms.layer_shapes():
        kx, kw, kg, key = jax.random.split(key, 4)
        h, w_, c = layer["input"]
        k, _, ci, co = layer["kernel"]
        x = jax.random.uniform(kx, (batch, h, w_, c), jnp.float32).astype(jdtype)
        w = jax.random.normal(kw, layer["kernel"], jnp.float32) / np.sqrt(k * k * ci)
        w = w.astype(jdtype)
        out_hw = (h // 2, w_ // 2) if layer["kind"] == "conv" else (2 * h, 2 * w_)
        g = jax.random.normal(kg, (batch, *out_hw, co), jnp.float32).astype(jdtype)
        forms = _forms(layer["kind"])
        want = np.asarray(jax.jit(forms["plain"])(x, w), np.float32)
        fns: dict[str, Any] = {}
        compile_s: dict[str, float] = {}
        diffs: dict[str, float] = {}
        for form_name, form in forms.items():
            got = np.asarray(jax.jit(form)(x, w), np.float32)
            diffs[form_name] = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
            jitted = _jax_layer_fn(form, layer["needs_input_grad"])
            compiled, compile_s[form_name] = harness.time_compile(jitted, x, w, g)
            fns[form_name] = functools.partial(compiled, x, w, g)
        try:
            fns["torch"] = _torch_layer_fn(layer["kind"], x, w, g, layer["needs_input_grad"], dtype)
        except ImportError:
            pass
        timings = harness.measure_interleaved(fns, repeats=ctx.repeats)
        passes = 3 if layer["needs_input_grad"] else 2
        flops = 2.0 * passes * batch * conv_forms.layer_macs(layer)
        for form_name, (timing, ratios) in timings.items():
            extra = {}
            if "torch" in fns and form_name != "torch":
                extra["ratio_vs_torch"] = ratios["torch"]
                extra["ratio_vs_torch_cpu"] = ratios["cpu:torch"]
                extra["max_rel_diff"] = diffs[form_name]
            rows.append(
                harness.result(
                    f"{prefix}/{layer['name']}/{form_name}",
                    timing,
                    compile_s=compile_s.get(form_name),
                    images=batch,
                    flops=flops,
                    **ctx.peaks(),
                    layer=layer["name"],
                    form=form_name,
                    dtype=dtype,
                    batch_size=batch,
                    input=list(layer["input"]),
                    kernel=list(layer["kernel"]),
                    **extra,
                )
            )
    return rows
