"""The fused CPU gather kernel (``gather_cpu.cpp``) and its autograd wrapper.

Where the kernels cannot be built (see :mod:`._build`), the layers use the pure-torch gather
(``embedding_bag``), which gives the same results.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..functional import link_values_gather
from ._build import cpu_kernels, cpu_kernels_available, cpu_kernels_support


def fused_gather_available() -> bool:
    """Whether the compiled kernel can be used (builds it on the first call)."""
    return cpu_kernels_available()


def fused_gather_supports(weight: Tensor) -> bool:
    """The kernel handles float32/float64 CPU weights in eager mode (not under ``torch.compile``,
    which traces the pure-torch twin instead), and builds on the first call that needs it."""
    return cpu_kernels_support(weight)


class _FusedGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, start_ib: Tensor, values_ibk: Tensor, weight: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(start_ib, values_ibk, weight)
        return cpu_kernels().gather_forward(start_ib, values_ibk, weight)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        start_ib, values_ibk, weight = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True (higher derivatives, e.g. physics-informed losses): differentiate
            # the pure-torch twin, whose backward is itself differentiable.
            links = link_values_gather(start_ib.t(), values_ibk.transpose(0, 1), weight)  # (B, O, I)
            grad_values, grad_weight = torch.autograd.grad(
                links.sum(-1), (values_ibk, weight), grad_out, create_graph=True
            )
            return None, grad_values, grad_weight
        grad_values, grad_weight = cpu_kernels().gather_backward(grad_out, start_ib, values_ibk, weight)
        return None, grad_values, grad_weight


def fused_gather_sum(start: Tensor | None, values: Tensor, weight: Tensor) -> Tensor:
    """:func:`~high_order_layers_torch.functional.sum_neuron_gather` through the compiled kernel.

    Shape:
        start: ``(B, I)`` or ``None``. values: ``(B, I, K)``. weight: ``(O, I, M)``.
        Output: ``(B, O)``.
    """
    batch, inputs, _ = values.shape
    values = values.to(weight.dtype)
    if start is None:
        start = torch.zeros(batch, inputs, dtype=torch.long, device=values.device)
    start_ib = start.t().contiguous()  # (I, B)
    values_ibk = values.transpose(0, 1).contiguous()  # (I, B, K)
    return _FusedGather.apply(start_ib, values_ibk, weight.contiguous())
