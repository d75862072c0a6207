"""Transfer matrices between two bases of link functions.

A link's function is ``f(x) = sum_j w_j phi_j(x)``. Moving it to a new basis ``psi`` means
finding ``w'`` with ``sum_k w'_k psi_k ~= f``; the map is linear, ``w' = T w`` with ``T`` of
shape ``(M_new, M_old)``. When the new space contains the old one, ``T`` interpolates (exact to
round-off); otherwise it is the least-squares projection on ``[-1, 1]``, computed with
Gauss-Legendre quadrature on every interval between the union of both bases' joints.

Everything here is computed in float64 on the CPU from float64 twins of the bases, so the
nodes are not the (possibly float32) buffers of the modules.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..functional import chebyshev_lobatto_nodes, expand_basis, lagrange_basis, lagrange_inverse_denominators
from ..layers import Basis, FourierBasis, LinearBasis, PiecewisePolynomialBasis

_F64 = torch.float64


def float64_twin(basis: Basis) -> Basis:
    """The same basis rebuilt in float64 on the CPU (nodes computed afresh, not up-cast)."""
    if isinstance(basis, PiecewisePolynomialBasis):
        return PiecewisePolynomialBasis(basis.n, basis.segments, continuous=basis.continuous, dtype=_F64)
    if isinstance(basis, FourierBasis):
        return FourierBasis(basis.n, basis.length, dtype=_F64)
    if isinstance(basis, LinearBasis):
        return LinearBasis()
    raise TypeError(
        f"refinement supports PiecewisePolynomialBasis, FourierBasis and LinearBasis; got {type(basis).__name__}"
    )


def joints(basis: Basis) -> Tensor:
    """Edges of the pieces of ``[-1, 1]`` on which ``basis`` is smooth, float64, ascending."""
    pieces = basis.segments if isinstance(basis, PiecewisePolynomialBasis) else 1
    # (2 i) / S is correctly rounded, so equal fractions from different S give equal floats.
    return -1 + (2 * torch.arange(pieces + 1, dtype=_F64)) / pieces


def gauss_legendre(m: int) -> tuple[Tensor, Tensor]:
    """Gauss-Legendre nodes and weights on ``[-1, 1]`` (Golub-Welsch), float64, shape ``(m,)``.

    Exact for polynomials of degree ``<= 2 m - 1``.
    """
    k = torch.arange(1, m, dtype=_F64)
    off = k / torch.sqrt(4 * k * k - 1)
    jacobi = torch.diag(off, 1) + torch.diag(off, -1)  # (m, m)
    nodes, vectors = torch.linalg.eigh(jacobi)
    return nodes, 2 * vectors[0] ** 2


def sample_points(old: Basis, new: Basis, per_interval: int) -> tuple[Tensor, Tensor]:
    """Quadrature points and weights covering ``[-1, 1]``, ``per_interval`` strictly inside each
    interval between consecutive joints of either basis (so no point sits on a joint).

    Shape:
        Output: ``(P,)`` and ``(P,)``.
    """
    edges = torch.unique(torch.cat([joints(old), joints(new)]))  # sorted
    nodes, weights = gauss_legendre(per_interval)
    left, right = edges[:-1, None], edges[1:, None]  # (J, 1)
    points = 0.5 * (left + right) + 0.5 * (right - left) * nodes  # (J, m)
    return points.reshape(-1), (0.5 * (right - left) * weights).reshape(-1)


def dense_basis(basis: Basis, x: Tensor) -> Tensor:
    """Every basis function at the points ``x``. Shape: ``(P,)`` -> ``(P, M)``."""
    start, values = basis(x[:, None])  # (P, 1), (P, 1, K)
    return expand_basis(start, values, basis.num_weights)[:, 0, :]


def _piecewise_interpolation(old: PiecewisePolynomialBasis, new: PiecewisePolynomialBasis) -> Tensor | None:
    """Interpolate the old function at the new nodes, piece by piece; ``None`` unless exact.

    Exact when every new piece lies inside one old piece (``new.segments`` a multiple of
    ``old.segments``), the degree does not drop, and continuity is not newly imposed. A new
    node on an old joint belongs to a new piece, and takes the value of the old piece that
    contains that new piece, which is what discontinuous layers need.
    """
    if new.n < old.n or new.segments % old.segments or (new.continuous and not old.continuous):
        return None
    ratio = new.segments // old.segments
    old_nodes = chebyshev_lobatto_nodes(old.n, dtype=_F64)
    old_inverse = lagrange_inverse_denominators(old_nodes)
    new_local = chebyshev_lobatto_nodes(new.n, dtype=_F64)
    transfer = torch.zeros(new.num_weights, old.num_weights, dtype=_F64)
    for piece in range(new.segments):
        parent, sub = divmod(piece, ratio)
        t = (2 * sub + 1 - ratio + new_local) / ratio  # the new nodes in the parent's local coordinate
        rows = piece * new.stride + torch.arange(new.n)
        cols = parent * old.stride + torch.arange(old.n)
        transfer[rows] = 0  # a continuous layer's shared node: the later piece writes it
        transfer[rows[:, None], cols] = lagrange_basis(t, old_nodes, old_inverse)  # (n_new, n_old)
    return transfer


def _fourier_padding(old: FourierBasis, new: FourierBasis) -> Tensor | None:
    """Keep every coefficient and add zero ones for the new frequencies; ``None`` unless exact."""
    if new.n < old.n or new.length != old.length:
        return None
    transfer = torch.zeros(new.num_weights, old.num_weights, dtype=_F64)
    transfer[0, 0] = 1.0
    k = torch.arange(old.n)
    transfer[1 + k, 1 + k] = 1.0  # cosines
    transfer[1 + new.n + k, 1 + old.n + k] = 1.0  # sines
    return transfer


def _linear_identity(old: LinearBasis, new: LinearBasis) -> Tensor:
    return torch.ones(1, 1, dtype=_F64)


#: Exact transfers for pairs of basis types; each returns ``None`` when the pair is not nested.
EXACT_TRANSFERS: dict[tuple[type, type], Callable[..., Tensor | None]] = {
    (PiecewisePolynomialBasis, PiecewisePolynomialBasis): _piecewise_interpolation,
    (FourierBasis, FourierBasis): _fourier_padding,
    (LinearBasis, LinearBasis): _linear_identity,
}


def quadrature_size(old: Basis, new: Basis, samples_per_piece: int) -> int:
    """Points per interval: at least ``samples_per_piece`` and enough for the bases' degrees."""
    return max(samples_per_piece, old.num_active + new.num_active)


def least_squares_transfer(old: Basis, new: Basis, samples_per_piece: int) -> Tensor:
    """``T`` minimising ``int_{-1}^{1} (psi T w - phi w)^2 dx`` (Gauss-Legendre quadrature)."""
    x, weights = sample_points(old, new, quadrature_size(old, new, samples_per_piece))
    root = weights.sqrt()[:, None]  # (P, 1)
    a_old, a_new = dense_basis(old, x), dense_basis(new, x)  # (P, M_old), (P, M_new)
    return torch.linalg.lstsq(root * a_new, root * a_old, driver="gelsd").solution  # (M_new, M_old)


def transfer_matrix(old: Basis, new: Basis, *, samples_per_piece: int = 16) -> tuple[Tensor, bool]:
    """The matrix moving link weights from ``old`` to ``new``, and whether it is exact.

    Args:
        old, new: bases (their dtype and device do not matter; float64 twins are used).
        samples_per_piece: quadrature points per interval for the least-squares case.

    Returns:
        ``(T, exact)``: ``T`` is float64 on the CPU, shape ``(new.num_weights, old.num_weights)``.
    """
    old64, new64 = float64_twin(old), float64_twin(new)
    exact = EXACT_TRANSFERS.get((type(old64), type(new64)))
    transfer = exact(old64, new64) if exact is not None else None
    if transfer is not None:
        return transfer, True
    return least_squares_transfer(old64, new64, samples_per_piece), False


def transfer_error(old: Basis, new: Basis, transfer: Tensor, links: Tensor, *, samples_per_piece: int = 16) -> float:
    """``max |f_new - f_old|`` over every link and the quadrature points of both bases' pieces.

    Args:
        links: old link weights, shape ``(L, M_old)``.

    Returns:
        The largest absolute difference of link function values (0.0 for no links).
    """
    old64, new64 = float64_twin(old), float64_twin(new)
    x, _ = sample_points(old64, new64, quadrature_size(old64, new64, samples_per_piece))
    difference = dense_basis(new64, x) @ transfer - dense_basis(old64, x)  # (P, M_old)
    links = links.detach().to(device="cpu", dtype=_F64)
    worst = torch.zeros((), dtype=_F64)
    chunk = max(1, 2**22 // max(1, x.numel()))
    for first in range(0, links.shape[0], chunk):
        values = links[first : first + chunk] @ difference.T  # (chunk, P)
        worst = torch.maximum(worst, values.abs().amax())  # NaN propagates
    return worst.item()
