"""Exact closed forms of single links: piecewise monomial coefficients and Fourier series."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .._validation import check_choice, check_int, check_positive_float
from ..bases import FourierTerms
from ..functional import prepare_input
from ..layers._protocol import basis_of
from ._links import check_high_order, check_materialised, link_weights

Coordinate = Literal["local", "centered", "global"]
#: The valid ``coordinate`` names of :func:`export_link`.
COORDINATES: tuple[str, ...] = ("local", "centered", "global")


def _sympy_and_symbol(x: Any) -> tuple[Any, Any]:
    """The sympy module and ``x``, or a real symbol ``x`` when it is ``None``."""
    try:
        import sympy
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("to_sympy needs sympy: pip install sympy") from error
    return sympy, sympy.Symbol("x", real=True) if x is None else x


def _policy_note(out_of_range: str, periodicity: float | None) -> str:
    fold = "" if periodicity is None else f"x mirror-folded at +-{periodicity / 2:g}, then "
    return f"{fold}out_of_range={out_of_range!r}"


def _format_term(coefficient: float, factor: str, precision: int, first: bool) -> str:
    text = f"{abs(coefficient):.{precision}g}" + (f"*{factor}" if factor else "")
    if first:
        return text if coefficient >= 0 else f"-{text}"
    return f" + {text}" if coefficient >= 0 else f" - {text}"


@dataclass(frozen=True, eq=False)
class PiecewisePolynomialExport:
    """A link function as one polynomial per piece, in monomial form (ascending powers).

    Piece ``p`` covers ``[edges[p], edges[p + 1]]`` (equal pieces; a value on an inner edge
    belongs to the right-hand piece, as in the layer). Piece ``p`` is
    ``sum_j coefficients[p, j] * v**j`` where the variable ``v`` depends on ``coordinate``:

    * ``"local"``: ``v = t = 2 (x - edges[p]) / (edges[p + 1] - edges[p]) - 1``, the piece's own
      coordinate in ``[-1, 1]`` (the layer's native form; coefficients of order ``max|f|``).
    * ``"centered"``: ``v = x - centers[p]``: Taylor coefficients ``f^(j)(c_p) / j!`` about the
      piece's midpoint, in units of the input ``x``.
    * ``"global"``: ``v = x``: plain powers of the input.

    All three are exact algebra, and the first two evaluate to round-off. The global form is
    ill-conditioned with many pieces: its coefficients grow like ``(2 * segments) ** (n - 1)`` and
    cancel, so in float64 it loses about ``log10((2 * segments) ** (n - 1))`` digits (for ``n = 8``
    and 16 pieces, ~1e-5 absolute error). Prefer ``"local"`` or ``"centered"`` for numbers and
    ``"global"`` for reading off a formula with few pieces.

    Before the pieces, inputs pass the layer's own transform: the mirror fold ``periodicity``
    (if not ``None``) and the ``out_of_range`` policy (``"clamp"``: constant beyond the ends,
    ``"extrapolate"``: the end pieces continue, ``"mirror"``: reflected at +-1, ``"error"``:
    raises), so :meth:`evaluate` reproduces the layer's link for every real input.

    Attributes:
        edges: ``(segments + 1,)`` float64 piece boundaries, ``-1`` to ``1``.
        coefficients: ``(segments, n)`` float64 monomial coefficients, ascending powers.
        coordinate: ``"local"``, ``"centered"`` or ``"global"``.
        out_of_range: the layer's out-of-range policy.
        periodicity: the layer's mirror-fold period, or ``None``.

    Example:
        >>> exported = export_link(layer, (0, 1))  # doctest: +SKIP
        >>> print(exported.to_coordinate("global"))  # doctest: +SKIP
    """

    edges: Tensor
    coefficients: Tensor
    coordinate: Coordinate = "local"
    out_of_range: str = "extrapolate"
    periodicity: float | None = None

    def __post_init__(self) -> None:
        check_choice("coordinate", self.coordinate, COORDINATES)
        if not isinstance(self.edges, Tensor) or not isinstance(self.coefficients, Tensor):
            raise TypeError(
                "edges and coefficients must be Tensors; got "
                f"{type(self.edges).__name__} and {type(self.coefficients).__name__}"
            )
        if (
            self.edges.dim() != 1
            or self.coefficients.dim() != 2
            or self.edges.numel() != self.coefficients.shape[0] + 1
        ):
            raise ValueError(
                "edges must have shape (segments + 1,) and coefficients (segments, n); got "
                f"{tuple(self.edges.shape)} and {tuple(self.coefficients.shape)}"
            )

    @property
    def segments(self) -> int:
        return self.coefficients.shape[0]

    @property
    def degree(self) -> int:
        return self.coefficients.shape[1] - 1

    def locate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Piece index and local coordinate of already-transformed inputs (as the layer computes them)."""
        low, high = self.edges[0], self.edges[-1]
        scaled = (x - low) * (self.segments / (high - low))
        piece = scaled.floor().clamp(0, self.segments - 1)
        return torch.nan_to_num(piece, nan=0.0).long(), 2 * (scaled - piece) - 1

    def evaluate(self, x: Tensor) -> Tensor:
        """The link function at raw layer inputs ``x``, in float64. Shape: same as ``x``."""
        x = torch.as_tensor(x, dtype=torch.float64)
        u = prepare_input(x, self.out_of_range, self.periodicity)
        piece, t = self.locate(u)
        if self.coordinate == "local":
            variable = t
        elif self.coordinate == "centered":
            variable = u - self.centers[piece]
        else:
            variable = u
        coefficients = self.coefficients.to(torch.float64)[piece]  # (*x.shape, n)
        result = coefficients[..., -1]
        for j in range(self.degree - 1, -1, -1):  # Horner
            result = result * variable + coefficients[..., j]
        return result

    __call__ = evaluate

    def to_coordinate(self, coordinate: Coordinate) -> PiecewisePolynomialExport:
        """The same function with its coefficients in another coordinate (exact algebra)."""
        check_choice("coordinate", coordinate, COORDINATES)
        if coordinate == self.coordinate:
            return self
        coefficients = self.coefficients.to(torch.float64)
        if self.coordinate != "local":  # variable = half_width * t + offset
            half_width, offset = self._local_map(self.coordinate)
            coefficients = _compose_affine(coefficients, half_width, offset)
        if coordinate != "local":  # t = (variable - offset) / half_width
            half_width, offset = self._local_map(coordinate)
            coefficients = _compose_affine(coefficients, 1 / half_width, -offset / half_width)
        return PiecewisePolynomialExport(self.edges, coefficients, coordinate, self.out_of_range, self.periodicity)

    def _local_map(self, coordinate: str) -> tuple[Tensor, Tensor]:
        """``(half_width, offset)`` per piece with ``variable = half_width * t + offset``."""
        edges = self.edges.to(torch.float64)
        half_width = 0.5 * (edges[1:] - edges[:-1])
        offset = edges[:-1] + half_width if coordinate == "global" else torch.zeros_like(half_width)
        return half_width, offset

    @property
    def centers(self) -> Tensor:
        """Midpoint of every piece. Shape: ``(segments,)``."""
        return 0.5 * (self.edges[1:] + self.edges[:-1]).to(torch.float64)

    def to_table(self, precision: int = 6) -> str:
        """A readable table: one row per piece, one column per power, ``precision`` significant digits."""
        check_int("precision", precision, minimum=0)
        variable = {"local": "t", "centered": "(x-c)", "global": "x"}[self.coordinate]
        header = ["piece", "interval"] + [f"{variable}^{j}" for j in range(self.degree + 1)]
        rows = [header]
        for p in range(self.segments):
            interval = f"[{self.edges[p].item():.4g}, {self.edges[p + 1].item():.4g}]"
            rows.append([str(p), interval] + [f"{c:.{precision}g}" for c in self.coefficients[p].tolist()])
        widths = [max(len(row[k]) for row in rows) for k in range(len(header))]
        return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)

    def __str__(self) -> str:
        where = {
            "local": "piece on [a, b]: sum_j c_j t^j with t = 2 (x - a) / (b - a) - 1",
            "centered": "piece on [a, b]: sum_j c_j (x - c)^j with c = (a + b) / 2",
            "global": "piece on [a, b]: sum_j c_j x^j",
        }[self.coordinate]
        return f"{where}; {_policy_note(self.out_of_range, self.periodicity)}\n{self.to_table()}"

    def to_sympy(self, x: Any = None) -> Any:
        """The function as a ``sympy.Piecewise`` in ``x`` (a new symbol ``x`` by default).

        Local and centered pieces are written as polynomials in ``t = a x + b`` or ``x - c`` (not
        expanded, which keeps them accurate; ``sympy.expand`` gives the global form). The
        ``out_of_range`` policy shapes the outer pieces: constants for ``"clamp"``, the end pieces
        continued for ``"extrapolate"``, ``nan`` outside ``[-1, 1]`` for ``"error"``. For
        ``"mirror"`` or a ``periodicity`` the expression is in terms of the *folded* input.

        Raises:
            ImportError: when sympy is not installed.
        """
        sympy, x = _sympy_and_symbol(x)
        pieces = []
        edges = [sympy.Float(e) for e in self.edges.tolist()]
        for p in range(self.segments):
            if self.coordinate == "local":
                variable = 2 * (x - edges[p]) / (edges[p + 1] - edges[p]) - 1
            elif self.coordinate == "centered":
                variable = x - (edges[p] + edges[p + 1]) / 2
            else:
                variable = x
            expression = sum(sympy.Float(c) * variable**j for j, c in enumerate(self.coefficients[p].tolist()))
            pieces.append(expression)
        low, high = edges[0], edges[-1]
        conditions: list[tuple[Any, Any]] = []
        policy = self.out_of_range
        if policy == "clamp":
            conditions.append((pieces[0].subs(x, low), x < low))
        elif policy == "error":
            conditions.append((sympy.nan, x < low))
        for p in range(self.segments - 1):
            conditions.append((pieces[p], x < edges[p + 1]))
        if policy in ("clamp", "error"):
            conditions.append((pieces[-1], x <= high))
            outside = pieces[-1].subs(x, high) if policy == "clamp" else sympy.nan
            conditions.append((outside, True))
        else:
            conditions.append((pieces[-1], True))
        return sympy.Piecewise(*conditions)


@dataclass(frozen=True, eq=False)
class FourierExport:
    """A link function ``a0 + sum_k a_k cos(k pi x / L) + b_k sin(k pi x / L)``, ``k = 1..n``.

    Attributes:
        constant: ``a0``.
        cos: ``(n,)`` float64 ``a_k``.
        sin: ``(n,)`` float64 ``b_k``.
        length: ``L``, half the fundamental period.
        out_of_range: the layer's out-of-range policy (applied before the series).
        periodicity: the layer's mirror-fold period, or ``None``.
    """

    constant: float
    cos: Tensor
    sin: Tensor
    length: float
    out_of_range: str = "extrapolate"
    periodicity: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.cos, Tensor) or not isinstance(self.sin, Tensor):
            raise TypeError(f"cos and sin must be Tensors; got {type(self.cos).__name__} and {type(self.sin).__name__}")
        if self.cos.dim() != 1 or self.cos.shape != self.sin.shape:
            raise ValueError(
                f"cos and sin must both have shape (n,); got {tuple(self.cos.shape)} and {tuple(self.sin.shape)}"
            )
        check_positive_float("length", self.length)

    @property
    def n(self) -> int:
        return self.cos.numel()

    def evaluate(self, x: Tensor) -> Tensor:
        """The series at raw layer inputs ``x``, in float64. Shape: same as ``x``."""
        x = torch.as_tensor(x, dtype=torch.float64)
        u = prepare_input(x, self.out_of_range, self.periodicity)
        k = torch.arange(1, self.n + 1, dtype=torch.float64)
        angle = u.unsqueeze(-1) * (k * (math.pi / self.length))  # (..., n)
        series = angle.cos() @ self.cos.to(torch.float64) + angle.sin() @ self.sin.to(torch.float64)
        return series + self.constant

    __call__ = evaluate

    def to_string(self, precision: int = 6) -> str:
        """The series as text with ``precision`` significant digits, e.g. ``0.1 + 0.3*cos(1*pi*x/2)``."""
        check_int("precision", precision, minimum=0)
        text = _format_term(self.constant, "", precision, first=True)
        for k in range(1, self.n + 1):
            argument = f"{k}*pi*x/{self.length:g}"
            text += _format_term(self.cos[k - 1].item(), f"cos({argument})", precision, first=False)
            text += _format_term(self.sin[k - 1].item(), f"sin({argument})", precision, first=False)
        return text

    def __str__(self) -> str:
        if self.out_of_range == "extrapolate" and self.periodicity is None:
            return self.to_string()
        return f"{self.to_string()}  ({_policy_note(self.out_of_range, self.periodicity)})"

    def to_sympy(self, x: Any = None) -> Any:
        """The series as a sympy expression in ``x`` (policy not included).

        Raises:
            ImportError: when sympy is not installed.
        """
        sympy, x = _sympy_and_symbol(x)
        length = sympy.Float(self.length)
        expression = sympy.Float(self.constant)
        for k in range(1, self.n + 1):
            argument = k * sympy.pi * x / length
            expression += sympy.Float(self.cos[k - 1].item()) * sympy.cos(argument)
            expression += sympy.Float(self.sin[k - 1].item()) * sympy.sin(argument)
        return expression


def _compose_affine(coefficients: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """Coefficients in ``y`` of ``sum_j c_j (scale * y + shift)**j``, per row (Horner on polynomials).

    Shape:
        coefficients: ``(S, n)``; scale, shift: ``(S,)``. Output: ``(S, n)``.
    """
    pieces, n = coefficients.shape
    result = coefficients.new_zeros(pieces, n)
    result[:, 0] = coefficients[:, -1]
    for j in range(n - 2, -1, -1):
        multiplied = result * shift[:, None]
        multiplied[:, 1:] += result[:, :-1] * scale[:, None]
        multiplied[:, 0] += coefficients[:, j]
        result = multiplied
    return result


def export_link(
    module: nn.Module, link: Sequence[int], *, coordinate: Coordinate = "local"
) -> PiecewisePolynomialExport | FourierExport:
    """The exact closed form of one link of a high-order layer.

    The basis gives the formulas (:meth:`~high_order_layers_torch.bases.Basis.closed_form`):
    piecewise-polynomial, single-polynomial and Chebyshev links become a
    :class:`PiecewisePolynomialExport`, Fourier links a :class:`FourierExport`, plain-weight links
    (``LinearBasis``) a one-piece polynomial ``w x``. The export carries the layer's fold and
    ``out_of_range`` policy, so evaluating it reproduces the layer's link for any input.

    Args:
        module: a high-order layer (fully-connected or convolutional).
        link: the link index, e.g. ``(out, in)`` for a fully-connected layer.
        coordinate: polynomials only: ``"local"`` (powers of each piece's ``t``), ``"centered"``
            (powers of ``x - center``) or ``"global"`` (powers of ``x``; ill-conditioned with many
            pieces, see :class:`PiecewisePolynomialExport`).

    Raises:
        ValueError: for an unknown link or coordinate, or a layer on the meta device (no values).
        TypeError: for a module that is not a high-order layer, or a basis without a closed form here.

    Example:
        >>> layer = PiecewisePolynomial(2, 3, n=4, segments=2)
        >>> exported = export_link(layer, (0, 1))
        >>> x = torch.linspace(-1, 1, 5, dtype=torch.float64)
        >>> torch.allclose(exported(x), layer.double().link_functions(x[:, None].expand(5, 2))[:, 0, 1])
        True
    """
    check_high_order(module, "export_link")
    check_choice("coordinate", coordinate, COORDINATES)
    check_materialised(module, "export_link")
    weights = link_weights(module, link).detach().to(device="cpu", dtype=torch.float64)
    out_of_range = getattr(module, "out_of_range", "extrapolate")
    periodicity = getattr(module, "periodicity", None)
    form = basis_of(module).closed_form(weights)
    if isinstance(form, FourierTerms):
        return FourierExport(form.constant, form.cosines, form.sines, form.length, out_of_range, periodicity)
    exported = PiecewisePolynomialExport(form.edges, form.coefficients, "local", out_of_range, periodicity)
    return exported.to_coordinate(coordinate)
