"""Uniform B-splines on ``[-1, 1]``: their values, their pieces as polynomials, and the exact
maps between nested spline spaces.

Splines of order ``n`` (degree ``n - 1``) live on ``segments`` equal intervals of ``[-1, 1]``,
spacing ``h = 2 / segments``, with the extended (not clamped) uniform knot vector
``-1 + k h`` for ``k = -(n - 1) .. segments + n - 1``. That gives ``segments + n - 1`` B-splines
``B_0 ..``; ``B_j`` is supported on ``[-1 + (j - n + 1) h, -1 + (j + 1) h]``, so the ``n`` of
them nonzero on interval ``s`` are ``B_s .. B_{s + n - 1}``, all translates of one cardinal
B-spline.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import check_int

_F64 = torch.float64


def bspline_values(x: Tensor, n: int, segments: int) -> tuple[Tensor, Tensor]:
    """The ``n`` uniform B-splines of order ``n`` that are nonzero on each value's interval.

    With ``u = (x + 1) / h`` (computed as ``(x + 1) * (segments / 2)``, whose factor is exact),
    ``start = clamp(floor(u), 0, segments - 1)``, so ``x = 1`` lies in the last interval and
    values outside ``[-1, 1]`` extrapolate the end interval's polynomials; ``t = u - start``.
    ``values[..., k]`` is the cardinal B-spline of order ``n`` (supported on ``[0, n]``) at
    ``t + n - 1 - k``: the B-spline of weight ``start + k``. A NaN value gets ``start`` 0 and
    NaN values.

    The values come from the Cox-de Boor recurrence on integer knots, every step a convex
    combination for ``t`` in ``[0, 1]`` (stable, and a partition of unity to round-off for
    every ``t``); it is plain tensor arithmetic, so autograd differentiates it to any order, on
    any device and in any floating dtype.

    Args:
        x: values, any shape.
        n: order of the splines (``>= 2``; degree ``n - 1``).
        segments: number of equal intervals of ``[-1, 1]`` (``>= 1``).

    Returns:
        ``(start, values)``: ``start`` int64 with the shape of ``x``, the index of each value's
        first nonzero B-spline; ``values`` of shape ``(*x.shape, n)`` in the dtype of ``x``.

    Shape:
        x: ``(*)``. Output: ``(*)`` and ``(*, n)``.

    Example:
        >>> start, values = bspline_values(torch.tensor([-1.0, 0.25, 1.0]), n=4, segments=2)
        >>> start.tolist(), values.shape, torch.allclose(values.sum(-1), torch.ones(3))
        ([0, 1, 1], torch.Size([3, 4]), True)
    """
    check_int("n", n, minimum=2)
    check_int("segments", segments, minimum=1)
    scaled = (x + 1) * (0.5 * segments)  # u, in units of the knot spacing
    # clamp_min_ and clamp_max_ have vmap batching rules (clamp_ does not), as in locate_segments
    piece = scaled.detach().floor().clamp_min_(0).clamp_max_(segments - 1)
    t = (scaled - piece).unsqueeze(-1)  # (*, 1)
    start = piece.nan_to_num_(nan=0.0).long()
    values = torch.ones_like(t)  # order 1: the indicator of the interval
    for order in range(2, n + 1):
        degree = order - 1
        k = torch.arange(order, dtype=t.dtype, device=t.device)
        below = F.pad(values, (1, 0))  # (*, order): N^{degree-1}_{k-1}, zero for k = 0
        above = F.pad(values, (0, 1))  # (*, order): N^{degree-1}_k, zero for k = order - 1
        # N^d_k(t) = ((t + d - k) N^{d-1}_{k-1}(t) + (k + 1 - t) N^{d-1}_k(t)) / d
        values = ((t + (degree - k)) * below + ((k + 1) - t) * above) * (1.0 / degree)  # (*, order)
    return start, values


def _cardinal_polynomials(n: int, offset: float, scale: float) -> Tensor:
    """Ascending monomial coefficients in ``y`` of the ``n`` pieces of :func:`bspline_values`
    at ``t = offset + scale * y``: the same recurrence, on polynomials (float64).

    Shape:
        Output: ``(n, n)``, row ``k`` for ``values[..., k]``.
    """
    rows = torch.ones(1, 1, dtype=_F64)  # order 1: the constant 1
    for order in range(2, n + 1):
        degree = order - 1
        previous = F.pad(rows, (0, 1))  # (degree, order): one degree of room
        times_t = offset * previous
        times_t[:, 1:] += scale * previous[:, :-1]  # t * previous
        zero = previous.new_zeros(1, order)
        below, t_below = torch.cat([zero, previous]), torch.cat([zero, times_t])  # (order, order): index k - 1
        above, t_above = torch.cat([previous, zero]), torch.cat([times_t, zero])  # index k
        k = torch.arange(order, dtype=_F64)[:, None]
        rows = ((degree - k) * below + t_below + (k + 1) * above - t_above) / degree
    return rows


def bspline_monomial_matrix(n: int) -> Tensor:
    """Monomial coefficients of the ``n`` B-splines nonzero on an interval, in the interval's
    local coordinate ``tau`` in ``[-1, 1]`` (``t = (tau + 1) / 2``), float64.

    Row ``k`` holds the ascending coefficients of ``values[..., k]`` of :func:`bspline_values`;
    the uniform B-splines are translates of one another, so the matrix is the same on every
    interval, and a spline with coefficients ``w`` is ``w[s : s + n] @ matrix`` on interval ``s``.

    Shape:
        Output: ``(n, n)``.
    """
    check_int("n", n, minimum=2)
    return _cardinal_polynomials(n, 0.5, 0.5)


def bspline_greville_abscissae(n: int, segments: int) -> Tensor:
    """The Greville abscissae of the B-splines: ``xi_j`` is the mean of the ``n - 1`` knots
    inside ``B_j``'s support, ``-1 + (2 j - n + 2) / segments``. The coefficients ``xi``
    reproduce ``f(x) = x`` exactly; the first and last lie outside ``[-1, 1]`` (the knots are
    extended, not clamped). Float64, on the CPU.

    Shape:
        Output: ``(segments + n - 1,)``.
    """
    check_int("n", n, minimum=2)
    check_int("segments", segments, minimum=1)
    j = torch.arange(segments + n - 1, dtype=_F64, device="cpu")
    # one correctly rounded division of an integer numerator symmetric about 0: exactly symmetric
    return (2 * j - (n - 2) - segments) / segments


def bspline_spaces_nested(n: int, segments: int, new_n: int, new_segments: int) -> bool:
    """Whether every spline of order ``n`` on ``segments`` intervals is one of order ``new_n`` on
    ``new_segments`` intervals (on ``[-1, 1]``): each old joint is a new one and the order is the
    same (splines of higher order are smoother at their joints than the old ones may be), or the
    old spline is one polynomial (``segments == 1``) and the order does not drop."""
    if new_n < n or new_segments % segments:
        return False
    return new_n == n or segments == 1


def bspline_transfer_matrix(n: int, segments: int, new_n: int, new_segments: int) -> Tensor:
    """The matrix ``T`` mapping B-spline coefficients of order ``n`` on ``segments`` intervals to
    those of the same function in the spline space of order ``new_n`` on ``new_segments``
    intervals, which must contain it (:func:`bspline_spaces_nested`): knot insertion (same
    order, ``new_segments`` a multiple of ``segments``) or degree elevation of a polynomial.

    By blossoming: the coefficient of a new B-spline is the blossom (polar form) of the
    function's polynomial on any interval inside that B-spline's support, evaluated at the
    B-spline's ``new_n - 1`` inner knots. On ``[-1, 1]`` such an interval is a new interval
    inside one old one, where the function is a combination of ``n`` old B-spline pieces, so
    each row of ``T`` is ``n`` blossoms of known polynomials; no linear system is solved, so the
    map is exact to round-off however small the extended B-splines' tails inside ``[-1, 1]`` are.

    Returns:
        ``T``, float64 on the CPU, of shape ``(new_segments + new_n - 1, segments + n - 1)``:
        ``w_new = T @ w``.

    Raises:
        ValueError: for an invalid order or segment count, or spaces that are not nested.
    """
    for name, value, minimum in (("n", n, 2), ("segments", segments, 1), ("new_n", new_n, 2)):
        check_int(name, value, minimum=minimum)
    check_int("new_segments", new_segments, minimum=1)
    if not bspline_spaces_nested(n, segments, new_n, new_segments):
        raise ValueError(
            f"splines of order {n} on {segments} segments are not all splines of order {new_n} on "
            f"{new_segments} segments: the order must stay the same and the segments multiply "
            "(knot insertion), or a single segment's order must not drop (degree elevation)"
        )
    ratio = new_segments // segments
    rows = new_segments + new_n - 1
    degree = new_n - 1
    # The old pieces in their interval's coordinate t in [0, 1], as polynomials of degree new_n - 1.
    old = F.pad(_cardinal_polynomials(n, 0.0, 1.0), (0, new_n - n))  # (n, new_n)
    j = torch.arange(rows)
    # A new interval inside supp(B'_j) = new intervals j - new_n + 1 .. j, and inside [-1, 1].
    interval = (j - (new_n - 1) // 2).clamp(0, new_segments - 1)
    parent = torch.div(interval, ratio, rounding_mode="floor")  # the old interval containing it
    # B'_j's inner knots, in the parent's coordinate (old knot spacing 1, parent = [0, 1]).
    inner = torch.arange(1, new_n)
    knots = (j[:, None] - new_n + 1 + inner).to(_F64) / ratio - parent[:, None].to(_F64)  # (rows, degree)
    symmetric = torch.zeros(rows, new_n, dtype=_F64)  # elementary symmetric polynomials e_0 .. e_degree
    symmetric[:, 0] = 1.0
    for m in range(degree):  # multiply in (1 + z_m X)
        symmetric = torch.cat([symmetric[:, :1], symmetric[:, 1:] + knots[:, m : m + 1] * symmetric[:, :-1]], 1)
    binomial = torch.tensor([math.comb(degree, a) for a in range(new_n)], dtype=_F64)
    blossoms = (symmetric / binomial) @ old.T  # (rows, n): the polar form of t^a is e_a / C(degree, a)
    transfer = torch.zeros(rows, segments + n - 1, dtype=_F64)
    transfer.scatter_(1, parent[:, None] + torch.arange(n), blossoms)  # old B-splines parent .. parent + n - 1
    return transfer
