"""Chebyshev series ``sum_k w_k T_k(x)``, the links of ChebyKAN.

This family was added as one file plus one line in ``bases/__init__.py``; docs/architecture.md
walks through it as the example of a new family.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import check_int
from ..functional import chebyshev_polynomials
from ..kernels import ChebyshevSeries, Evaluated, Layout
from ._base import Basis, ConfigValue, PolynomialPieces, zero_derivative


def chebyshev_monomial_matrix(n: int) -> Tensor:
    """Ascending monomial coefficients of ``T_0 .. T_{n-1}`` (row ``k`` is ``T_k``), float64.

    Shape:
        Output: ``(n, n)``.
    """
    rows = torch.zeros(n, n, dtype=torch.float64)
    rows[0, 0] = 1.0
    if n > 1:
        rows[1, 1] = 1.0
    for k in range(2, n):  # T_k = 2 x T_{k-1} - T_{k-2}
        rows[k, 1:] = 2 * rows[k - 1, :-1]
        rows[k] -= rows[k - 2]
    return rows


class ChebyshevBasis(Basis):
    """Chebyshev polynomials ``T_0 .. T_{n-1}`` of the input: a link is one polynomial of
    degree ``n - 1`` stored by its Chebyshev coefficients, ``f(x) = sum_k w_k T_k(x)``.

    Every weight is active for every input (``num_weights = num_active = n``), as for
    ``segments=1`` of :class:`PiecewisePolynomialBasis`, which spans the same polynomials; the
    weights are coefficients rather than values at nodes, so they do not interpolate. The sum
    neuron expands ``T_1 .. T_{n-1}`` with the fused Chebyshev kernel and sums the ``T_0``
    coefficients into a bias (its layout, :class:`~high_order_layers_torch.kernels.ChebyshevSeries`).

    Args:
        n: number of polynomials (``>= 1``; ``n = 1`` is a constant).
    """

    description = "a Chebyshev series"
    refinable = ("n",)
    anchor: Tensor

    def __init__(self, n: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.n = check_int("n", n, minimum=1)
        self.num_weights = self.num_active = self.n
        self._make_constants(device=device, dtype=dtype)

    def _make_constants(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        # No constants: an empty buffer keeps the basis' device and dtype for replace().
        self.register_buffer("anchor", torch.empty(0, device=device, dtype=dtype), persistent=False)

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        values = chebyshev_polynomials(x, self.n)  # (B, I, n)
        return None, (zero_derivative(values, x.unsqueeze(-1)) if self.n == 1 else values)

    def settings(self) -> dict[str, ConfigValue]:
        return {"n": self.n}

    def extra_repr(self) -> str:
        return f"n={self.n}"

    def linear_coefficients(self) -> Tensor:
        coefficients = self.anchor.new_zeros(self.num_weights)
        if self.n >= 2:
            coefficients[1] = 1.0  # T_1(x) = x
        return coefficients

    def constant_coefficients(self) -> Tensor:
        coefficients = self.anchor.new_zeros(self.num_weights)
        coefficients[0] = 1.0
        return coefficients

    def exact_transfer(self, new: Basis) -> Tensor | None:
        """Zero coefficients for the new polynomials; ``None`` unless ``new`` is a Chebyshev
        series of at least this degree."""
        if not isinstance(new, ChebyshevBasis) or new.n < self.n:
            return None
        return torch.eye(new.n, self.n, dtype=torch.float64)

    def closed_form(self, weights: Tensor) -> PolynomialPieces:
        local = weights.to(torch.float64)[None, :] @ chebyshev_monomial_matrix(self.n)  # one piece, t = x
        return PolynomialPieces(self.joints(), local)

    def layout(self) -> Layout:
        if self.n == 1:  # a constant: the values of forward, which carry the input
            return Evaluated(self, self.num_weights, self.num_active)
        return ChebyshevSeries(self.n)
