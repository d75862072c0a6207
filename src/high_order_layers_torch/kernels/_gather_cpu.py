"""The fused CPU kernel for piecewise sum neurons (``gather_cpu.cpp``): basis evaluation and
gather contraction in one pass, and its autograd wrapper.

Where the kernels cannot be built (see :mod:`._build`), the layers evaluate the basis in torch
and gather with ``embedding_bag``, which gives the same results.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..functional import link_values_gather, piecewise_sizes, piecewise_values
from ._build import cpu_kernels
from ._expand_cpu import local_nodes
from ._twin import twin_gradients


def piecewise_gather_twin(x_ib: Tensor, slabs: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    """The gather kernels' result in pure torch, from their own ``(I, B)`` input and
    ``(I, M, O)`` slabs. Output: ``(B, O)``."""
    start, values = piecewise_values(x_ib.t(), n, segments, continuous, clamp=clamp)  # (B, I), (B, I, K)
    return link_values_gather(start, values, slabs.permute(2, 0, 1)).sum(-1)


class _FusedPiecewiseGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_ib: Tensor, slabs: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x_ib, slabs)
        ctx.basis = (n, segments, continuous, clamp)
        stride, _ = piecewise_sizes(n, segments, continuous)
        return cpu_kernels().gather_forward(x_ib, slabs, local_nodes(n), segments, stride, clamp)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        x_ib, slabs = ctx.saved_tensors
        n, segments, continuous, clamp = ctx.basis
        if torch.is_grad_enabled():  # create_graph=True: differentiate the pure-torch twin
            y = piecewise_gather_twin(x_ib, slabs, n, segments, continuous, clamp)
            return *twin_gradients(y, (x_ib, slabs), ctx.needs_input_grad[:2], grad_out), None, None, None, None
        stride, _ = piecewise_sizes(n, segments, continuous)
        need_x = ctx.needs_input_grad[0]  # not for a first layer: its input needs no gradient
        grad_x, grad_slabs = cpu_kernels().gather_backward(
            grad_out, x_ib, slabs, local_nodes(n), segments, stride, clamp, need_x
        )
        return (grad_x if need_x else None), grad_slabs, None, None, None, None


def fused_piecewise_gather(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, *, clamp: bool = False
) -> Tensor:
    """The sum neuron of a piecewise-polynomial layer through the compiled kernel: the basis is
    evaluated inside the contraction, and only the ``n`` active weights of each link are read.

    Equal to :func:`~high_order_layers_torch.functional.sum_neuron` on
    :func:`~high_order_layers_torch.functional.piecewise_values` of ``x``. The kernel reads the
    weight as one ``(M, O)`` slab per input: a weight stored that way
    (:func:`slab_major_weight`) is used as it is, any other layout is copied first.

    Shape:
        x: ``(B, I)``. weight: ``(O, I, M)``. Output: ``(B, O)``.
    """
    x_ib = x.to(weight.dtype).t().contiguous()  # (I, B): one input's batch is contiguous
    slabs = weight.permute(1, 2, 0).contiguous()  # (I, M, O): free for a slab-major weight
    return _FusedPiecewiseGather.apply(x_ib, slabs, n, segments, continuous, clamp)


def slab_major_weight(weight: Tensor) -> Tensor:
    """``weight`` ``(O, I, M)`` with the same values, stored as ``(I, M, O)``: the layout the
    fused kernel reads (and writes the gradient in) without copying."""
    return weight.permute(1, 2, 0).contiguous().permute(2, 0, 1)
