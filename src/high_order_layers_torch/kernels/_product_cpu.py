"""The fused CPU kernel for product neurons (``product_cpu.cpp``): basis evaluation, link values
and the product in one pass that never forms the ``(B, O, I)`` link values, and its autograd
wrapper.

Its pure-torch twin is :func:`product_neuron_twin` (the basis values, then
:func:`~high_order_layers_torch.functional.link_values_gather` and
:func:`~high_order_layers_torch.functional.product_neuron`), used on other devices, under
``torch.compile``, for gradients of gradients and wherever the kernels cannot be built.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..functional import link_values_gather, piecewise_sizes, piecewise_values, product_neuron
from ._build import cpu_kernels
from ._expand_cpu import local_nodes
from ._twin import twin_gradients

#: ``(n, segments, continuous)`` of a piecewise basis, or ``None`` for the linear basis ``f = w x``.
_Basis = tuple[int, int, bool] | None


def product_neuron_twin(x: Tensor, weight: Tensor, basis: _Basis, alpha: float, *, clamp: bool = False) -> Tensor:
    """The product neuron in pure torch, as the layers compute it without the kernel.

    Shape:
        x: ``(B, I)``. weight: ``(O, I, M)``. Output: ``(B, O)``.
    """
    if basis is None:
        start, values = None, (x.clamp(-1, 1) if clamp else x).unsqueeze(-1)  # (B, I, 1)
    else:
        start, values = piecewise_values(x, *basis, clamp=clamp)  # (B, I), (B, I, n)
    return product_neuron(link_values_gather(start, values, weight), alpha)


class _FusedProductNeuron(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_ib: Tensor, slabs: Tensor, basis: _Basis, alpha: float, clamp: bool) -> Tensor:  # type: ignore[override]
        y, rest, zeros = cpu_kernels().product_forward(x_ib, slabs, *_kernel_basis(basis), alpha, clamp)
        ctx.save_for_backward(x_ib, slabs, rest, zeros)
        ctx.layer = (basis, alpha, clamp)
        return y

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x_ib, slabs, rest, zeros = ctx.saved_tensors
        basis, alpha, clamp = ctx.layer
        if torch.is_grad_enabled():  # create_graph=True: differentiate the pure-torch twin
            y = product_neuron_twin(x_ib.t(), slabs.permute(2, 0, 1), basis, alpha, clamp=clamp)  # (B, O)
            return *twin_gradients(y, (x_ib, slabs), ctx.needs_input_grad[:2], grad_y), None, None, None
        grad_x, grad_slabs = cpu_kernels().product_backward(
            grad_y, x_ib, slabs, rest, zeros, *_kernel_basis(basis), alpha, clamp
        )
        return grad_x, grad_slabs, None, None, None


def _kernel_basis(basis: _Basis) -> tuple[Tensor, int, int, bool]:
    """``(nodes, segments, stride, linear)`` as the kernel takes them."""
    if basis is None:
        return local_nodes(1), 1, 0, True
    n, segments, continuous = basis
    stride, _ = piecewise_sizes(n, segments, continuous)
    return local_nodes(n), segments, stride, False


def _fused(x: Tensor, weight: Tensor, basis: _Basis, alpha: float, clamp: bool) -> Tensor:
    x_ib = x.to(weight.dtype).t().contiguous()  # (I, B): one input's batch is contiguous
    slabs = weight.permute(1, 2, 0).contiguous()  # (I, M, O): free for a slab-major weight
    return _FusedProductNeuron.apply(x_ib, slabs, basis, float(alpha), clamp)


def fused_piecewise_product(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, alpha: float = 1.0, *, clamp: bool = False
) -> Tensor:
    """The product neuron of a piecewise-polynomial layer through the compiled kernel:
    ``y[b, o] = -1 + prod_i (1 + f_oi(x_bi)) - (1 - alpha) * sum_i f_oi(x_bi)`` with the link
    values ``f_oi`` formed where they are used, never stored.

    Equal to :func:`product_neuron_twin` with ``basis = (n, segments, continuous)``. The kernel
    reads the weight as one ``(M, O)`` slab per input: a weight stored that way
    (:func:`~high_order_layers_torch.kernels.slab_major_weight`) is used as it is, any other
    layout is copied first. With ``clamp`` the inputs are first limited to ``[-1, 1]``.

    Shape:
        x: ``(B, I)``. weight: ``(O, I, M)``. Output: ``(B, O)``.
    """
    return _fused(x, weight, (n, segments, continuous), alpha, clamp)


def fused_linear_product(x: Tensor, weight: Tensor, alpha: float = 1.0, *, clamp: bool = False) -> Tensor:
    """:func:`fused_piecewise_product` for the linear links ``f_oi(x) = weight[o, i, 0] * x``
    (the :class:`~high_order_layers_torch.layers.Product` layer). Equal to
    :func:`product_neuron_twin` with ``basis = None``.

    Shape:
        x: ``(B, I)``. weight: ``(O, I, 1)``. Output: ``(B, O)``.
    """
    return _fused(x, weight, None, alpha, clamp)
