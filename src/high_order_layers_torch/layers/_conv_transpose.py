"""Transposed convolutions whose every connection is a learnable 1-D function from a
:class:`Basis`: one N-d implementation plus thin classes fixing dimensions and family."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Unpack

import torch.nn.functional as F
from torch import Tensor

from .. import kernels
from .._signatures import spell_out
from ..kernels import ConvGeometry
from ._basis import Basis
from ._conv import CONV_TRANSPOSE_ORDER, ConvLayerOptions, SizeArg, _HighOrderConvBase, int_tuple

_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


class HighOrderConvTransposeNd(_HighOrderConvBase):
    """A transposed convolution whose every connection is a learnable 1-D function.

    Every input element ``x[c, p]`` sends ``f_{c,o,j}(x[c, p])`` to output position
    ``p * stride + j * dilation - padding`` of each output channel ``o`` in its group, for every
    kernel tap ``j``; outputs sum what they receive. This is :class:`torch.nn.ConvTranspose2d`
    (etc.) with each weight replaced by a function, computed as the dense basis expansion
    ``(B, C * M, *spatial)`` followed by one ``F.conv_transpose``. As there, ``padding`` crops
    the full output on both sides and ``output_padding`` adds size at the end; no input is
    padded, so only real input elements enter link functions. Output positions that no input
    reaches (``stride > dilation * (kernel - 1) + 1``) are 0.

    Inputs pass the optional mirror fold (``periodicity``), then the ``out_of_range`` policy, as
    in :class:`HighOrderLinear`.

    ``rescale_output`` divides every output value by the exact number of links that feed it:
    ``in_channels / groups`` times the number of (input position, kernel tap) pairs landing on
    it, which depends on the position when ``stride > 1`` and near the borders (see
    :meth:`link_counts`; positions fed by no link are left at 0).

    Initialisation by ``initialization``, as :class:`HighOrderLinear`, with ``fan_in =
    in_channels / groups * max(1, prod(kernel_size) / prod(stride))``, the mean number of links
    feeding an interior output (dilation 1).

    Abstract: use :class:`HighOrderConvTranspose1d`/``2d``/``3d`` or a named family class.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, stride, dilation: int or one int per spatial dimension (``>= 1``).
        basis: the link function family, ``M = basis.num_weights``.
        padding: int or tuple ``>= 0``: size cropped from both sides of the full output, as in
            :class:`torch.nn.ConvTranspose2d`.
        output_padding: int or tuple ``>= 0``, smaller than ``stride`` or ``dilation``; extra
            size on the end side of each output dimension.
        groups: independent channel groups (divides both channel counts).
        bias: learnable bias per output channel (off by default).
        padding_mode: only ``"zeros"`` (as in PyTorch's transposed convolutions).
        rescale_output: divide by the number of links feeding each output value (see above).
        out_of_range: ``"clamp"``, ``"extrapolate"``, ``"mirror"`` or ``"error"``.
        periodicity: if given, fold inputs by mirror reflection at ``+-periodicity / 2``.
        contraction: ``"dense"``, ``"gather"`` or ``"auto"``, as in :class:`HighOrderConvNd`.
        initialization: the initial link functions (see
            :func:`~high_order_layers_torch.layers.initialize_links_`), with the fan-in above.
        num_spatial_dims: 1, 2 or 3 when this class is built directly; the ``1d``/``2d``/``3d``
            subclasses fix it.

    Shape:
        Input: ``(B, in_channels, *spatial)`` or unbatched ``(in_channels, *spatial)``.
        Output: ``(B, out_channels, *spatial_out)`` with
        ``(s - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``, as
        :class:`torch.nn.ConvTranspose2d`; ``forward(x, output_size)`` picks ``output_padding``
        from a wanted size as there.

    Attributes:
        weight: ``(in_channels, M, out_channels // groups, *kernel_size)``: the basis axis is
            :attr:`basis_dim` ``= 1``, right after the input channel, so flattening the first two
            axes gives the ``(in_channels * M, out_channels // groups, *kernel)`` weight
            ``F.conv_transpose`` takes without a copy, matching the expansion's channel order
            ``c * M + m``.
        bias: ``(out_channels,)`` or ``None``.

    State dict: ``weight`` (and ``bias``), plus a record of the basis configuration in its
    metadata; ``load_state_dict`` refuses weights saved under another one (see
    :class:`BasisLayer`).

    Raises:
        TypeError: a non-int size, a non-Basis ``basis``, a non-bool ``bias``/``rescale_output``,
            a non-tensor or non-floating input, or an input whose dtype differs from the layer's
            outside ``torch.autocast``.
        ValueError: invalid sizes or names, ``groups`` not dividing the channels, an
            ``output_padding`` not below ``stride`` or ``dilation``, an unreachable
            ``output_size``, or an input of the wrong rank or channel count.

    Example:
        >>> layer = HighOrderConvTranspose2d(4, 2, 2, PiecewisePolynomialBasis(n=3, segments=2), stride=2)
        >>> layer(torch.rand(1, 4, 8, 8) * 2 - 1).shape
        torch.Size([1, 2, 16, 16])
    """

    basis_dim: ClassVar[int] = 1
    padding_modes: ClassVar[tuple[str, ...]] = ("zeros",)

    @spell_out(_HighOrderConvBase.__init__, order=CONV_TRANSPOSE_ORDER)
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: SizeArg,
        basis: Basis,
        *,
        padding: SizeArg = 0,
        output_padding: SizeArg = 0,
        **options: Unpack[ConvLayerOptions],
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)
        dims = self.num_spatial_dims
        if isinstance(padding, str):
            raise ValueError(f"padding must be an int or a tuple of ints for transposed convolutions, got {padding!r}")
        self.padding = int_tuple("padding", padding, dims, minimum=0)
        self.output_padding = int_tuple("output_padding", output_padding, dims, minimum=0)
        for extra, step, rate in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if extra >= max(step, rate):
                raise ValueError(
                    f"output_padding must be smaller than stride or dilation in every dimension, got "
                    f"output_padding={self.output_padding}, stride={self.stride}, dilation={self.dilation}"
                )
        self.reset_parameters()

    def _weight_shape(self) -> tuple[int, ...]:
        return (
            self.in_channels,
            self.basis.num_weights,
            self.out_channels // self.groups,
            *self.kernel_size,
        )

    def _fan_in(self) -> float:
        taps = math.prod(self.kernel_size) / math.prod(self.stride)
        return self.in_channels // self.groups * max(1.0, taps)

    def output_size(self, input_size: Sequence[int], output_padding: Sequence[int] | None = None) -> tuple[int, ...]:
        """Spatial output size for a spatial input size."""
        extra = self.output_padding if output_padding is None else output_padding
        return tuple(
            (size - 1) * step - 2 * pad + rate * (k - 1) + more + 1
            for size, step, pad, rate, k, more in zip(
                input_size, self.stride, self.padding, self.dilation, self.kernel_size, extra, strict=True
            )
        )

    def link_counts(
        self, input_size: Sequence[int], output_padding: Sequence[int] | None = None, *, like: Tensor | None = None
    ) -> Tensor:
        """How many links feed each output value, for a spatial input size.

        ``in_channels / groups`` times the number of (input position, kernel tap) pairs that land
        on the position: a transposed convolution of ones with a kernel of ones.

        Shape:
            Output: ``(1, *spatial_out)``, in the dtype and device of ``like`` (default: weight).
        """
        like = self.weight if like is None else like
        extra = self.output_padding if output_padding is None else tuple(output_padding)
        ones = like.new_ones(1, 1, *input_size)
        kernel = like.new_ones(1, 1, *self.kernel_size)
        conv_t = _CONV_TRANSPOSE[self.num_spatial_dims]
        taps = conv_t(ones, kernel, None, self.stride, self.padding, extra, 1, self.dilation)  # (1, 1, *S_out)
        return taps[0] * (self.in_channels // self.groups)

    def _output_padding(self, input_size: Sequence[int], output_size: Sequence[int] | None) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        dims = self.num_spatial_dims
        wanted = tuple(output_size)[-dims:]
        if len(wanted) != dims:
            raise ValueError(f"output_size must give {dims} spatial sizes, got {tuple(output_size)}")
        smallest = self.output_size(input_size, (0,) * dims)
        largest = tuple(low + step - 1 for low, step in zip(smallest, self.stride, strict=True))
        if not all(low <= size <= high for size, low, high in zip(wanted, smallest, largest, strict=True)):
            raise ValueError(
                f"output_size {wanted} cannot be reached from input size {tuple(input_size)}: each size must lie "
                f"between {smallest} and {largest}"
            )
        return tuple(size - low for size, low in zip(wanted, smallest, strict=True))

    def forward(self, x: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        x, unbatched = self._batched(x)  # (B, C, *S)
        output_padding = self._output_padding(x.shape[2:], output_size)
        x, clamp = self.defer_default_clamp(x)
        geometry = ConvGeometry(self.stride, self.padding, self.dilation, True, output_padding, self.groups)
        bias = None if self.rescale_output else self.bias
        y = kernels.conv(self.basis.layout(), x, self.weight, geometry, self.contraction, clamp=clamp, bias=bias)
        if self.rescale_output:
            count = self.link_counts(x.shape[2:], output_padding, like=y)  # (1, *S_out)
            y = y / count.clamp(min=1)
            if self.bias is not None:
                y = y + self.bias.view(-1, *([1] * self.num_spatial_dims))
        return y.squeeze(0) if unbatched else y


class HighOrderConvTranspose1d(HighOrderConvTransposeNd):
    """:class:`HighOrderConvTransposeNd` over one spatial dimension: input ``(B, C, L)``."""

    num_spatial_dims = 1


class HighOrderConvTranspose2d(HighOrderConvTransposeNd):
    """:class:`HighOrderConvTransposeNd` over two spatial dimensions: input ``(B, C, H, W)``."""

    num_spatial_dims = 2


class HighOrderConvTranspose3d(HighOrderConvTransposeNd):
    """:class:`HighOrderConvTransposeNd` over three spatial dimensions: input ``(B, C, D, H, W)``."""

    num_spatial_dims = 3
