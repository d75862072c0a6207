"""Convolutions whose every connection (output channel, input channel, kernel tap) is a
learnable 1-D function from a :class:`Basis`.

One N-d implementation, :class:`HighOrderConvNd`, takes any basis; thin classes fix the number of
spatial dimensions (:class:`HighOrderConv2d`) or the basis family as well
(:class:`PiecewisePolynomialConvolution2d`, the ``layer_type="continuous2d"`` layer).

How it is computed (``contraction``): densely, every input element is evaluated in the basis
and scattered into the expansion ``(B, C * M, *spatial)`` (channel ``c * M + m`` holds basis
function ``m`` of input channel ``c``; only ``num_active`` of each element's ``M`` values are
non-zero), then a single ordinary convolution with the weight viewed as
``(out, in / groups * M, *kernel)`` sums the link functions over channels and kernel taps; for
piecewise polynomials on the CPU the expansion (and the default clamp of the input) is one fused
kernel pass. By gathering (piecewise polynomials with several segments), every link reads only the
``n`` active weights of its input's piece, through the ``piecewise_conv_gather`` operator, and no
expansion is formed (:mod:`high_order_layers_torch.kernels`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Unpack

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import kernels
from .._signatures import spell_out
from .._validation import check_bool, check_choice, check_input_dtype, check_int, check_positive_float
from ..functional import OUT_OF_RANGE_POLICIES, Contraction, OutOfRange
from ..kernels import ConvGeometry
from ._basis import Basis, BasisLayer
from ._init import Initialization, check_initialization, initialize_links_
from ._linear import LinkPolicy

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
PADDING_MODES: tuple[str, ...] = ("zeros", "reflect", "replicate", "circular")
PADDING_STRINGS: tuple[str, ...] = ("same", "valid")
_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}
#: The order of the keyword-only parameters in ``inspect.signature``: the geometry as
#: ``torch.nn.Conv2d`` has it (the transposed convolutions follow ``torch.nn.ConvTranspose2d``),
#: then the link options.
_LINK_ORDER = "rescale_output out_of_range periodicity contraction initialization"
CONV_ORDER = f"stride padding dilation groups bias padding_mode {_LINK_ORDER}"
CONV_TRANSPOSE_ORDER = f"stride padding output_padding groups bias dilation padding_mode {_LINK_ORDER}"

SizeArg = int | Sequence[int]


class ConvLinkOptions(LinkPolicy, total=False):
    """The keywords every convolution and transposed convolution takes, generic or named (see
    :class:`HighOrderConvNd` for their meaning), but ``padding`` and ``contraction``."""

    stride: SizeArg
    dilation: SizeArg
    groups: int
    bias: bool
    padding_mode: PaddingMode
    rescale_output: bool


class ConvLayerOptions(ConvLinkOptions, total=False):
    """The keywords :class:`HighOrderConvNd` and :class:`HighOrderConvTransposeNd` share: each
    passes them on to the common base."""

    contraction: Contraction
    num_spatial_dims: int | None


def int_tuple(name: str, value: object, dims: int, *, minimum: int) -> tuple[int, ...]:
    """``value`` as a tuple of ``dims`` ints ``>= minimum`` (an int is repeated ``dims`` times)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * dims
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be an int or a sequence of {dims} ints, got {value!r}")
    if len(value) != dims:
        raise ValueError(f"{name} must have {dims} entries (one per spatial dimension), got {tuple(value)}")
    return tuple(check_int(name, item, minimum=minimum) for item in value)


class _HighOrderConvBase(BasisLayer):
    """What convolutions and transposed convolutions share: argument checks, the input checks
    and policy, the basis expansion, the linear initialisation and the record of the basis in
    state dicts (:class:`BasisLayer`). Subclasses define the weight layout."""

    num_spatial_dims: int  # fixed by the 1d/2d/3d subclasses, else given to the constructor
    basis_dim: ClassVar[int]
    padding_modes: ClassVar[tuple[str, ...]] = PADDING_MODES
    #: Convolutions were not measured by the accuracy suite: they keep the straight-line start.
    default_initialization: ClassVar[str] = "linear"

    def __init_subclass__(cls, *, num_spatial_dims: int | None = None, **kwargs: Any) -> None:
        """``class C(HighOrderConvNd, num_spatial_dims=2)`` fixes the number of spatial dimensions
        (as does a class attribute ``num_spatial_dims = 2``)."""
        super().__init_subclass__(**kwargs)
        if num_spatial_dims is not None:
            cls.num_spatial_dims = num_spatial_dims

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: SizeArg,
        basis: Basis,
        *,
        stride: SizeArg = 1,
        dilation: SizeArg = 1,
        groups: int = 1,
        bias: bool = False,
        padding_mode: PaddingMode = "zeros",
        rescale_output: bool = False,
        out_of_range: OutOfRange = "clamp",
        periodicity: float | None = None,
        contraction: Contraction = "auto",
        initialization: Initialization | None = None,
        num_spatial_dims: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        fixed = getattr(type(self), "num_spatial_dims", None)
        if num_spatial_dims is None and fixed is None:
            raise TypeError(
                f"{type(self).__name__} is abstract without num_spatial_dims: pass num_spatial_dims=1, 2 or 3, "
                "or use a subclass that fixes it (e.g. HighOrderConv2d)"
            )
        if num_spatial_dims is not None:
            num_spatial_dims = check_int("num_spatial_dims", num_spatial_dims, minimum=1)
            if num_spatial_dims > 3 or (fixed is not None and num_spatial_dims != fixed):
                allowed = "1, 2 or 3" if fixed is None else f"{fixed} for {type(self).__name__}"
                raise ValueError(f"num_spatial_dims must be {allowed}, got {num_spatial_dims}")
        super().__init__()
        if num_spatial_dims is not None:
            self.num_spatial_dims = num_spatial_dims
        dims = self.num_spatial_dims
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.kernel_size = int_tuple("kernel_size", kernel_size, dims, minimum=1)
        self.stride = int_tuple("stride", stride, dims, minimum=1)
        self.dilation = int_tuple("dilation", dilation, dims, minimum=1)
        self.groups = check_int("groups", groups, minimum=1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must both be divisible by "
                f"groups ({groups})"
            )
        if not isinstance(basis, Basis):
            raise TypeError(f"basis must be a Basis module, got {type(basis).__name__}")
        self.basis = basis.to(device=device, dtype=dtype)  # its buffers follow the layer's factory kwargs
        self.padding_mode = check_choice("padding_mode", padding_mode, self.padding_modes)
        self.rescale_output = check_bool("rescale_output", rescale_output)
        self.out_of_range = check_choice("out_of_range", out_of_range, OUT_OF_RANGE_POLICIES)
        self.periodicity = None if periodicity is None else check_positive_float("periodicity", periodicity)
        self.contraction = contraction
        self.initialization = check_initialization(
            self.default_initialization if initialization is None else initialization
        )
        self.weight = nn.Parameter(torch.empty(self._weight_shape(), device=device, dtype=dtype))
        if check_bool("bias", bias):
            self.bias = nn.Parameter(torch.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def _weight_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _fan_in(self) -> float:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Initial link functions by ``self.initialization`` (see
        :func:`~high_order_layers_torch.layers.initialize_links_`) with the kernel's fan-in; bias 0."""
        initialize_links_(self.weight, self.basis, self.initialization, fan_in=self._fan_in(), basis_dim=self.basis_dim)
        if self.bias is not None:
            with torch.no_grad():
                self.bias.zero_()

    def expand(self, x: Tensor, *, clamp: bool = False) -> Tensor:
        """The dense basis expansion (no input policy applied; with ``clamp``, ``x`` is first
        limited to ``[-1, 1]``), by :func:`~high_order_layers_torch.kernels.expansion` of the
        basis' layout.

        Shape:
            ``(B, C, *spatial)`` -> ``(B, C * M, *spatial)``, channel ``c * M + m``.
        """
        batch, channels, *spatial = x.shape
        positions = math.prod(spatial)  # explicit sizes: an empty batch must not make -1 ambiguous
        dense = kernels.expansion(self.basis.layout(), x.reshape(batch, channels, positions), clamp=clamp)
        return dense.view(batch, channels * self.basis.num_weights, *spatial)

    def _batched(self, x: Tensor) -> tuple[Tensor, bool]:
        if not isinstance(x, Tensor):
            raise TypeError(f"input must be a Tensor, got {type(x).__name__}")
        dims = self.num_spatial_dims
        if x.dim() not in (dims + 1, dims + 2) or x.shape[-dims - 1] != self.in_channels:
            raise ValueError(
                f"expected input of shape (B, {self.in_channels}, *spatial) or ({self.in_channels}, *spatial) "
                f"with {dims} spatial dimension(s), got {tuple(x.shape)}"
            )
        check_input_dtype(x, self.weight.dtype)  # the messages of the fully-connected layers
        unbatched = x.dim() == dims + 1
        return (x.unsqueeze(0) if unbatched else x), unbatched

    def extra_repr(self) -> str:
        dims = self.num_spatial_dims
        parts = [f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}", f"stride={self.stride}"]
        padding = getattr(self, "padding", (0,) * dims)
        if padding != (0,) * dims:
            parts.append(f"padding={padding!r}")
        if self.dilation != (1,) * dims:
            parts.append(f"dilation={self.dilation}")
        output_padding = getattr(self, "output_padding", (0,) * dims)
        if output_padding != (0,) * dims:
            parts.append(f"output_padding={output_padding}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is not None:
            parts.append("bias=True")
        if self.padding_mode != "zeros":
            parts.append(f"padding_mode={self.padding_mode!r}")
        return ", ".join(parts + self._option_parts())


class HighOrderConvNd(_HighOrderConvBase):
    """A convolution whose every connection is a learnable 1-D function from ``basis``.

    Output channel ``o`` at position ``q`` is
    ``y[o, q] = sum_{c in group(o)} sum_{j in kernel} f_{o,c,j}(x[c, q * stride + j * dilation])``
    over the (padded) input: the fully-connected :class:`HighOrderLinear` sum neuron applied to
    every patch, each (input channel, kernel tap) pair with its own function.

    Padding is applied in input space, before the basis: the input is padded with
    ``padding_mode`` (zeros, reflect, replicate or circular) and then every element, padded ones
    included, goes through the link functions. A zero-padded pixel therefore contributes
    ``f(0)``, not zero: the layer is exactly the fully-connected layer on every unfolded patch of
    the padded input, and every output value has the same number of links.

    Inputs pass the optional mirror fold (``periodicity``), then the ``out_of_range`` policy, as
    in :class:`HighOrderLinear`; padded values (0, or copies of inputs) pass them as well.

    Initialisation by ``initialization``, as :class:`HighOrderLinear`, with ``fan_in =
    in_channels / groups * prod(kernel_size)``: by default straight-line link functions of slope
    ``U(-sqrt(3 / fan_in), sqrt(3 / fan_in))`` plus 10% noise.

    Abstract: use :class:`HighOrderConv1d`/``2d``/``3d`` or a named family class.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: int or one int per spatial dimension.
        basis: the link function family (a :class:`Basis` module) with ``M = basis.num_weights``.
        stride: int or tuple, ``>= 1``.
        padding: int or tuple ``>= 0``, or ``"valid"`` (no padding) or ``"same"`` (output as large
            as the input; stride 1 only; an odd total padding puts the extra element at the end,
            as in :class:`torch.nn.Conv2d`).
        dilation: int or tuple, ``>= 1``.
        groups: split channels into this many independent groups (divides both channel counts).
        bias: add a learnable bias per output channel (off by default: every link function
            already has a constant part).
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        rescale_output: divide the output by the number of links feeding each output value,
            :attr:`links_per_output` ``= in_channels / groups * prod(kernel_size)`` (before the bias),
            so the output is the mean link value instead of the sum.
        out_of_range: ``"clamp"``, ``"extrapolate"``, ``"mirror"`` or ``"error"``.
        periodicity: if given, fold inputs by mirror reflection at ``+-periodicity / 2``.
        contraction: ``"dense"`` (the basis expansion ``(B, C * M, *spatial)`` and one ordinary
            convolution: cost grows with ``segments``), ``"gather"`` (every link reads only its
            ``n`` active weights, the ``piecewise_conv_gather`` operator of
            :mod:`high_order_layers_torch.kernels`: the cost of a plain convolution over
            ``C * n`` channels whatever ``segments`` is, and no expansion stored) or ``"auto"``
            (see :func:`~high_order_layers_torch.kernels.conv_contraction`). All give the same
            result to round-off; settable later (``layer.contraction = "gather"``). Bases whose
            every weight is active (one polynomial, Fourier series) always contract densely.
        initialization: the initial link functions (see
            :func:`~high_order_layers_torch.layers.initialize_links_`), with the fan-in above.
        num_spatial_dims: 1, 2 or 3 when this class is built directly; the ``1d``/``2d``/``3d``
            subclasses fix it.

    Shape:
        Input: ``(B, in_channels, *spatial)`` or unbatched ``(in_channels, *spatial)``.
        Output: ``(B, out_channels, *spatial_out)`` with the sizes of the matching
        :class:`torch.nn.Conv2d` (etc.): ``(s + total_padding - dilation * (k - 1) - 1) // stride + 1``.

    Attributes:
        weight: ``(out_channels, in_channels // groups, M, *kernel_size)``; the basis axis is
            :attr:`basis_dim` ``= 2``, as in the fully-connected layout ``(out, in, M)``.
        bias: ``(out_channels,)`` or ``None``.

    State dict: ``weight`` (and ``bias``), plus a record of the basis configuration in its
    metadata; ``load_state_dict`` refuses weights saved under another one (see
    :class:`BasisLayer`).

    Raises:
        TypeError: a non-int size, a non-Basis ``basis``, a non-bool ``bias``/``rescale_output``,
            a non-tensor or non-floating input, or an input whose dtype differs from the layer's
            outside ``torch.autocast``.
        ValueError: invalid sizes, names, ``groups`` not dividing the channels, ``"same"`` with a
            stride, or an input of the wrong rank or channel count.

    Example:
        >>> layer = HighOrderConv2d(3, 8, 3, PiecewisePolynomialBasis(n=3, segments=4), padding="same")
        >>> layer(torch.rand(2, 3, 16, 16) * 2 - 1).shape
        torch.Size([2, 8, 16, 16])
    """

    basis_dim: ClassVar[int] = 2

    @spell_out(_HighOrderConvBase.__init__, order=CONV_ORDER)
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: SizeArg,
        basis: Basis,
        *,
        padding: SizeArg | str = 0,
        **options: Unpack[ConvLayerOptions],
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)
        self.padding = self._check_padding(padding)
        self.reset_parameters()

    def _check_padding(self, padding: object) -> tuple[int, ...] | str:
        dims = self.num_spatial_dims
        if isinstance(padding, str):
            check_choice("padding", padding, PADDING_STRINGS)
            if padding == "same" and self.stride != (1,) * dims:
                raise ValueError(f"padding='same' needs stride 1, got stride={self.stride}")
            return padding
        return int_tuple("padding", padding, dims, minimum=0)

    def _weight_shape(self) -> tuple[int, ...]:
        return (
            self.out_channels,
            self.in_channels // self.groups,
            self.basis.num_weights,
            *self.kernel_size,
        )

    def _fan_in(self) -> float:
        return self.links_per_output

    @property
    def links_per_output(self) -> int:
        """Links feeding each output value: ``in_channels / groups * prod(kernel_size)``."""
        return self.in_channels // self.groups * math.prod(self.kernel_size)

    def input_padding(self) -> tuple[int, ...]:
        """The padding as :func:`torch.nn.functional.pad` takes it: (before, after) per spatial
        dimension, last dimension first."""
        if self.padding == "valid":
            return (0,) * (2 * self.num_spatial_dims)
        pad: list[int] = []
        for index in reversed(range(self.num_spatial_dims)):
            if isinstance(self.padding, str):  # "same"
                total = self.dilation[index] * (self.kernel_size[index] - 1)
                pad += [total // 2, total - total // 2]
            else:
                pad += [self.padding[index]] * 2
        return tuple(pad)

    def forward(self, x: Tensor) -> Tensor:
        x, unbatched = self._batched(x)  # (B, C, *S)
        x, clamp = self.defer_default_clamp(x)
        pad = self.input_padding()
        if any(pad):
            x = F.pad(x, pad, mode=_PAD_MODE[self.padding_mode])  # (B, C, *S_padded)
        dims = self.num_spatial_dims
        geometry = ConvGeometry(self.stride, (0,) * dims, self.dilation, False, (0,) * dims, self.groups)
        divisor = self.links_per_output if self.rescale_output else None
        y = kernels.conv(
            self.basis.layout(),
            x,
            self.weight,
            geometry,
            self.contraction,
            clamp=clamp,
            bias=self.bias,
            divisor=divisor,
        )  # (B, O, *S_out)
        return y.squeeze(0) if unbatched else y


class HighOrderConv1d(HighOrderConvNd):
    """:class:`HighOrderConvNd` over one spatial dimension: input ``(B, C, L)``."""

    num_spatial_dims = 1


class HighOrderConv2d(HighOrderConvNd):
    """:class:`HighOrderConvNd` over two spatial dimensions: input ``(B, C, H, W)``."""

    num_spatial_dims = 2


class HighOrderConv3d(HighOrderConvNd):
    """:class:`HighOrderConvNd` over three spatial dimensions: input ``(B, C, D, H, W)``."""

    num_spatial_dims = 3
