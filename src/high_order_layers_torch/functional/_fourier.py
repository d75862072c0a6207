"""Truncated Fourier series."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._validation import check_int


def fourier_frequencies(
    n: int, length: float, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> Tensor:
    """Angular frequencies ``k * pi / length`` for ``k = 1..n``.

    Shape:
        Output: ``(n,)``.
    """
    check_int("n", n, minimum=0)
    k = torch.arange(1, n + 1, dtype=torch.float64)
    return (k * (math.pi / length)).to(dtype=dtype or torch.get_default_dtype(), device=device)


def fourier_basis(x: Tensor, frequencies: Tensor) -> Tensor:
    """The series basis ``[1, cos(w_1 x), ..., cos(w_n x), sin(w_1 x), ..., sin(w_n x)]``.

    With ``frequencies`` from :func:`fourier_frequencies` this is a series with ``n``
    frequencies, ``2 n + 1`` coefficients and fundamental period ``2 * length``.

    Shape:
        x: any shape. frequencies: ``(n,)``. Output: ``(*x.shape, 2 n + 1)``.
    """
    angle = x.unsqueeze(-1) * frequencies  # (..., n)
    return torch.cat([torch.ones_like(x).unsqueeze(-1), angle.cos(), angle.sin()], dim=-1)
