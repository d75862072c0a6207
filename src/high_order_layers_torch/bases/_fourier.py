"""Truncated Fourier series."""

from __future__ import annotations

import math
from typing import Unpack

import torch
from torch import Tensor

from .._signatures import FactoryKwargs, factory_defaults, spell_out
from .._validation import check_int, check_positive_float
from ..functional import fourier_frequencies
from ..kernels import Evaluated, FourierHarmonics, Layout, fused_fourier_values
from ._base import Basis, ConfigValue, FourierTerms, zero_derivative


class FourierBasis(Basis):
    """Truncated Fourier series with ``n`` frequencies: ``2 n + 1`` weights per link.

    ``f(x) = a_0 + sum_{k=1..n} a_k cos(k pi x / length) + b_k sin(k pi x / length)``, so the
    fundamental period is ``2 * length``. The default ``length = 2`` makes that period 4: the
    series need not take equal values at -1 and 1, so non-periodic targets fit without a jump.
    Weights are ordered ``[a_0, a_1..a_n, b_1..b_n]``.

    Args:
        n: number of frequencies (``>= 0``; ``n = 0`` is a constant).
        length: half the fundamental period (``> 0``).

    Attributes:
        frequencies: ``(n,)`` angular frequencies ``k pi / length`` (non-persistent buffer).
    """

    description = "a Fourier series"
    refinable = ("n",)
    fixed_settings = ("length",)
    frequencies: Tensor

    @spell_out(factory_defaults)
    def __init__(self, n: int, length: float = 2.0, **factory: Unpack[FactoryKwargs]) -> None:
        super().__init__()
        self.n = check_int("n", n, minimum=0)
        self.length = check_positive_float("length", length)
        self.num_weights = self.num_active = 2 * n + 1
        self._make_constants(**factory)

    def _make_constants(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        frequencies = fourier_frequencies(self.n, self.length, dtype=torch.float64)
        self.register_buffer(
            "frequencies", frequencies.to(device=device, dtype=dtype or torch.get_default_dtype()), persistent=False
        )

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        values = fused_fourier_values(x, math.pi / self.length, self.n)  # (B, I, 2 n + 1)
        return None, (zero_derivative(values, x.unsqueeze(-1)) if self.n == 0 else values)

    def settings(self) -> dict[str, ConfigValue]:
        return {"n": self.n, "length": self.length}

    def extra_repr(self) -> str:
        return f"n={self.n}, length={self.length}"

    def linear_coefficients(self) -> Tensor:
        coefficients = torch.zeros(self.num_weights, dtype=self.frequencies.dtype, device=self.frequencies.device)
        if self.n >= 1:
            # sin(pi x / length) is monotone on [-1, 1] when length >= 1; scale it to reach +-1.
            peak = 1.0 if self.length <= 2 else math.sin(math.pi / self.length)
            coefficients[self.n + 1] = 1.0 / peak
        return coefficients

    def constant_coefficients(self) -> Tensor:
        coefficients = torch.zeros(self.num_weights, dtype=self.frequencies.dtype, device=self.frequencies.device)
        coefficients[0] = 1.0
        return coefficients

    def exact_transfer(self, new: Basis) -> Tensor | None:
        """Keep every coefficient and add zero ones for the new frequencies; ``None`` unless
        ``new`` is a Fourier series of the same ``length`` with at least as many frequencies."""
        if not isinstance(new, FourierBasis) or new.n < self.n or new.length != self.length:
            return None
        transfer = torch.zeros(new.num_weights, self.num_weights, dtype=torch.float64)
        transfer[0, 0] = 1.0
        k = torch.arange(self.n)
        transfer[1 + k, 1 + k] = 1.0  # cosines
        transfer[1 + new.n + k, 1 + self.n + k] = 1.0  # sines
        return transfer

    def closed_form(self, weights: Tensor) -> FourierTerms:
        weights = weights.to(torch.float64)
        return FourierTerms(
            weights[0].item(), weights[1 : self.n + 1].clone(), weights[self.n + 1 :].clone(), self.length
        )

    def layout(self) -> Layout:
        if self.n == 0:  # a constant: the values of forward, which carry the input
            return Evaluated(self, self.num_weights, self.num_active)
        return FourierHarmonics(self.n, math.pi / self.length)
