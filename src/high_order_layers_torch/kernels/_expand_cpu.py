"""The fused CPU expansion kernel (``expand_cpu.cpp``) for piecewise-polynomial convolutions,
and its autograd wrapper. Its pure-torch twin is
:func:`~high_order_layers_torch.functional.piecewise_expansion`."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..functional import chebyshev_expansion, chebyshev_lobatto_nodes, piecewise_expansion, piecewise_sizes
from ._build import cpu_kernels
from ._twin import twin_gradients


@functools.cache
def local_nodes(n: int) -> Tensor:
    """The ``n`` CGL nodes of a piece, in float64, as the kernels take them."""
    return chebyshev_lobatto_nodes(n, dtype=torch.float64)


class _FusedExpansion(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.basis = (n, segments, continuous, clamp)
        stride, num_weights = piecewise_sizes(n, segments, continuous)
        return cpu_kernels().expand_forward(x, local_nodes(n), segments, stride, num_weights, clamp)

    @staticmethod
    def backward(ctx, grad_dense: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        n, segments, continuous, clamp = ctx.basis
        if torch.is_grad_enabled():  # create_graph=True: differentiate the pure-torch twin
            dense = piecewise_expansion(x, n, segments, continuous, clamp=clamp)
            (grad_x,) = twin_gradients(dense, (x,), (True,), grad_dense)
        else:
            stride, num_weights = piecewise_sizes(n, segments, continuous)
            grad_x = cpu_kernels().expand_backward(grad_dense, x, local_nodes(n), segments, stride, num_weights, clamp)
        return grad_x, None, None, None, None


def fused_piecewise_expansion(x: Tensor, n: int, segments: int, continuous: bool, *, clamp: bool = False) -> Tensor:
    """:func:`~high_order_layers_torch.functional.piecewise_expansion` through the compiled
    kernel: one pass that writes the dense expansion, and a backward that reads only the active
    entries of its gradient.

    Shape:
        x: ``(B, C, P)``. Output: ``(B, C * M, P)``.
    """
    return _FusedExpansion.apply(x.contiguous(), n, segments, continuous, clamp)


class _FusedChebyshev(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, n: int, clamp: bool) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.basis = (n, clamp)
        return cpu_kernels().chebyshev_forward(x, n, clamp)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        n, clamp = ctx.basis
        if torch.is_grad_enabled():  # create_graph=True: differentiate the pure-torch twin
            (grad_x,) = twin_gradients(chebyshev_expansion(x, n, clamp=clamp), (x,), (True,), grad)
        else:
            grad_x = cpu_kernels().chebyshev_backward(grad, x, n, clamp)
        return grad_x, None, None


def fused_chebyshev_expansion(x: Tensor, n: int, *, clamp: bool = False) -> Tensor:
    """:func:`~high_order_layers_torch.functional.chebyshev_expansion` through the compiled
    kernel (``n >= 2``): one pass forward, one backward.

    Shape:
        x: ``(B, C, P)``. Output: ``(B, C * (n - 1), P)``.
    """
    return _FusedChebyshev.apply(x.contiguous(), n, clamp)
