"""The accelerated computations with the argument conventions of the layers: one function per
operator of :mod:`._ops`.

Each operator's entry point runs its kernel where one is registered for the tensors' device
(C++ on the CPU, Triton on CUDA for the gather), else the pure-torch reference as plain torch
operations, which ``torch.compile`` can fuse with its neighbours (an opaque operator would hide
them). The gather goes through its operator everywhere: its lean default (``embedding_bag``) has
no second derivative, the operator's autograd does. Either way the result is the same to
round-off and ``torch.compile``, ``torch.func`` and ``create_graph=True`` work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..functional import convolution_output_size, convolution_taps
from . import _ops
from ._switches import has_kernel


def fused_piecewise_gather(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, *, clamp: bool = False
) -> Tensor:
    """The sum neuron of piecewise Lagrange links, reading only the ``n`` active weights of
    each link: ``y[b, o] = sum_i f_oi(x[b, i])``. With ``clamp`` the inputs are first limited to
    ``[-1, 1]``.

    Equal to :func:`~high_order_layers_torch.functional.sum_neuron` on
    :func:`~high_order_layers_torch.functional.piecewise_values` of ``x``; the cost is
    ``B * I * n * O`` whatever ``segments`` is.

    Shape:
        x: ``(B, I)``. weight: ``(O, I, M)``. Output: ``(B, O)``.
    """
    return _ops.piecewise_gather.apply(x.to(weight.dtype), weight, n, segments, continuous, clamp)


def fused_bspline_gather(x: Tensor, weight: Tensor, n: int, segments: int, *, clamp: bool = False) -> Tensor:
    """The sum neuron of uniform B-spline links of order ``n`` on ``segments`` pieces, reading
    only the ``n`` active weights of each link: ``y[b, o] = sum_i f_oi(x[b, i])`` (``clamp``: limit
    ``x`` to ``[-1, 1]`` first).

    Equal to :func:`~high_order_layers_torch.functional.sum_neuron` on
    :func:`~high_order_layers_torch.functional.bspline_values` of ``x``; the cost is
    ``B * I * n * O`` whatever ``segments`` is.

    Shape:
        x: ``(B, I)``. weight: ``(O, I, segments + n - 1)``. Output: ``(B, O)``.
    """
    return _ops.bspline_gather.apply(x.to(weight.dtype), weight, n, segments, clamp)


def fused_piecewise_conv(
    x: Tensor,
    weight: Tensor,
    n: int,
    segments: int,
    continuous: bool,
    *,
    clamp: bool = False,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool = False,
    output_padding: Sequence[int] | None = None,
    groups: int = 1,
) -> Tensor:
    """A convolution (or, with ``transposed``, a transposed convolution) of piecewise Lagrange
    links reading only the ``n`` active weights of each link: equal to ``aten.convolution`` of the
    dense channels-first expansion with the weight flattened over its basis axis, for the same
    ``stride``, ``padding`` (zero padding of the expansion), ``dilation``, ``output_padding`` and
    ``groups``; the cost is that of a plain convolution over ``C * n`` channels whatever
    ``segments`` is. With ``clamp`` the inputs are first limited to ``[-1, 1]``.

    Shape:
        x: ``(B, C, *S)``. weight: ``(O, C / groups, M, *k)``, or ``(C, M, O / groups, *k)`` with
        ``transposed``. Output: ``(B, O, *S_out)`` as :func:`torch.nn.functional.conv2d` (etc.).
    """
    extra = [0] * len(stride) if output_padding is None else list(output_padding)
    args = (n, segments, continuous, clamp, list(stride), list(padding), list(dilation), transposed, extra, groups)
    x = x.to(weight.dtype)
    device_type, dtype = weight.device.type, weight.dtype
    if not has_kernel("piecewise_conv_gather", device_type, dtype) and has_kernel(
        "piecewise_gather", device_type, dtype
    ):
        return conv_gather_by_links(x, weight, *args)  # Triton on CUDA: the fully-connected gather kernel
    return _ops.piecewise_conv_gather.apply(x, weight, *args)


def conv_gather_by_links(x: Tensor, weight: Tensor, *params: Any) -> Tensor:
    """:func:`fused_piecewise_conv` through the fully-connected gather (the devices with a gather
    kernel but no convolution kernel: Triton on CUDA). Every input position is a sample of the
    fully-connected layer whose links are the group's channels and whose outputs are the
    (output channel, kernel tap) pairs: ``v[b, p, o, j] = sum_c f_{o,c,j}(x[b, c, p])``; each output
    position then sums ``v`` over the taps that read it, ``y[b, o, r] = sum_j v[b, taps[r, j], o, j]``
    (unread taps add nothing). The multiply-adds are those of the convolution over ``C * n``
    channels; ``v`` takes ``prod(kernel)`` times the memory of an output.

    ``params`` are the operator's, ``(n, segments, continuous, clamp, stride, padding, dilation,
    transposed, output_padding, groups)``.

    Shape:
        as :func:`fused_piecewise_conv`.
    """
    n, segments, continuous, clamp, stride, padding, dilation, transposed, output_padding, groups = params
    batch, channels, *spatial = x.shape
    kernel = tuple(weight.shape[3:])
    taps_count, positions = math.prod(kernel), math.prod(spatial)
    group_channels = channels // groups
    if transposed:  # (C, M, Og, *k) -> (G, Og * J, Cg, M)
        num_weights, group_outputs = weight.shape[1:3]
        grouped = weight.reshape(groups, group_channels, num_weights, group_outputs, taps_count).permute(0, 3, 4, 1, 2)
    else:  # (O, Cg, M, *k) -> (G, Og * J, Cg, M)
        group_outputs, num_weights = weight.shape[0] // groups, weight.shape[2]
        grouped = weight.reshape(groups, group_outputs, group_channels, num_weights, taps_count).permute(0, 1, 4, 2, 3)
    links = grouped.reshape(groups, group_outputs * taps_count, group_channels, num_weights)
    samples = x.reshape(batch, groups, group_channels, positions).permute(1, 0, 3, 2)  # (G, B, P, Cg)
    values = torch.stack(
        [
            fused_piecewise_gather(
                samples[g].reshape(batch * positions, group_channels), links[g], n, segments, continuous, clamp=clamp
            )  # fmt: skip
            for g in range(groups)
        ]
    )  # (G, B * P, Og * J)
    values = values.view(groups, batch, positions, group_outputs, taps_count).permute(0, 1, 4, 2, 3)  # (G, B, J, P, Og)
    taps = convolution_taps(spatial, kernel, stride, padding, dilation, transposed, output_padding).to(x.device)
    read = values[
        :, :, torch.arange(taps_count, device=x.device).unsqueeze(1), taps.t().clamp(min=0)
    ]  # (G, B, J, R, Og)
    read = read * (taps.t() >= 0).unsqueeze(-1).to(read.dtype)
    size = convolution_output_size(spatial, kernel, stride, padding, dilation, transposed, output_padding)
    y = read.sum(2).permute(1, 0, 3, 2)  # (B, G, Og, R)
    return y.reshape(batch, groups * group_outputs, *size)


#: The gather on CUDA tensors: the same operator, whose CUDA kernel is Triton's.
triton_piecewise_gather = fused_piecewise_gather


def fused_piecewise_product(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, alpha: float = 1.0, *, clamp: bool = False
) -> Tensor:
    """The product neuron of piecewise Lagrange links,
    ``y[b, o] = -1 + prod_i (1 + f_oi(x_bi)) - (1 - alpha) * sum_i f_oi(x_bi)``; the CPU kernel
    forms each link value where it is used, never the ``(B, O, I)`` tensor of all of them. With
    ``clamp`` the inputs are first limited to ``[-1, 1]``.

    Shape:
        x: ``(B, I)``. weight: ``(O, I, M)``. Output: ``(B, O)``.
    """
    return _product(x.to(weight.dtype), weight, n, segments, continuous, False, float(alpha), clamp)


def fused_linear_product(x: Tensor, weight: Tensor, alpha: float = 1.0, *, clamp: bool = False) -> Tensor:
    """:func:`fused_piecewise_product` for the linear links ``f_oi(x) = weight[o, i, 0] * x``
    (the :class:`~high_order_layers_torch.layers.Product` layer).

    Shape:
        x: ``(B, I)``. weight: ``(O, I, 1)``. Output: ``(B, O)``.
    """
    return _product(x.to(weight.dtype), weight, 1, 1, True, True, float(alpha), clamp)


def _product(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, linear: bool, alpha: float, clamp: bool
) -> Tensor:
    return _ops.piecewise_product.apply(x, weight, n, segments, continuous, linear, alpha, clamp)


def product_neuron_twin(
    x: Tensor, weight: Tensor, basis: tuple[int, int, bool] | None, alpha: float, *, clamp: bool = False
) -> Tensor:
    """The product neuron in pure torch (the reference of :func:`fused_piecewise_product`, and of
    :func:`fused_linear_product` with ``basis = None``).

    Shape:
        x: ``(B, I)``. weight: ``(O, I, M)``. Output: ``(B, O)``.
    """
    n, segments, continuous = basis if basis is not None else (1, 1, True)
    return _ops.product_reference(x, weight, n, segments, continuous, basis is None, float(alpha), clamp)


def fused_piecewise_expansion(x: Tensor, n: int, segments: int, continuous: bool, *, clamp: bool = False) -> Tensor:
    """:func:`~high_order_layers_torch.functional.piecewise_expansion`: the dense channels-first
    expansion, whose CPU kernel writes it in one pass and reads only the active entries of its
    gradient.

    Shape:
        x: ``(B, C, P)``. Output: ``(B, C * M, P)``.
    """
    return _ops.piecewise_expansion.apply(x, n, segments, continuous, clamp)


def fused_chebyshev_expansion(x: Tensor, n: int, *, clamp: bool = False) -> Tensor:
    """:func:`~high_order_layers_torch.functional.chebyshev_expansion`: ``T_1 .. T_{n-1}`` of
    every channel (``n >= 2``).

    Shape:
        x: ``(B, C, P)``. Output: ``(B, C * (n - 1), P)``.
    """
    return _ops.chebyshev_expansion.apply(x, n, clamp)


def fused_fourier_values(x: Tensor, fundamental: float, n: int, *, rows: bool = False, constant: bool = True) -> Tensor:
    """:func:`~high_order_layers_torch.functional.fourier_basis_harmonic` in one pass: ``cos`` and
    ``sin`` of the fundamental, then the harmonics by recurrence, written into the result.

    Args:
        rows: lay the values of a ``(B, I)`` input out as ``(B, W, I)`` (value ``j`` of input ``i``
            at ``[:, j, i]``), the layout of a GEMM over basis function, then input.
        constant: include the leading ``1`` (``W = 2 n + 1``); without it ``W = 2 n`` (``n >= 1``).

    Shape:
        x: any shape ``(*)``, or ``(B, I)`` with ``rows``. Output: ``(*, W)``, or ``(B, W, I)``.

    Raises:
        ValueError: ``rows`` with an input that is not 2-d, or ``constant=False`` with ``n = 0``.
    """
    if rows and x.dim() != 2:
        raise ValueError(f"rows=True takes a (B, I) input, got shape {tuple(x.shape)}")
    if not constant and n < 1:
        raise ValueError(f"constant=False needs n >= 1, got n={n}")
    return _ops.fourier_values.apply(x * fundamental, n, rows, constant)
