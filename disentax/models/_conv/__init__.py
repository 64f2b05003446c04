"""Private: the computational forms of the stride-2 layers.

The forms of ``StridedConv`` and ``StridedConvTranspose`` are exact re-orderings of
``lax``'s convolutions that run faster on XLA:CPU. Use them through the layers' ``form=``
argument; ``disentax.models`` re-exports the allowed values (``CONV_FORMS``, ``FORMS``) and
``default_form``.
"""

from disentax.models._conv.forms import CONV_FORMS, FORMS, check_form, conv2d, conv_transpose2d
from disentax.models._conv.selection import check_forms, default_form

__all__ = [
    "CONV_FORMS",
    "FORMS",
    "check_form",
    "check_forms",
    "conv2d",
    "conv_transpose2d",
    "default_form",
]
