"""The keyword groups of the ``high_order_*_layers`` builders and the networks, each written once
as a ``TypedDict`` (see :mod:`high_order_layers_torch._signatures`).

A builder takes ``**options: Unpack[ConvOptions]``: type checkers check every keyword and its
type, ``inspect.signature`` shows them with their defaults (read from the generic layers and
:func:`builder_defaults`), and the builder passes them on to the chosen layer type.
"""

from __future__ import annotations

from .._signatures import FactoryKwargs
from ..functional import Contraction, OutOfRange
from ._conv import PaddingMode, SizeArg
from ._init import Initialization


class LinkOptions(FactoryKwargs, total=False):
    """What every builder passes to each high-order layer it makes (see :class:`HighOrderLinear`):
    ``rescale_output``, the input policy (``periodicity``, ``out_of_range``; ``None`` keeps each
    layer type's default), ``initialization`` (``None``: each type's default), ``device`` and
    ``dtype``."""

    rescale_output: bool
    periodicity: float | None
    out_of_range: OutOfRange | None
    initialization: Initialization | None


class FCOptions(LinkOptions, total=False):
    """:func:`high_order_fc_layers`' keywords: the link options, the product neurons' ``alpha``
    and the Fourier series' ``length``."""

    alpha: float
    length: float


class _ConvShared(LinkOptions, total=False):
    stride: SizeArg
    dilation: SizeArg
    groups: int
    bias: bool
    length: float
    contraction: Contraction


class ConvOptions(_ConvShared, total=False):
    """:func:`high_order_convolution_layers`' keywords (see :class:`HighOrderConvNd`)."""

    padding: SizeArg | str
    padding_mode: PaddingMode


class ConvTransposeOptions(_ConvShared, total=False):
    """:func:`high_order_convolution_transpose_layers`' keywords (see
    :class:`HighOrderConvTransposeNd`)."""

    padding: SizeArg
    output_padding: SizeArg


#: The order of the builders' keyword-only parameters in ``inspect.signature``: the geometry first, as
#: in ``torch.nn.Conv2d``.
BUILDER_ORDER = "stride padding output_padding dilation groups bias padding_mode length alpha"


def builder_defaults(
    *, out_of_range: OutOfRange | None = None, alpha: float = 1.0, length: float = 2.0, segments: int = 2
) -> None:
    """The builders' defaults that differ from the generic layers' or that no generic layer has:
    ``out_of_range=None`` keeps each type's own, ``alpha`` and ``length`` are those of the
    product and Fourier types, ``segments`` that of the piecewise types."""
