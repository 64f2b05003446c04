"""Which form a stride-2 layer computes with: the backend defaults and the form checks.

``default_form`` answers ``form=None``: the fastest exact form per backend and layer kind
for the reference architecture, from timing forward + backward of every stride-2 layer at
batch 64 on one CPU thread (the numbers are in ``docs/performance/models.md``). On XLA:CPU
the sub-pixel forms won on every layer but one, ``"matmul"`` lost on every large layer (its
patch matrices cost more memory traffic than they save), and ``"col2im"`` won on the
decoder's last layer (32 -> 1 channel: its sub-pixel convolution has only ``4*O = 4``
output channels). Other backends use ``"lax"``.
"""

import jax

from disentax.models._conv.forms import CONV_FORMS, FORMS

# Keys: (kind, in_channels == 1 or out_channels == 1). Backends not listed use "lax".
_DEFAULT_FORMS: dict[str, dict[tuple[str, bool], str]] = {
    "cpu": {
        ("conv", False): "subpixel",
        ("conv", True): "subpixel",
        ("conv_transpose", False): "subpixel",
        ("conv_transpose", True): "col2im",
    },
}


def default_form(
    kind: str, *, in_channels: int, out_channels: int, backend: str | None = None
) -> str:
    """The computational form a stride-2 layer with ``form=None`` uses.

    Args:
        kind: ``"conv"`` or ``"conv_transpose"``.
        in_channels: ``C`` of the layer input.
        out_channels: ``O`` of the layer output.
        backend: a JAX platform name; ``None`` means ``jax.default_backend()``.

    Returns:
        One of ``FORMS``: on CPU the fastest measured form (``"col2im"`` for a transposed
        convolution with one input or output channel, ``"subpixel"`` for the other layers
        of the reference architecture), elsewhere ``"lax"``.

    Examples:
        >>> from disentax.models import default_form
        >>> default_form("conv_transpose", in_channels=32, out_channels=1, backend="cpu")
        'col2im'
        >>> default_form("conv", in_channels=32, out_channels=32, backend="gpu")
        'lax'
    """
    if kind not in ("conv", "conv_transpose"):
        raise ValueError(f"kind must be 'conv' or 'conv_transpose', got {kind!r}")
    table = _DEFAULT_FORMS.get(backend or jax.default_backend(), {})
    return table.get((kind, in_channels == 1 or out_channels == 1), "lax")


def check_forms(
    forms: tuple[str | None, ...] | None, num_layers: int, name: str, *, transpose: bool = False
) -> None:
    """Checks the per-layer ``forms`` argument of an encoder or decoder.

    Args:
        forms: None, or a tuple of ``num_layers`` entries, each a form of the layer kind
            (``CONV_FORMS``, or ``FORMS`` for transposed convolutions) or None.
        num_layers: the number of stride-2 layers.
        name: the argument's name, for the error message.
        transpose: the layers are transposed convolutions.

    Raises:
        ValueError: ``forms`` is anything else.
    """
    if forms is None:
        return
    allowed = FORMS if transpose else CONV_FORMS
    if (
        not isinstance(forms, tuple)
        or len(forms) != num_layers
        or any(f is not None and f not in allowed for f in forms)
    ):
        raise ValueError(
            f"{name} must be None or a tuple of {num_layers} entries from {allowed} or None, "
            f"got {forms!r}"
        )
