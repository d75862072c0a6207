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


def fourier_basis_harmonic(x: Tensor, fundamental: float, n: int) -> Tensor:
    """:func:`fourier_basis` for the harmonics ``w_k = k * fundamental``, ``k = 1..n``.

    Only ``cos`` and ``sin`` of the fundamental are evaluated; the higher harmonics follow from
    ``c_{k+1} = 2 c_1 c_k - c_{k-1}`` and ``s_{k+1} = 2 c_1 s_k - s_{k-1}`` (the Chebyshev
    recurrence, stable because ``|c_1| <= 1``), which is cheaper than ``2 n`` transcendental
    evaluations and agrees with them to a few ulps per harmonic.

    Shape:
        x: any shape. Output: ``(*x.shape, 2 n + 1)``.
    """
    ones = torch.ones_like(x)
    if n == 0:
        return ones.unsqueeze(-1)
    angle = x * fundamental
    cosines, sines = [angle.cos()], [angle.sin()]
    twice_cos = cosines[0] + cosines[0]
    previous_cos, previous_sin = ones, torch.zeros_like(x)
    for _ in range(1, n):
        cosines.append(twice_cos * cosines[-1] - previous_cos)
        sines.append(twice_cos * sines[-1] - previous_sin)
        previous_cos, previous_sin = cosines[-2], sines[-2]
    return torch.stack([ones, *cosines, *sines], dim=-1)
