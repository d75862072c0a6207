"""The single basis function ``x``: a link is an ordinary weight."""

from __future__ import annotations

import torch
from torch import Tensor

from ..kernels import Layout, LinearLinks
from ._base import Basis, ConfigValue, PolynomialPieces


class LinearBasis(Basis):
    """The single basis function ``x``: a link is ``f(x) = w x``, as in an ordinary weight."""

    num_weights = 1
    num_active = 1
    n = 1
    description = "a plain weight"
    holds_constants = False

    def __init__(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()  # no constants to place: device and dtype are accepted for replace()

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        return None, x.unsqueeze(-1)

    def settings(self) -> dict[str, ConfigValue]:
        return {}

    def linear_coefficients(self) -> Tensor:
        return torch.ones(1)

    def constant_coefficients(self) -> Tensor:
        return torch.ones(1)  # no constant in this family: the constant schemes set the slope

    def exact_transfer(self, new: Basis) -> Tensor | None:
        return torch.ones(1, 1, dtype=torch.float64) if isinstance(new, LinearBasis) else None

    def closed_form(self, weights: Tensor) -> PolynomialPieces:
        local = torch.cat([weights.new_zeros(1), weights]).to(torch.float64).reshape(1, 2)  # 0 + w x
        return PolynomialPieces(self.joints(), local)

    def layout(self) -> Layout:
        return LinearLinks()
