"""Uniform B-splines, the links of KAN: smooth piecewise polynomials stored by their B-spline
coefficients."""

from __future__ import annotations

from typing import Unpack

import torch
from torch import Tensor

from .._signatures import FactoryKwargs, factory_defaults, spell_out
from .._validation import check_int
from ..functional import (
    bspline_greville_abscissae,
    bspline_monomial_matrix,
    bspline_spaces_nested,
    bspline_transfer_matrix,
    bspline_values,
)
from ..kernels import Layout, UniformBSpline
from ._base import Basis, ConfigValue, PolynomialPieces


class BSplineBasis(Basis):
    """B-splines of order ``n`` (degree ``n - 1``) on ``segments`` equal intervals of ``[-1, 1]``:
    a link is a spline, ``n - 2`` times continuously differentiable at the joints, stored by its
    B-spline coefficients (not its values at points).

    The knots are uniform and extended past both ends (``-1 + k h`` for
    ``k = -(n - 1) .. segments + n - 1``, ``h = 2 / segments``), not clamped, so every B-spline is
    a translate of one cardinal B-spline and each interval sees ``n`` of them: a link has
    ``segments + n - 1`` weights, of which ``n`` are active for any input (see
    :func:`~high_order_layers_torch.functional.bspline_values`). Outside ``[-1, 1]`` (with
    ``out_of_range="extrapolate"``) the end intervals' polynomials continue.

    Refinement is exact for knot insertion (the same ``n``, ``segments`` multiplied: KAN's grid
    extension) and for raising the order of a single polynomial (``segments = 1``); any other
    change is a least-squares projection.

    Args:
        n: order of the splines (``>= 2``: piecewise linear hats at 2, cubic splines at 4).
        segments: number of intervals (``>= 1``).

    Raises:
        ValueError: for ``n < 2`` or ``segments < 1``; ``TypeError`` for a non-int.

    Example:
        >>> basis = BSplineBasis(4, segments=3)
        >>> start, values = basis(torch.rand(8, 2) * 2 - 1)  # (8, 2) int64, (8, 2, 4)
        >>> basis.num_weights, basis.num_active
        (6, 4)
    """

    description = "a B-spline"
    refinable = ("n", "segments")
    anchor: Tensor

    @spell_out(factory_defaults)
    def __init__(self, n: int, segments: int = 1, **factory: Unpack[FactoryKwargs]) -> None:
        super().__init__()
        self.n = check_int("n", n, minimum=2)
        self.segments = check_int("segments", segments, minimum=1)
        self.num_weights = self.segments + self.n - 1
        self.num_active = self.n
        self._make_constants(**factory)

    def _make_constants(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        # The values need no constants: an empty buffer keeps the basis' device and dtype.
        self.register_buffer(
            "anchor", torch.empty(0, device=device, dtype=dtype or torch.get_default_dtype()), persistent=False
        )

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        start, values = bspline_values(x, self.n, self.segments)  # (B, I), (B, I, n)
        return (None if self.segments == 1 else start), values  # one interval: every weight active

    def settings(self) -> dict[str, ConfigValue]:
        return {"n": self.n, "segments": self.segments}

    def extra_repr(self) -> str:
        return f"n={self.n}, segments={self.segments}"

    def linear_coefficients(self) -> Tensor:
        """The Greville abscissae, with which the spline is exactly ``f(x) = x``."""
        return bspline_greville_abscissae(self.n, self.segments).to(device=self.anchor.device, dtype=self.anchor.dtype)

    def constant_coefficients(self) -> Tensor:
        return torch.ones(self.num_weights, dtype=self.anchor.dtype, device=self.anchor.device)

    def exact_transfer(self, new: Basis) -> Tensor | None:
        """The coefficients of the same spline in ``new`` (knot insertion or degree elevation,
        see :func:`~high_order_layers_torch.functional.bspline_transfer_matrix`); ``None``
        unless ``new`` is a B-spline basis whose space contains this one."""
        if not isinstance(new, BSplineBasis) or not bspline_spaces_nested(self.n, self.segments, new.n, new.segments):
            return None
        return bspline_transfer_matrix(self.n, self.segments, new.n, new.segments)

    def closed_form(self, weights: Tensor) -> PolynomialPieces:
        # The n coefficients active on each interval, times the one matrix of the cardinal pieces.
        pieces = weights.to(torch.float64).unfold(0, self.n, 1)  # (segments, n)
        return PolynomialPieces(self.joints(), pieces @ bspline_monomial_matrix(self.n))

    # ----------------------------------------------------------------------------------------
    def layout(self) -> Layout:
        return UniformBSpline(self.n, self.segments)  # the C++ B-spline gather where it runs
