"""Basis families as small modules: they own the nodes/frequencies (as buffers) of one family
and turn inputs into the sparse ``(start, values)`` description used by the neurons; and
:class:`BasisLayer`, the base of the layers built on a basis, which records in every state dict
what the weights mean.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._validation import check_bool, check_int, check_positive_float
from ..functional import (
    chebyshev_lobatto_nodes,
    chebyshev_polynomials,
    chebyshev_to_lagrange,
    fourier_frequencies,
    lagrange_basis_chebyshev,
    locate_segments,
    piecewise_sizes,
)
from ..kernels import fused_fourier_values

#: A value of a :meth:`Basis.function_config`: plain python, so ``torch.load(weights_only=True)``
#: reads a saved record back.
ConfigValue = str | int | float | bool | None

#: Key of a layer's record in its entry of ``state_dict._metadata``.
RECORD_KEY = "link_functions"


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

    def constant_coefficients(self) -> Tensor:
        """Weights of one link that make it ``f(x) = 1``; used for initialisation. Shape
        ``(num_weights,)``."""
        raise NotImplementedError

    def function_config(self) -> dict[str, ConfigValue]:
        """What the weights of a link mean: the family and every setting that changes the
        function a given set of weights describes, in a canonical form (two configurations
        describing the same functions give equal dicts). Subclasses with settings add them."""
        return {"basis": type(self).__name__}


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
        self.continuous = check_bool("continuous", continuous)
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

    def function_config(self) -> dict[str, ConfigValue]:
        continuous = self.continuous or self.segments == 1  # a single piece is continuous either way
        segments = 1 if continuous and self.n == 1 else self.segments  # one constant shared by every piece
        return {"basis": type(self).__name__, "n": self.n, "segments": segments, "continuous": continuous}

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
        values = fused_fourier_values(x, math.pi / self.length, self.n)  # (B, I, 2 n + 1)
        return None, (zero_derivative(values, x.unsqueeze(-1)) if self.n == 0 else values)

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

    def function_config(self) -> dict[str, ConfigValue]:
        return {"basis": type(self).__name__, "n": self.n, "length": self.length}

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

    def constant_coefficients(self) -> Tensor:
        return torch.ones(1)  # no constant in this family: the constant schemes set the slope


def zero_derivative(values: Tensor, x: Tensor) -> Tensor:
    """``values`` unchanged, made a function of ``x`` with derivative zero.

    Constant basis functions (``n = 1`` polynomials, ``n = 0`` Fourier series) give values that
    do not depend on the input, so without this the input of such a layer would get no gradient
    (``x.grad is None``) on the pure-torch path while the kernels give zeros. A ``where`` on a
    false condition rather than ``values + 0 * x``: an infinite input must not turn the values
    into NaN, and the gradient it passes back is 0, not ``0 * inf``.

    Shape:
        ``x`` broadcasts to ``values``; output as ``values``.
    """
    if not (x.requires_grad and torch.is_grad_enabled()):
        return values
    never = torch.zeros((), dtype=torch.bool, device=values.device)
    return torch.where(never, x, values)


def describe(config: object) -> str:
    """A :meth:`BasisLayer.function_config` as text, e.g.
    ``PiecewisePolynomialBasis(n=3, segments=2, continuous=True), neuron='sum'``."""
    if not isinstance(config, dict):
        return repr(config)
    settings = {key: value for key, value in config.items() if key not in ("basis", "neuron")}
    text = f"{config.get('basis')}({', '.join(f'{key}={value!r}' for key, value in settings.items())})"
    return text if "neuron" not in config else f"{text}, neuron={config['neuron']!r}"


class BasisLayer(nn.Module):
    """Base of the layers whose weights are the coefficients of link functions from
    ``self.basis``; it makes their state dicts say what the weights mean.

    Weights alone do not tell their functions apart: ``n = 4`` on 2 segments and ``n = 3`` on 3
    segments both have 7 weights per link, as do a Fourier series with 3 frequencies and a
    polynomial of 7 nodes. So ``state_dict()`` records :meth:`function_config` (plain python
    values) in the state dict's metadata, next to the version torch keeps for every module, and
    ``load_state_dict`` refuses a record that differs from this layer's: it raises torch's
    ``RuntimeError`` naming both configurations, after loading the other modules, and leaves this
    layer's weights unchanged. A state dict without a record (saved by an earlier version, or
    rebuilt as a plain ``dict``, which drops the metadata) loads unchecked, as before.

    The record is metadata rather than an ``_extra_state`` entry so that the state dict keeps
    holding only tensors: code that clones, averages or compares every entry keeps working, and
    ``torch.save``/``torch.load(weights_only=True)`` keep the metadata.
    """

    basis: Basis

    def function_config(self) -> dict[str, ConfigValue]:
        """What this layer's weights mean (see :meth:`Basis.function_config`)."""
        return self.basis.function_config()

    def _save_to_state_dict(self, destination, prefix, keep_vars):  # type: ignore[no-untyped-def]
        super()._save_to_state_dict(destination, prefix, keep_vars)
        metadata = getattr(destination, "_metadata", None)
        if metadata is not None:  # state_dict() has just added this module's entry
            metadata.setdefault(prefix[:-1], {})[RECORD_KEY] = self.function_config()

    def _load_from_state_dict(  # type: ignore[no-untyped-def]
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        saved = local_metadata.get(RECORD_KEY)
        ours = self.function_config()
        if saved is not None and saved != ours:
            error_msgs.append(
                f"{prefix[:-1] or type(self).__name__}: the state_dict holds link functions "
                f"{describe(saved)}, but this {type(self).__name__} has {describe(ours)}; build the layer with the "
                "saved configuration (refine_ can change it after loading)"
            )
            return  # the weights of other functions must not be copied in
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
