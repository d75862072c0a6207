"""The convolutional ``layer_type`` names, resolved through :func:`build_from_registry`."""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_bool
from ._conv import (
    FourierConvolution1d,
    FourierConvolution2d,
    FourierConvolution3d,
    PiecewiseDiscontinuousPolynomialConvolution1d,
    PiecewiseDiscontinuousPolynomialConvolution2d,
    PiecewiseDiscontinuousPolynomialConvolution3d,
    PiecewisePolynomialConvolution1d,
    PiecewisePolynomialConvolution2d,
    PiecewisePolynomialConvolution3d,
    PolynomialConvolution1d,
    PolynomialConvolution2d,
    PolynomialConvolution3d,
    SizeArg,
)
from ._conv_transpose import (
    FourierConvolutionTranspose1d,
    FourierConvolutionTranspose2d,
    FourierConvolutionTranspose3d,
    PiecewiseDiscontinuousPolynomialConvolutionTranspose1d,
    PiecewiseDiscontinuousPolynomialConvolutionTranspose2d,
    PiecewiseDiscontinuousPolynomialConvolutionTranspose3d,
    PiecewisePolynomialConvolutionTranspose1d,
    PiecewisePolynomialConvolutionTranspose2d,
    PiecewisePolynomialConvolutionTranspose3d,
    PolynomialConvolutionTranspose1d,
    PolynomialConvolutionTranspose2d,
    PolynomialConvolutionTranspose3d,
)
from ._init import check_initialization
from ._registry import build_from_registry

#: The convolution classes by ``layer_type`` name, as used by :func:`high_order_convolution_layers`.
CONV_LAYERS: dict[str, type[nn.Module]] = {
    "continuous1d": PiecewisePolynomialConvolution1d,
    "continuous2d": PiecewisePolynomialConvolution2d,
    "continuous3d": PiecewisePolynomialConvolution3d,
    "discontinuous1d": PiecewiseDiscontinuousPolynomialConvolution1d,
    "discontinuous2d": PiecewiseDiscontinuousPolynomialConvolution2d,
    "discontinuous3d": PiecewiseDiscontinuousPolynomialConvolution3d,
    "polynomial1d": PolynomialConvolution1d,
    "polynomial2d": PolynomialConvolution2d,
    "polynomial3d": PolynomialConvolution3d,
    "fourier1d": FourierConvolution1d,
    "fourier2d": FourierConvolution2d,
    "fourier3d": FourierConvolution3d,
}

#: The transposed-convolution classes by ``layer_type`` name, as used by
#: :func:`high_order_convolution_transpose_layers`.
CONV_TRANSPOSE_LAYERS: dict[str, type[nn.Module]] = {
    "continuous1d": PiecewisePolynomialConvolutionTranspose1d,
    "continuous2d": PiecewisePolynomialConvolutionTranspose2d,
    "continuous3d": PiecewisePolynomialConvolutionTranspose3d,
    "discontinuous1d": PiecewiseDiscontinuousPolynomialConvolutionTranspose1d,
    "discontinuous2d": PiecewiseDiscontinuousPolynomialConvolutionTranspose2d,
    "discontinuous3d": PiecewiseDiscontinuousPolynomialConvolutionTranspose3d,
    "polynomial1d": PolynomialConvolutionTranspose1d,
    "polynomial2d": PolynomialConvolutionTranspose2d,
    "polynomial3d": PolynomialConvolutionTranspose3d,
    "fourier1d": FourierConvolutionTranspose1d,
    "fourier2d": FourierConvolutionTranspose2d,
    "fourier3d": FourierConvolutionTranspose3d,
}


def high_order_convolution_layers(
    layer_type: str,
    n: int,
    in_channels: int,
    out_channels: int,
    kernel_size: SizeArg,
    segments: int = 2,
    *,
    stride: SizeArg = 1,
    padding: SizeArg | str = 0,
    dilation: SizeArg = 1,
    groups: int = 1,
    bias: bool = False,
    padding_mode: str = "zeros",
    length: float = 2.0,
    rescale_output: bool = False,
    periodicity: float | None = None,
    out_of_range: str | None = None,
    contraction: str = "auto",
    initialization: str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Build a high-order convolution by its ``layer_type`` name (a key of :data:`CONV_LAYERS`).

    Names: ``continuous``, ``discontinuous``, ``polynomial`` and ``fourier``, each followed by
    ``1d``, ``2d`` or ``3d``. Every type takes the same keywords and ignores those it has no use
    for: ``segments`` is ignored by polynomial and Fourier types, ``length`` by all but Fourier.

    Args:
        layer_type: for example ``"continuous2d"``.
        n: nodes per segment (polynomials) or number of frequencies (Fourier).
        in_channels, out_channels, kernel_size: layer sizes.
        segments: pieces of ``[-1, 1]`` for piecewise types.
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
        TypeError: a non-bool ``bias`` or ``rescale_output``.

    Example:
        >>> layer = high_order_convolution_layers("continuous2d", n=3, in_channels=3, out_channels=16,
        ...                                       kernel_size=3, segments=4, padding=1)
    """
    check_bool("bias", bias)
    check_bool("rescale_output", rescale_output)
    if initialization is not None:
        check_initialization(initialization)
    options: dict[str, object] = dict(
        n=n,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=kernel_size,
        segments=segments,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=bias,
        padding_mode=padding_mode,
        length=length,
        rescale_output=rescale_output,
        periodicity=periodicity,
        contraction=contraction,
        initialization=initialization,
        device=device,
        dtype=dtype,
    )
    if out_of_range is not None:
        options["out_of_range"] = out_of_range
    return build_from_registry(CONV_LAYERS, layer_type, **options)


def high_order_convolution_transpose_layers(
    layer_type: str,
    n: int,
    in_channels: int,
    out_channels: int,
    kernel_size: SizeArg,
    segments: int = 2,
    *,
    stride: SizeArg = 1,
    padding: SizeArg = 0,
    output_padding: SizeArg = 0,
    dilation: SizeArg = 1,
    groups: int = 1,
    bias: bool = False,
    length: float = 2.0,
    rescale_output: bool = False,
    periodicity: float | None = None,
    out_of_range: str | None = None,
    contraction: str = "auto",
    initialization: str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Build a high-order transposed convolution by its ``layer_type`` name (a key of
    :data:`CONV_TRANSPOSE_LAYERS`; the same names as :func:`high_order_convolution_layers`).

    Args:
        layer_type: for example ``"continuous2d"``.
        n: nodes per segment (polynomials) or number of frequencies (Fourier).
        in_channels, out_channels, kernel_size: layer sizes.
        segments: pieces of ``[-1, 1]`` for piecewise types (ignored by the others).
        stride, padding, output_padding, dilation, groups, bias: as in
            :class:`torch.nn.ConvTranspose2d`.
        length: half the fundamental period of Fourier series (ignored by the others).
        rescale_output: divide each output by the number of links feeding it
            (see :class:`HighOrderConvTransposeNd`).
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
        TypeError: a non-bool ``bias`` or ``rescale_output``.

    Example:
        >>> layer = high_order_convolution_transpose_layers("continuous2d", n=3, in_channels=16,
        ...                                                 out_channels=3, kernel_size=2, stride=2)
    """
    check_bool("bias", bias)
    check_bool("rescale_output", rescale_output)
    if initialization is not None:
        check_initialization(initialization)
    options: dict[str, object] = dict(
        n=n,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=kernel_size,
        segments=segments,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
        bias=bias,
        length=length,
        rescale_output=rescale_output,
        periodicity=periodicity,
        contraction=contraction,
        initialization=initialization,
        device=device,
        dtype=dtype,
    )
    if out_of_range is not None:
        options["out_of_range"] = out_of_range
    return build_from_registry(CONV_TRANSPOSE_LAYERS, layer_type, **options)
