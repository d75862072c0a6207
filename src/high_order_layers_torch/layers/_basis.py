"""Basis families as small modules: they own the nodes/frequencies (as buffers) of one family
and turn inputs into the sparse ``(start, values)`` description used by the neurons.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._validation import check_int, check_positive_float
from ..functional import (
    chebyshev_lobatto_nodes,
    chebyshev_polynomials,
    chebyshev_to_lagrange,
    fourier_basis_harmonic,
    fourier_frequencies,
    lagrange_basis_chebyshev,
    locate_segments,
    piecewise_sizes,
)
from ..kernels import cpu_kernels_support, fused_fourier_values


class Basis(nn.Module):
    """Abstract basis of the functions a link can carry.

    A link holds ``num_weights`` weights; for a given input only ``num_active`` consecutive
    ones contribute.

    Shape:
        Input: ``(B, I)`` values in ``[-1, 1]``.
        Output: ``(start, values)`` with ``start`` of shape ``(B, I)`` (int64) or ``None`` when
        every weight is active, and ``values`` of shape ``(B, I, num_active)``.
    """

    num_weights: int
    num_active: int

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        # Nodes and change-of-basis matrices are derived constants: after a dtype/device change
        # recompute them in float64 and cast, rather than upcasting values rounded to float32.
        super()._apply(fn, recurse)
        reference = next(self.buffers(), None)
        if reference is not None:
            self._make_constants(device=reference.device, dtype=reference.dtype)
        return self

    def _make_constants(self, *, device: torch.device | str | None, dtype: torch.dtype | None) -> None:
        """(Re)register the non-persistent constant buffers in ``dtype`` on ``device``."""

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        raise NotImplementedError

    def linear_coefficients(self) -> Tensor:
        """Weights of one link that make it (close to) ``f(x) = x`` on ``[-1, 1]``; used for
        initialisation. Shape ``(num_weights,)``."""
        raise NotImplementedError


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
    """

    def __init__(
        self,
        n: int,
        segments: int = 1,
        *,
        continuous: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.n = check_int("n", n, minimum=1)
        self.segments = check_int("segments", segments, minimum=1)
        self.continuous = bool(continuous)
        self.stride, self.num_weights = piecewise_sizes(n, self.segments, self.continuous)
        self.num_active = n
        self._make_constants(device=device, dtype=dtype)

    def _make_constants(self, *, device: torch.device | str | None, dtype: torch.dtype | None) -> None:
        dtype = dtype or torch.get_default_dtype()
        nodes = chebyshev_lobatto_nodes(self.n, dtype=torch.float64)
        self.register_buffer("nodes", nodes.to(device=device, dtype=dtype), persistent=False)
        self.register_buffer(
            "chebyshev_to_lagrange", chebyshev_to_lagrange(nodes).to(device=device, dtype=dtype), persistent=False
        )

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        if self.segments == 1:
            return None, lagrange_basis_chebyshev(x, self.chebyshev_to_lagrange)
        index, t = locate_segments(x, self.segments)
        return index * self.stride, lagrange_basis_chebyshev(t, self.chebyshev_to_lagrange)

    def chebyshev_values(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        """The piece of every input and the Chebyshev polynomials of its local coordinate, laid
        out for :func:`~high_order_layers_torch.functional.sum_neuron_chebyshev`:
        ``(piece (B, I), T_0..T_{n-1} (B, n, I))``, or ``(None, T_1..T_{n-1} (B, n - 1, I))``
        for one segment (whose constant term becomes a bias)."""
        if self.segments == 1:
            return None, chebyshev_polynomials(x, self.n, dim=1, first=1)
        index, t = locate_segments(x, self.segments)
        return index, chebyshev_polynomials(t, self.n, dim=1)

    def chebyshev_coefficients(self, weight: Tensor) -> Tensor:
        """Per-piece Chebyshev coefficients of the link functions whose node values are ``weight``.

        Shape:
            weight: ``(O, I, num_weights)``. Output: ``(O, I, segments, n)``.
        """
        if self.continuous and self.n > 1:
            pieces = weight.unfold(-1, self.n, self.stride)  # (O, I, S, n), shared end nodes
        elif self.continuous:  # n == 1: one constant shared by every piece
            pieces = weight.unsqueeze(-1).expand(*weight.shape[:-1], self.segments, 1)
        else:
            pieces = weight.unflatten(-1, (self.segments, self.n))
        # One (links * pieces, n) x (n, n) product: as a batched product over the (O, I, S) links
        # CUDA runs it as one tiny GEMV per link, slower than the layer's whole GEMM (H200 profile).
        flat = pieces.reshape(-1, self.n) @ self.chebyshev_to_lagrange.t()
        return flat.view(pieces.shape)

    def node_positions(self) -> Tensor:
        """Global position in ``[-1, 1]`` of every weight's node, shape ``(num_weights,)``."""
        local = chebyshev_lobatto_nodes(self.n, dtype=torch.float64)
        piece = torch.arange(self.segments, dtype=torch.float64)[:, None]
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

    def extra_repr(self) -> str:
        return f"n={self.n}, segments={self.segments}, continuous={self.continuous}"


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

    def __init__(
        self,
        n: int,
        length: float = 2.0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.n = check_int("n", n, minimum=0)
        self.length = check_positive_float("length", length)
        self.num_weights = self.num_active = 2 * n + 1
        self._make_constants(device=device, dtype=dtype)

    def _make_constants(self, *, device: torch.device | str | None, dtype: torch.dtype | None) -> None:
        frequencies = fourier_frequencies(self.n, self.length, dtype=torch.float64)
        self.register_buffer(
            "frequencies", frequencies.to(device=device, dtype=dtype or torch.get_default_dtype()), persistent=False
        )

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        if cpu_kernels_support(x):  # one pass, no temporaries (same values to a few ulps)
            return None, fused_fourier_values(x, math.pi / self.length, self.n)
        return None, fourier_basis_harmonic(x, math.pi / self.length, self.n)

    def linear_coefficients(self) -> Tensor:
        coefficients = torch.zeros(self.num_weights, dtype=self.frequencies.dtype, device=self.frequencies.device)
        if self.n >= 1:
            # sin(pi x / length) is monotone on [-1, 1] when length >= 1; scale it to reach +-1.
            peak = 1.0 if self.length <= 2 else math.sin(math.pi / self.length)
            coefficients[self.n + 1] = 1.0 / peak
        return coefficients

    def extra_repr(self) -> str:
        return f"n={self.n}, length={self.length}"


class LinearBasis(Basis):
    """The single basis function ``x``: a link is ``f(x) = w x``, as in an ordinary weight."""

    num_weights = 1
    num_active = 1

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        return None, x.unsqueeze(-1)

    def linear_coefficients(self) -> Tensor:
        return torch.ones(1)
