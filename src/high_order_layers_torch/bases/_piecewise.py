"""Piecewise Lagrange polynomials on Chebyshev-Gauss-Lobatto nodes (one polynomial: ``segments=1``)."""

from __future__ import annotations

from typing import Unpack

import torch
from torch import Tensor

from .._signatures import FactoryKwargs, factory_defaults, spell_out
from .._validation import check_bool, check_int
from ..functional import (
    chebyshev_lobatto_nodes,
    chebyshev_to_lagrange,
    lagrange_basis,
    lagrange_inverse_denominators,
    lagrange_monomial_matrix,
    lagrange_piece_values,
    piecewise_sizes,
)
from ..kernels import Evaluated, Layout, PiecewiseLagrange
from ._base import Basis, ConfigValue, PolynomialPieces, zero_derivative


class PiecewisePolynomialBasis(Basis):
    """Lagrange polynomials of degree ``n - 1`` on ``segments`` equal pieces of ``[-1, 1]``.

    Each piece carries ``n`` Chebyshev-Gauss-Lobatto nodes mapped onto it. With
    ``continuous=True`` neighbouring pieces share their end node, so a link has
    ``segments * (n - 1) + 1`` weights and its function is continuous; otherwise
    ``segments * n`` weights and the pieces are independent. The weights are the link function's
    values at the nodes, ordered by position.

    Args:
        n: nodes per piece (``>= 1``; ``n = 1`` gives piecewise constants).
        segments: number of pieces (``>= 1``).
        continuous: share end nodes between neighbouring pieces.

    The basis is evaluated through its Chebyshev expansion
    (:func:`~high_order_layers_torch.functional.lagrange_basis_chebyshev`): the same polynomials
    as the product form to a few ulps, several times faster forward and backward.

    Attributes:
        nodes: the ``(n,)`` local nodes on ``[-1, 1]`` (non-persistent buffer).
        chebyshev_to_lagrange: ``(n, n)`` change of basis from Chebyshev polynomials to the
            Lagrange basis (non-persistent buffer).
        piece_offset: index of the first weight of piece ``s + 1`` minus that of piece ``s``
            (``n - 1`` when continuous, else ``n``).
    """

    description = "a piecewise polynomial"
    refinable = ("n", "segments")
    nodes: Tensor
    chebyshev_to_lagrange: Tensor

    @spell_out(factory_defaults)
    def __init__(self, n: int, segments: int = 1, *, continuous: bool = True, **factory: Unpack[FactoryKwargs]) -> None:
        super().__init__()
        self.n = check_int("n", n, minimum=1)
        self.segments = check_int("segments", segments, minimum=1)
        self.continuous = check_bool("continuous", continuous)
        self.piece_offset, self.num_weights = piecewise_sizes(n, self.segments, self.continuous)
        self.num_active = n
        self._make_constants(**factory)

    def _make_constants(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        dtype = dtype or torch.get_default_dtype()
        nodes = chebyshev_lobatto_nodes(self.n, dtype=torch.float64)
        self.register_buffer("nodes", nodes.to(device=device, dtype=dtype), persistent=False)
        self.register_buffer(
            "chebyshev_to_lagrange", chebyshev_to_lagrange(nodes).to(device=device, dtype=dtype), persistent=False
        )

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        start, values = lagrange_piece_values(x, self.segments, self.piece_offset, self.chebyshev_to_lagrange)
        return start, (zero_derivative(values, x.unsqueeze(-1)) if self.n == 1 else values)

    def settings(self) -> dict[str, ConfigValue]:
        return {"n": self.n, "segments": self.segments, "continuous": self.continuous}

    def function_config(self) -> dict[str, ConfigValue]:
        continuous = self.continuous or self.segments == 1  # a single piece is continuous either way
        segments = 1 if continuous and self.n == 1 else self.segments  # one constant shared by every piece
        return {"basis": type(self).__name__, "n": self.n, "segments": segments, "continuous": continuous}

    def extra_repr(self) -> str:
        return f"n={self.n}, segments={self.segments}, continuous={self.continuous}"

    # ----------------------------------------------------------------------------------------
    def chebyshev_coefficients(self, weight: Tensor) -> Tensor:
        """Per-piece Chebyshev coefficients of the link functions whose node values are ``weight``.

        Shape:
            weight: ``(*, num_weights)``. Output: ``(*, segments, n)``.
        """
        pieces = self.pieces(weight)
        # One (links * pieces, n) x (n, n) product: as a batched product over the (O, I, S) links
        # CUDA runs it as one tiny GEMV per link, slower than the layer's whole GEMM (H200 profile).
        flat = pieces.reshape(-1, self.n) @ self.chebyshev_to_lagrange.t()
        return flat.view(pieces.shape)

    def pieces(self, weight: Tensor) -> Tensor:
        """The ``n`` node values of every piece. Shape: ``(*, num_weights)`` -> ``(*, segments, n)``."""
        if self.continuous and self.n > 1:
            return weight.unfold(-1, self.n, self.piece_offset)  # shared end nodes
        if self.continuous:  # n == 1: one constant shared by every piece
            return weight.unsqueeze(-1).expand(*weight.shape[:-1], self.segments, 1)
        return weight.unflatten(-1, (self.segments, self.n))

    def node_positions(self) -> Tensor:
        """Global position in ``[-1, 1]`` of every weight's node, shape ``(num_weights,)``."""
        # On the CPU explicitly: a few numbers, and under ``with torch.device("meta")`` the boolean
        # indexing below would need data a meta tensor does not have.
        local = chebyshev_lobatto_nodes(self.n, dtype=torch.float64, device="cpu")
        piece = torch.arange(self.segments, dtype=torch.float64, device="cpu")[:, None]
        positions = (-1 + (2 * piece + 1 + local) / self.segments).reshape(-1)  # (S * n,)
        if self.continuous and self.n > 1:
            keep = torch.ones_like(positions, dtype=torch.bool).reshape(self.segments, self.n)
            keep[1:, 0] = False  # the first node of each later piece is the previous one's last
            positions = positions[keep.reshape(-1)]
        elif self.continuous:  # n == 1: one shared constant
            positions = positions.new_zeros(1)
        return positions.to(device=self.nodes.device, dtype=self.nodes.dtype)

    def linear_coefficients(self) -> Tensor:
        return self.node_positions()

    def constant_coefficients(self) -> Tensor:
        return torch.ones(self.num_weights, dtype=self.nodes.dtype, device=self.nodes.device)

    # ----------------------------------------------------------------------------------------
    def exact_transfer(self, new: Basis) -> Tensor | None:
        """Interpolate the old function at the new nodes, piece by piece; ``None`` unless exact.

        Exact when ``new`` is piecewise too, every new piece lies inside one old piece
        (``new.segments`` a multiple of ``segments``), the degree does not drop, and continuity
        is not newly imposed. A new node on an old joint belongs to a new piece, and takes the
        value of the old piece that contains that new piece, which is what discontinuous layers
        need.
        """
        if not isinstance(new, PiecewisePolynomialBasis):
            return None
        if new.n < self.n or new.segments % self.segments or (new.continuous and not self.continuous):
            return None
        f64 = torch.float64
        ratio = new.segments // self.segments
        old_nodes = chebyshev_lobatto_nodes(self.n, dtype=f64)
        old_inverse = lagrange_inverse_denominators(old_nodes)
        new_local = chebyshev_lobatto_nodes(new.n, dtype=f64)
        transfer = torch.zeros(new.num_weights, self.num_weights, dtype=f64)
        for piece in range(new.segments):
            parent, sub = divmod(piece, ratio)
            t = (2 * sub + 1 - ratio + new_local) / ratio  # the new nodes in the parent's local coordinate
            rows = piece * new.piece_offset + torch.arange(new.n)
            cols = parent * self.piece_offset + torch.arange(self.n)
            transfer[rows] = 0  # a continuous layer's shared node: the later piece writes it
            transfer[rows[:, None], cols] = lagrange_basis(t, old_nodes, old_inverse)  # (n_new, n_old)
        return transfer

    def closed_form(self, weights: Tensor) -> PolynomialPieces:
        # exact float64 nodes: the function the weights define, whatever the layer's dtype
        nodes = chebyshev_lobatto_nodes(self.n, dtype=torch.float64)
        local = self.pieces(weights.to(torch.float64)) @ lagrange_monomial_matrix(nodes)  # (S, n)
        return PolynomialPieces(self.joints(), local)

    # ----------------------------------------------------------------------------------------
    def layout(self) -> Layout:
        if self.n == 1:  # piecewise constants: no kernel; the values of forward, which carry the input
            return Evaluated(self, self.num_weights, self.num_active)
        return PiecewiseLagrange(self.n, self.segments, self.continuous, self.chebyshev_to_lagrange)
