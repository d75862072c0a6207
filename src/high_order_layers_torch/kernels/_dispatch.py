"""The one decision point: how a layer's neurons contract, for fully-connected layers and
convolutions alike.

Layers call :func:`sum_neuron`, :func:`product_neuron`, :func:`link_values` and :func:`conv` with
their basis' :data:`~._layouts.Layout`; these choose the operators for the layout and, for
piecewise links with more weights than active ones, dense against gather
(:func:`sum_contraction`, :func:`conv_contraction`): by fixed thresholds measured per kernel, and
on the CPU by timing both once per shape where the faster one depends on the machine
(:mod:`._autotune`).
"""

from __future__ import annotations

from typing import TypeGuard

from torch import Tensor

from ..functional import choose_contraction, clamp_if, link_values_gather
from ..functional import link_values as dense_link_values
from ..functional import product_neuron as product_of_links
from . import _autotune, _switches
from ._dense import dense_conv, dense_sum_neuron, layout_values
from ._functions import (
    fused_bspline_gather,
    fused_linear_product,
    fused_piecewise_conv,
    fused_piecewise_gather,
    fused_piecewise_product,
)
from ._layouts import ConvGeometry, Layout, LinearLinks, PiecewiseLagrange, UniformBSpline

#: With the fused CPU kernel, gathering beats the dense GEMM from a few weights per active one
#: (measured: ``benchmarks/bench_fc.py``); without it, see ``functional.GATHER_MIN_RATIO``.
FUSED_GATHER_MIN_RATIO = 1.5

#: With the Triton kernels on a CUDA GPU, gathering ties the dense GEMM at 13 weights per active
#: one (continuous, segments 16) and wins from 26 (segments 32), at batch 4096 and 16384; dense
#: wins clearly at 6.6 (segments 8). At the tie gather takes 13x less memory, so it starts there
#: (measured on an H200: ``benchmarks/bench_gpu.py``, README "GPU").
TRITON_GATHER_MIN_RATIO = 12

#: Between these weights-per-active-weight ratios, which contraction is faster on the CPU depends
#: on the machine (its GEMM against its memory speed): ``"auto"`` times both there. Below the
#: lower one dense wins, above the upper one the gather does, on every CPU measured.
AUTOTUNE_RATIOS = (1.5, 16.0)

#: Convolutions contract by gathering, where nothing is timed, from this many weights per active one
#: (dense wins below it; measured: ``benchmarks/bench_conv.py``).
CONV_GATHER_MIN_RATIO = 1.5

#: On a CUDA GPU, convolutions gather (the Triton gather over every position's links) from this
#: many weights per active one. Measured on an H200 (``bench_conv --device cuda``, n = 3, float32):
#: at batch 64 dense was 1.1-1.3x faster at every segment count; at batch 256 dense won up to 16
#: segments (1.4-1.9x) and gather won at 64 (43 weights per active one: 1.1-1.4x), where the
#: dense expansion also holds 25-40x the memory.
CONV_TRITON_GATHER_MIN_RATIO = 40


def _gathers(layout: Layout) -> TypeGuard[PiecewiseLagrange]:
    """Whether the layout can contract by gathering: piecewise links with more weights than
    active ones."""
    return isinstance(layout, PiecewiseLagrange) and layout.segments > 1


def sum_contraction(
    num_weights: int,
    num_active: int,
    contraction: str,
    weight: Tensor,
    *,
    batch: int | None = None,
    basis: tuple[int, int, bool] | None = None,
) -> str:
    """``"dense"`` or ``"gather"`` for a sum neuron with ``weight``, resolving ``"auto"``.

    A basis whose every weight is active (one polynomial, a Fourier series) always contracts
    densely: gathering all ``M`` weights is the dense product done slower. Otherwise ``"auto"``
    compares the weights per active weight with the threshold of the gather kernel that would run
    (:data:`FUSED_GATHER_MIN_RATIO` on the CPU, :data:`TRITON_GATHER_MIN_RATIO` on CUDA,
    :data:`~high_order_layers_torch.functional.GATHER_MIN_RATIO` for the reference). On the CPU
    with the kernels, a ratio within :data:`AUTOTUNE_RATIOS` is decided by timing both once for the
    layer's shape (``batch`` and ``basis = (n, segments, continuous)`` given), as
    ``torch.backends.cudnn.benchmark`` does for convolutions; ``HIGH_ORDER_LAYERS_AUTOTUNE=0`` or
    deterministic algorithms keep the fixed threshold.
    """
    if num_weights == num_active:
        return "dense"
    if contraction != "auto":
        return contraction
    kernel = _switches.gather_kernel(weight.device.type, weight.dtype)
    if kernel == "cpu":
        low, high = AUTOTUNE_RATIOS
        timed = low <= num_weights / num_active <= high
        if batch is not None and basis is not None and timed and _autotune.autotune_enabled():
            return _autotune.measured_contraction(batch, weight.shape[1], weight.shape[0], *basis, weight.dtype)
        return choose_contraction(num_weights, num_active, contraction, gather_min_ratio=FUSED_GATHER_MIN_RATIO)
    if kernel == "triton":
        return choose_contraction(num_weights, num_active, contraction, gather_min_ratio=TRITON_GATHER_MIN_RATIO)
    return choose_contraction(num_weights, num_active, contraction)


def bspline_contraction(layout: UniformBSpline, contraction: str, weight: Tensor) -> str:
    """``"dense"`` or ``"gather"`` for a sum neuron of B-spline links, resolving ``"auto"``: with
    the C++ B-spline gather, from :data:`FUSED_GATHER_MIN_RATIO` weights per active one (its dense
    side is the pure-torch expansion, which no kernel speeds up, so nothing is timed); elsewhere by
    :func:`~high_order_layers_torch.functional.choose_contraction`."""
    if layout.num_weights == layout.num_active:
        return "dense"
    if _switches.has_kernel("bspline_gather", weight.device.type, weight.dtype):
        return choose_contraction(
            layout.num_weights, layout.num_active, contraction, gather_min_ratio=FUSED_GATHER_MIN_RATIO
        )
    return choose_contraction(layout.num_weights, layout.num_active, contraction)


def conv_contraction(
    num_weights: int,
    num_active: int,
    contraction: str,
    weight: Tensor,
    *,
    input_shape: tuple[int, ...],
    basis: tuple[int, int, bool],
    geometry: ConvGeometry,
) -> str:
    """``"dense"`` or ``"gather"`` for a piecewise convolution with ``weight``, resolving
    ``"auto"`` as :func:`sum_contraction` does for fully-connected layers: dense where every weight
    is active, and where no gather kernel runs for the weight's device (elsewhere the gather
    operator runs the dense computation anyway); with the Triton gather (CUDA), from
    :data:`CONV_TRITON_GATHER_MIN_RATIO` weights per active one; with the C++ convolution gather,
    a ratio of weights per active weight within :data:`AUTOTUNE_RATIOS` is timed once per shape, a
    larger one gathers, a smaller one (below :data:`CONV_GATHER_MIN_RATIO`) stays dense."""
    if num_weights == num_active:
        return "dense"
    if contraction != "auto":
        return contraction
    ratio = num_weights / num_active
    device_type, dtype = weight.device.type, weight.dtype
    if not _switches.has_kernel("piecewise_conv_gather", device_type, dtype):
        if _switches.has_kernel("piecewise_gather", device_type, dtype):  # through the fully-connected gather
            return "gather" if ratio >= CONV_TRITON_GATHER_MIN_RATIO else "dense"
        return "dense"
    low, high = AUTOTUNE_RATIOS
    if low <= ratio <= high and _autotune.autotune_enabled():
        # a plain tuple: a NamedTuple does not survive dynamo's call of a constant-result function
        return _autotune.measured_conv_contraction(input_shape, tuple(weight.shape), basis, tuple(geometry), dtype)
    return "gather" if ratio >= CONV_GATHER_MIN_RATIO else "dense"


def sum_neuron(layout: Layout, x: Tensor, weight: Tensor, contraction: str, *, clamp: bool) -> Tensor:
    """``y[b, o] = sum_i f_oi(x[b, i])`` of a fully-connected layer (``clamp``: limit ``x`` to
    ``[-1, 1]`` first, inside the kernel where one runs).

    Shape:
        x: ``(B, I)``. weight: ``(O, I, num_weights)``. Output: ``(B, O)``.
    """
    if _gathers(layout):
        chosen = sum_contraction(
            layout.num_weights, layout.num_active, contraction, weight, batch=x.shape[0], basis=layout.basis
        )
        if chosen == "gather":  # the basis is evaluated inside the contraction
            return fused_piecewise_gather(x, weight, *layout.basis, clamp=clamp)
    elif isinstance(layout, UniformBSpline) and bspline_contraction(layout, contraction, weight) == "gather":
        return fused_bspline_gather(x, weight, layout.n, layout.segments, clamp=clamp)
    return dense_sum_neuron(layout, x, weight, clamp=clamp)


def link_values(layout: Layout, x: Tensor, weight: Tensor, contraction: str, *, clamp: bool) -> Tensor:
    """Every link's value ``f_oi(x[b, i])``. Shape: ``(B, I)`` -> ``(B, O, I)``."""
    start, values = layout_values(layout, clamp_if(x, clamp))
    chosen = choose_contraction(layout.num_weights, layout.num_active, contraction)
    return (link_values_gather if chosen == "gather" else dense_link_values)(start, values, weight)


def product_neuron(layout: Layout, x: Tensor, weight: Tensor, alpha: float, contraction: str, *, clamp: bool) -> Tensor:
    """The product neuron ``-1 + prod_i (1 + f_oi(x_i)) - (1 - alpha) sum_i f_oi(x_i)``; the
    piecewise and linear operators form each link value where it is used.

    Shape:
        x: ``(B, I)``. weight: ``(O, I, num_weights)``. Output: ``(B, O)``.
    """
    if isinstance(layout, PiecewiseLagrange):
        return fused_piecewise_product(x, weight, *layout.basis, alpha, clamp=clamp)
    if isinstance(layout, LinearLinks):
        return fused_linear_product(x, weight, alpha, clamp=clamp)
    return product_of_links(link_values(layout, x, weight, contraction, clamp=clamp), alpha)


def conv(
    layout: Layout, x: Tensor, weight: Tensor, geometry: ConvGeometry, contraction: str, *, clamp: bool,
    bias: Tensor | None = None, divisor: float | None = None,
) -> Tensor:  # fmt: skip
    """A convolution (or transposed convolution) of link functions over the (padded) input:
    gathered (each link reads only its active weights) or dense (the expansion and one
    convolution), as :func:`conv_contraction` decides. ``divisor`` divides the output before
    ``bias`` is added.

    Shape:
        x: ``(B, C, *S)``. weight: ``(O, C / groups, M, *k)``, or ``(C, M, O / groups, *k)``
        transposed. Output: ``(B, O, *S_out)``.
    """
    if _gathers(layout):
        chosen = conv_contraction(
            layout.num_weights, layout.num_active, contraction, weight, input_shape=tuple(x.shape), basis=layout.basis,
            geometry=geometry,
        )  # fmt: skip
        if chosen == "gather":
            y = fused_piecewise_conv(x, weight, *layout.basis, clamp=clamp, **geometry._asdict())
            if divisor is not None:
                y = y / divisor
            return y if bias is None else y + bias.view(-1, *([1] * (x.dim() - 2)))
    return dense_conv(layout, x, weight, geometry, clamp=clamp, bias=bias, divisor=divisor)
