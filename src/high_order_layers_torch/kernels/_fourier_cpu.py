"""The Fourier basis through the CPU kernel (``fourier_cpu.cpp``) and its autograd wrapper. Its
pure-torch twin is :func:`~high_order_layers_torch.functional.fourier_basis_harmonic`."""

from __future__ import annotations

import torch
from torch import Tensor

from ..functional import fourier_basis_harmonic
from ._build import cpu_kernels


class _FusedFourier(torch.autograd.Function):
    @staticmethod
    def forward(ctx, angle: Tensor, n: int) -> Tensor:  # type: ignore[override]
        cosine, sine = angle.cos(), angle.sin()
        ctx.save_for_backward(angle, cosine, sine)
        ctx.n = n
        return cpu_kernels().fourier_forward(cosine, sine, n)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        angle, cosine, sine = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: differentiate the pure-torch twin
            values = fourier_basis_harmonic(angle, 1.0, ctx.n)
            if not values.requires_grad:  # n = 0: a constant
                return torch.zeros_like(angle), None
            (grad_angle,) = torch.autograd.grad(values, angle, grad, create_graph=True)
            return grad_angle, None
        return cpu_kernels().fourier_backward(grad, cosine, sine, ctx.n), None


def fused_fourier_values(x: Tensor, fundamental: float, n: int) -> Tensor:
    """:func:`~high_order_layers_torch.functional.fourier_basis_harmonic` in one pass: ``cos`` and
    ``sin`` of the fundamental by ATen, the harmonics by the kernel's recurrence, written straight
    into the ``(*, 2 n + 1)`` result.

    Shape:
        x: any shape ``(*)``. Output: ``(*, 2 n + 1)``.
    """
    return _FusedFourier.apply((x * fundamental).contiguous(), n)
