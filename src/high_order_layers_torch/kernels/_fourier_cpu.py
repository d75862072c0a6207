"""The Fourier basis through the CPU kernel (``fourier_cpu.cpp``) and its autograd wrapper. Its
pure-torch twin is :func:`~high_order_layers_torch.functional.fourier_basis_harmonic`."""

from __future__ import annotations

import torch
from torch import Tensor

from ..functional import fourier_basis_harmonic
from ._build import cpu_kernels
from ._twin import twin_gradients


def _twin(angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:
    """The pure-torch values in the kernel's layout (used for gradients of gradients)."""
    values = fourier_basis_harmonic(angle, 1.0, n)
    if not constant:
        values = values[..., 1:]
    return values.movedim(-1, 1) if rows else values


class _FusedFourier(torch.autograd.Function):
    @staticmethod
    def forward(ctx, angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:  # type: ignore[override]
        cosine, sine = angle.cos(), angle.sin()
        ctx.save_for_backward(angle, cosine, sine)
        ctx.layout = (n, rows, constant)
        return cpu_kernels().fourier_forward(cosine, sine, n, rows, constant)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        angle, cosine, sine = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: differentiate the pure-torch twin
            return *twin_gradients(_twin(angle, *ctx.layout), (angle,), (True,), grad), None, None, None
        return cpu_kernels().fourier_backward(grad, cosine, sine, *ctx.layout), None, None, None


def fused_fourier_values(x: Tensor, fundamental: float, n: int, *, rows: bool = False, constant: bool = True) -> Tensor:
    """:func:`~high_order_layers_torch.functional.fourier_basis_harmonic` in one pass: ``cos`` and
    ``sin`` of the fundamental by ATen, the harmonics by the kernel's recurrence, written straight
    into the result.

    Args:
        rows: lay the values of a ``(B, I)`` input out as ``(B, W, I)`` (value ``j`` of input ``i``
            at ``[:, j, i]``), the layout of a GEMM over basis function, then input.
        constant: include the leading ``1`` (``W = 2 n + 1``); without it ``W = 2 n`` (``n >= 1``).

    Shape:
        x: any shape ``(*)``, or ``(B, I)`` with ``rows``. Output: ``(*, W)``, or ``(B, W, I)``.
    """
    if rows and x.dim() != 2:
        raise ValueError(f"rows=True takes a (B, I) input, got shape {tuple(x.shape)}")
    if not constant and n < 1:
        raise ValueError(f"constant=False needs n >= 1, got n={n}")
    return _FusedFourier.apply((x * fundamental).contiguous(), n, rows, constant)


def basis_major_weight(weight: Tensor) -> Tensor:
    """``weight`` ``(O, I, M)`` with the same values, stored as ``(O, M, I)``: the layout whose
    ``(O, (M - 1) * I)`` block of non-constant terms is a view, lining up with the ``rows`` values
    of :func:`fused_fourier_values` for one GEMM without copies."""
    return weight.transpose(1, 2).contiguous().transpose(1, 2)
