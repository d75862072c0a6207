"""Transfer matrices between two bases of link functions.

A link's function is ``f(x) = sum_j w_j phi_j(x)``. Moving it to a new basis ``psi`` means
finding ``w'`` with ``sum_k w'_k psi_k ~= f``; the map is linear, ``w' = T w`` with ``T`` of
shape ``(M_new, M_old)``. When the new space contains the old one, ``T`` interpolates (exact to
round-off) and the old family knows the map (:meth:`~high_order_layers_torch.bases.Basis.exact_transfer`);
otherwise it is the least-squares projection on ``[-1, 1]``, computed with Gauss-Legendre
quadrature on every interval between the union of both bases' joints.

Everything here is computed in float64 on the CPU from float64 twins of the bases, so the
nodes are not the (possibly float32) buffers of the modules.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..bases import Basis

_F64 = torch.float64


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
    edges = torch.unique(torch.cat([old.joints(), new.joints()]))  # sorted
    nodes, weights = gauss_legendre(per_interval)
    left, right = edges[:-1, None], edges[1:, None]  # (J, 1)
    points = 0.5 * (left + right) + 0.5 * (right - left) * nodes  # (J, m)
    return points.reshape(-1), (0.5 * (right - left) * weights).reshape(-1)


def quadrature_size(old: Basis, new: Basis, samples_per_piece: int) -> int:
    """Points per interval: at least ``samples_per_piece`` and enough for the bases' degrees."""
    return max(samples_per_piece, old.num_active + new.num_active)


def least_squares_transfer(old: Basis, new: Basis, samples_per_piece: int) -> Tensor:
    """``T`` minimising ``int_{-1}^{1} (psi T w - phi w)^2 dx`` (Gauss-Legendre quadrature)."""
    x, weights = sample_points(old, new, quadrature_size(old, new, samples_per_piece))
    root = weights.sqrt()[:, None]  # (P, 1)
    a_old, a_new = old.dense(x), new.dense(x)  # (P, M_old), (P, M_new)
    return torch.linalg.lstsq(root * a_new, root * a_old, driver="gelsd").solution  # (M_new, M_old)


def transfer_matrix(old: Basis, new: Basis, *, samples_per_piece: int = 16) -> tuple[Tensor, bool]:
    """The matrix moving link weights from ``old`` to ``new``, and whether it is exact.

    Args:
        old, new: bases (their dtype and device do not matter; float64 twins are used).
        samples_per_piece: quadrature points per interval for the least-squares case.

    Returns:
        ``(T, exact)``: ``T`` is float64 on the CPU, shape ``(new.num_weights, old.num_weights)``.
    """
    old64, new64 = old.float64_twin(), new.float64_twin()
    transfer = old64.exact_transfer(new64)
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
    old64, new64 = old.float64_twin(), new.float64_twin()
    x, _ = sample_points(old64, new64, quadrature_size(old64, new64, samples_per_piece))
    difference = new64.dense(x) @ transfer - old64.dense(x)  # (P, M_old)
    links = links.detach().to(device="cpu", dtype=_F64)
    worst = torch.zeros((), dtype=_F64)
    chunk = max(1, 2**22 // max(1, x.numel()))
    for first in range(0, links.shape[0], chunk):
        values = links[first : first + chunk] @ difference.T  # (chunk, P)
        worst = torch.maximum(worst, values.abs().amax())  # NaN propagates
    return worst.item()
