"""The convolutional ``layer_type`` names, resolved through :func:`build_from_registry`."""

from __future__ import annotations

from collections import ChainMap
from typing import Unpack

from torch import nn

from .._signatures import spell_out
from ._conv import HighOrderConvNd, SizeArg
from ._conv_transpose import HighOrderConvTransposeNd
from ._named import CONV_LAYERS, CONV_TRANSPOSE_LAYERS, FAMILY_CONV_LAYERS, FAMILY_CONV_TRANSPOSE_LAYERS
from ._options import BUILDER_ORDER, ConvOptions, ConvTransposeOptions, builder_defaults
from ._registry import build_checked


@spell_out(builder_defaults, HighOrderConvNd, order=BUILDER_ORDER)
def high_order_convolution_layers(
    layer_type: str,
    n: int,
    in_channels: int,
    out_channels: int,
    kernel_size: SizeArg,
    segments: int = 2,
    **options: Unpack[ConvOptions],
) -> nn.Module:
    """Build a high-order convolution by its ``layer_type`` name (a key of :data:`CONV_LAYERS`
    or :data:`FAMILY_CONV_LAYERS`).

    Names: ``continuous``, ``discontinuous``, ``polynomial`` and ``fourier``, and every other
    family of :data:`~high_order_layers_torch.bases.BASIS_FAMILIES` (``chebyshev``, ``bspline``),
    each followed by ``1d``, ``2d`` or ``3d``. Every type takes the same keywords and ignores those
    it has no use for: ``segments`` is ignored by all but the piecewise and B-spline types,
    ``length`` by all but Fourier.

    Args:
        layer_type: for example ``"continuous2d"``.
        n: nodes per segment (piecewise types), nodes (polynomial), frequencies (Fourier),
            polynomials (Chebyshev) or the order of the splines (B-splines): the family's ``n``.
        in_channels, out_channels, kernel_size: layer sizes.
        segments: pieces of ``[-1, 1]`` for piecewise and B-spline types.
        stride, padding, dilation, groups, bias, padding_mode: as in :class:`torch.nn.Conv2d`,
            with padding applied in input space (see :class:`HighOrderConvNd`).
        length: half the fundamental period of Fourier series.
        rescale_output: divide by ``in_channels / groups * prod(kernel_size)``.
        periodicity: mirror-fold inputs at ``+-periodicity / 2``.
        out_of_range: out-of-range policy; ``None`` keeps each type's default.
        contraction: ``"auto"``, ``"dense"`` or ``"gather"`` for piecewise types (see
            :class:`HighOrderConvNd`); the others always contract densely and ignore it.
        initialization: the initial link functions (see
            :func:`~high_order_layers_torch.layers.initialize_links_`); ``None`` keeps each
            layer type's default.

    Raises:
        ValueError: for an unknown ``layer_type`` (the message lists the valid names) or any
            invalid value.
        TypeError: a non-bool ``bias`` or ``rescale_output``, or an unknown keyword.

    Example:
        >>> layer = high_order_convolution_layers("continuous2d", n=3, in_channels=3, out_channels=16,
        ...                                       kernel_size=3, segments=4, padding=1)
    """
    sizes = dict(n=n, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, segments=segments)
    return build_checked(ChainMap(CONV_LAYERS, FAMILY_CONV_LAYERS), layer_type, **sizes, **options)


@spell_out(builder_defaults, HighOrderConvTransposeNd, order=BUILDER_ORDER)
def high_order_convolution_transpose_layers(
    layer_type: str,
    n: int,
    in_channels: int,
    out_channels: int,
    kernel_size: SizeArg,
    segments: int = 2,
    **options: Unpack[ConvTransposeOptions],
) -> nn.Module:
    """Build a high-order transposed convolution by its ``layer_type`` name (a key of
    :data:`CONV_TRANSPOSE_LAYERS` or :data:`FAMILY_CONV_TRANSPOSE_LAYERS`; the same names as
    :func:`high_order_convolution_layers`).

    The arguments and errors are those of :func:`high_order_convolution_layers` (no
    ``padding_mode``), except:

    Args:
        stride, padding, output_padding, dilation, groups, bias: as in
            :class:`torch.nn.ConvTranspose2d`.
        rescale_output: divide each output by the number of links feeding it
            (see :class:`HighOrderConvTransposeNd`).

    Example:
        >>> layer = high_order_convolution_transpose_layers("continuous2d", n=3, in_channels=16,
        ...                                                 out_channels=3, kernel_size=2, stride=2)
    """
    sizes = dict(n=n, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, segments=segments)
    return build_checked(ChainMap(CONV_TRANSPOSE_LAYERS, FAMILY_CONV_TRANSPOSE_LAYERS), layer_type, **sizes, **options)
