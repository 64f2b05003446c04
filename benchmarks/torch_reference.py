"""The reference convolutional β-VAE in PyTorch, for the side-by-side comparison.

Same architecture as disentanglement_lib's ``conv_encoder``/``deconv_decoder`` (and
disentax's ``make_model("conv")``): encoder conv 32 k4 s2 → 32 k4 s2 → 64 k2 s2 → 64 k2 s2
(ReLU, SAME padding) → dense 256 → dense L (mean), dense L (logvar); decoder dense 256 →
dense 1024 → 4x4x64 → transposed conv 64, 32, 32, C (k4 s2, SAME) → logits. TensorFlow's
SAME padding for these even sizes is ``padding=1`` for k4 s2 and ``0`` for k2 s2, in both
the convolution and the transposed convolution. The train step is the β-VAE objective
with disentanglement_lib's reductions (Bernoulli NLL summed over pixels, KL summed over
latents, both averaged over the batch) and Adam(1e-4, 0.9, 0.999, 1e-8).

PyTorch keeps NCHW activations (what a PyTorch user gets); ``load_from_lax`` copies the
parameters of :func:`benchmarks.layers.init_reference_params` (NHWC/HWIO) into the module,
permuting the flatten order, so tests can check that both compute the same function.

Installed only through the ``bench`` extra (``pip install -e ".[bench]"``, the CPU build
of torch 2.13.0).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class ConvEncoder(nn.Module):
    def __init__(self, num_latents: int = 10, channels: int = 1):
        super().__init__()
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(channels, 32, 4, 2, 1),
                nn.Conv2d(32, 32, 4, 2, 1),
                nn.Conv2d(32, 64, 2, 2, 0),
                nn.Conv2d(64, 64, 2, 2, 0),
            ]
        )
        self.hidden = nn.Linear(4 * 4 * 64, 256)
        self.mean = nn.Linear(256, num_latents)
        self.logvar = nn.Linear(256, num_latents)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = images
        for conv in self.convs:
            h = F.relu(conv(h))
        h = F.relu(self.hidden(h.flatten(1)))
        return self.mean(h), self.logvar(h)


class DeconvDecoder(nn.Module):
    def __init__(self, num_latents: int = 10, channels: int = 1):
        super().__init__()
        self.dense1 = nn.Linear(num_latents, 256)
        self.dense2 = nn.Linear(256, 4 * 4 * 64)
        self.deconvs = nn.ModuleList(
            [
                nn.ConvTranspose2d(64, 64, 4, 2, 1),
                nn.ConvTranspose2d(64, 32, 4, 2, 1),
                nn.ConvTranspose2d(32, 32, 4, 2, 1),
                nn.ConvTranspose2d(32, channels, 4, 2, 1),
            ]
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.dense2(F.relu(self.dense1(z))))
        h = h.view(-1, 64, 4, 4)
        for i, deconv in enumerate(self.deconvs):
            h = deconv(h)
            if i < len(self.deconvs) - 1:
                h = F.relu(h)
        return h


class ConvVAE(nn.Module):
    """Encoder + decoder; ``forward(images, eps)`` returns ``(mean, logvar, logits)``."""

    def __init__(self, num_latents: int = 10, channels: int = 1):
        super().__init__()
        self.encoder = ConvEncoder(num_latents, channels)
        self.decoder = DeconvDecoder(num_latents, channels)

    def forward(self, images, eps):
        mean, logvar = self.encoder(images)
        z = mean + torch.exp(0.5 * logvar) * eps
        return mean, logvar, self.decoder(z)


def beta_vae_loss(images, mean, logvar, logits, *, beta: float = 1.0) -> torch.Tensor:
    """``recon + β kl`` with disentanglement_lib's reductions (NCHW images in [0, 1])."""
    recon = F.binary_cross_entropy_with_logits(logits, images, reduction="none")
    recon = recon.sum(dim=(1, 2, 3)).mean()
    kl = 0.5 * (mean.square() + logvar.exp() - logvar - 1.0).sum(dim=1).mean()
    return recon + beta * kl


def make_train_step(
    model: ConvVAE, *, beta: float = 1.0, learning_rate: float = 1e-4, seed: int = 0
):
    """An eager train step ``step(images_nchw) -> loss`` with Adam (reference defaults)."""
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)
    gen = torch.Generator().manual_seed(seed)
    num_latents = model.encoder.mean.out_features

    def step(images: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        eps = torch.randn(images.shape[0], num_latents, generator=gen, dtype=images.dtype)
        mean, logvar, logits = model(images, eps)
        loss = beta_vae_loss(images, mean, logvar, logits, beta=beta)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def load_from_lax(model: ConvVAE, params: dict) -> ConvVAE:
    """Copies NHWC/HWIO parameters (:func:`benchmarks.layers.init_reference_params`).

    Convolution kernels ``[k,k,Ci,Co]`` become ``[Co,Ci,k,k]``; a ``lax.conv_transpose``
    kernel (not flipped, ``transpose_kernel=False``) becomes a ``ConvTranspose2d`` weight
    ``[Ci,Co,k,k]`` flipped in space; the dense layers next to the 4x4x64 reshape are
    permuted from HWC to CHW flatten order.
    """

    def t(a):
        return torch.from_numpy(np.array(a, copy=True))

    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        for conv, (w, b) in zip(model.encoder.convs, params["encoder_convs"], strict=True):
            conv.weight.copy_(t(w).permute(3, 2, 0, 1).to(dtype))
            conv.bias.copy_(t(b).to(dtype))
        w, b = params["encoder_hidden"]  # [(H,W,C) flattened, 256]
        w = t(w).reshape(4, 4, 64, -1).permute(2, 0, 1, 3).reshape(1024, -1)
        model.encoder.hidden.weight.copy_(w.T.to(dtype))
        model.encoder.hidden.bias.copy_(t(b).to(dtype))
        for name in ("mean", "logvar"):
            w, b = params[f"encoder_{name}"]
            getattr(model.encoder, name).weight.copy_(t(w).T.to(dtype))
            getattr(model.encoder, name).bias.copy_(t(b).to(dtype))
        w, b = params["decoder_dense1"]
        model.decoder.dense1.weight.copy_(t(w).T.to(dtype))
        model.decoder.dense1.bias.copy_(t(b).to(dtype))
        w, b = params["decoder_dense2"]  # [256, (H,W,C)]
        w = t(w).reshape(-1, 4, 4, 64).permute(0, 3, 1, 2).reshape(-1, 1024)
        b = t(b).reshape(4, 4, 64).permute(2, 0, 1).reshape(1024)
        model.decoder.dense2.weight.copy_(w.T.to(dtype))
        model.decoder.dense2.bias.copy_(b.to(dtype))
        for deconv, (w, b) in zip(model.decoder.deconvs, params["decoder_deconvs"], strict=True):
            deconv.weight.copy_(t(w).permute(2, 3, 0, 1).flip(2, 3).to(dtype))
            deconv.bias.copy_(t(b).to(dtype))
    return model
