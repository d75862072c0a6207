"""Fixed positional embeddings: coordinates in ``[-1, 1]`` expanded into features per coordinate.

Every embedding maps an input ``(..., d)`` to ``(..., d * features)``: each of the ``d``
coordinates gets ``features`` numbers, and the per-coordinate blocks are concatenated in order
(coordinate 0's features first). They hold no parameters; a network learns what to do with the
features. The piecewise and Fourier embeddings evaluate the library's own bases, so a linear layer
after :class:`PiecewiseEmbedding` with the node values as weights is exactly a piecewise
polynomial link, and after :class:`FourierEmbedding` a Fourier-series link.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Unpack

import torch
from torch import Tensor, nn

from .._signatures import FactoryKwargs, factory_defaults, same_arguments_as, spell_out
from .._validation import check_bool, check_int, check_positive_float
from ..functional import expand_basis
from ._basis import FourierBasis, PiecewisePolynomialBasis


class PositionalEmbedding(nn.Module):
    """Abstract base: a fixed map from coordinates to ``features`` numbers per coordinate.

    Shape:
        Input: ``(..., d)`` (any number of leading dimensions, ``d >= 1``).
        Output: ``(..., d * features)``.
    """

    features: int

    def embed(self, x: Tensor) -> Tensor:
        """The features of every value of ``x``. Shape: ``(N, d)`` to ``(N, d, features)``."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if not x.is_floating_point():
            raise TypeError(f"coordinates must be a floating-point tensor, got dtype {x.dtype}")
        if x.dim() == 0:
            raise ValueError("coordinates need at least one dimension, (..., d); got a 0-d tensor")
        flat = x.reshape(-1, x.shape[-1])  # (..., d) -> (N, d)
        values = self.embed(flat)  # (N, d, features)
        return values.reshape(*x.shape[:-1], x.shape[-1] * self.features)  # -> (..., d * features)


class PiecewiseEmbedding(PositionalEmbedding):
    """Each coordinate's value on every function of a piecewise Lagrange basis.

    ``[-1, 1]`` is cut into ``segments`` equal pieces, each carrying the ``n`` Lagrange
    polynomials of :class:`PiecewisePolynomialBasis`; feature ``j`` of a coordinate is basis
    function ``j`` at that coordinate. Only the ``n`` functions of the coordinate's own piece are
    non-zero, so the features are a smooth "soft one-hot" code of position (``n = 1``,
    ``continuous=False`` gives the plain one-hot code of the piece). For every ``x`` the features
    sum to 1 (partition of unity) and, weighted by the node positions
    (:meth:`PiecewisePolynomialBasis.node_positions`), give back ``x``. Values outside
    ``[-1, 1]`` extrapolate the end pieces, as the layers do.

    Args:
        n: nodes per piece (``>= 1``).
        segments: number of pieces (``>= 1``).
        continuous: neighbouring pieces share their end node: ``segments * (n - 1) + 1``
            features per coordinate, continuous in ``x``; otherwise ``segments * n`` features,
            discontinuous at the piece edges.

    Shape:
        Input: ``(..., d)``. Output: ``(..., d * features)`` with ``features = basis.num_weights``.

    Attributes:
        basis: the :class:`PiecewisePolynomialBasis` evaluated.

    Example:
        >>> embedding = PiecewiseEmbedding(n=3, segments=4)
        >>> embedding(torch.zeros(5, 2)).shape
        torch.Size([5, 18])
    """

    @same_arguments_as(PiecewisePolynomialBasis)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.basis = PiecewisePolynomialBasis(*args, **kwargs)
        self.features = self.basis.num_weights

    def embed(self, x: Tensor) -> Tensor:
        start, values = self.basis(x)  # (N, d) piece starts, (N, d, n) active values
        return expand_basis(start, values, self.features)  # the dense (N, d, features) rows

    def extra_repr(self) -> str:
        return f"features={self.features}"


class FourierEmbedding(PositionalEmbedding):
    """Harmonics ``cos(k pi x / length)``, ``sin(k pi x / length)``, ``k = 1..n``, of each coordinate.

    The frequencies are those of :class:`FourierBasis` (fundamental period ``2 * length``; the
    default ``length = 2`` makes it 4, so ``-1`` and ``1`` get different features). Per
    coordinate the features are ordered ``[1,] cos_1..cos_n, sin_1..sin_n``.

    Args:
        n: number of harmonics (``>= 1``).
        length: half the fundamental period (``> 0``).
        constant: start each coordinate's block with the constant ``1`` (``2 n + 1`` features
            rather than ``2 n``).

    Shape:
        Input: ``(..., d)``. Output: ``(..., d * features)`` with ``features = 2 n (+ 1)``.

    Attributes:
        basis: the :class:`FourierBasis` evaluated.

    Example:
        >>> FourierEmbedding(4)(torch.zeros(3, 2)).shape
        torch.Size([3, 16])
    """

    @spell_out(factory_defaults)
    def __init__(
        self, n: int, length: float = 2.0, *, constant: bool = False, **factory: Unpack[FactoryKwargs]
    ) -> None:
        super().__init__()
        check_int("n", n, minimum=1)
        self.constant = check_bool("constant", constant)
        self.basis = FourierBasis(n, length, **factory)
        self.features = 2 * n + (1 if constant else 0)

    def embed(self, x: Tensor) -> Tensor:
        _, values = self.basis(x)  # (N, d, 2 n + 1): [1, cos_1..cos_n, sin_1..sin_n]
        return values if self.constant else values[..., 1:]

    def extra_repr(self) -> str:
        return f"features={self.features}" + (", constant=True" if self.constant else "")


class SinusoidalEmbedding(PositionalEmbedding):
    """The transformer's sinusoidal embedding: geometric frequencies, ``sin`` and ``cos`` interleaved.

    For the position ``p = scale * x`` feature ``2 i`` is ``sin(p / max_period ** (2 i / features))``
    and feature ``2 i + 1`` the ``cos`` of the same angle, ``i = 0 .. features / 2 - 1``
    ("Attention is all you need", section 3.5). Integer positions (``scale = 1``) reproduce the
    original; for coordinates in ``[-1, 1]`` set ``scale`` to about half the number of positions,
    so that the fastest frequency turns about one radian per position. Integer inputs are accepted
    and converted to the embedding's dtype.

    Args:
        features: features per coordinate (even, ``>= 2``).
        max_period: the ratio of the slowest to the fastest wavelength (``> 0``, 10000 in the paper).
        scale: factor applied to the input before the sines (``> 0``).

    Shape:
        Input: ``(..., d)``. Output: ``(..., d * features)``.

    Attributes:
        frequencies: ``(features / 2,)`` angular frequencies (non-persistent buffer).

    Example:
        >>> SinusoidalEmbedding(8)(torch.arange(4.0)[:, None]).shape
        torch.Size([4, 8])
    """

    frequencies: Tensor

    @spell_out(factory_defaults)
    def __init__(
        self, features: int, max_period: float = 10000.0, *, scale: float = 1.0, **factory: Unpack[FactoryKwargs]
    ) -> None:
        super().__init__()
        self.features = check_int("features", features, minimum=2)
        if features % 2:
            raise ValueError(f"features must be even (sin and cos pairs), got {features}")
        self.max_period = check_positive_float("max_period", max_period)
        self.scale = check_positive_float("scale", scale)
        self._make_constants(**factory)

    def _make_constants(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        exponents = torch.arange(0, self.features, 2, dtype=torch.float64) / self.features
        frequencies = self.max_period**-exponents  # computed in float64, then cast
        dtype = dtype or torch.get_default_dtype()
        self.register_buffer("frequencies", frequencies.to(device=device, dtype=dtype), persistent=False)

    def _apply(self, fn, recurse=True):
        # After a dtype/device change recompute the frequencies rather than upcast rounded ones.
        super()._apply(fn, recurse)
        self._make_constants(device=self.frequencies.device, dtype=self.frequencies.dtype)
        return self

    def forward(self, x: Tensor) -> Tensor:
        if not x.is_floating_point():
            x = x.to(self.frequencies.dtype)  # integer positions
        return super().forward(x)

    def embed(self, x: Tensor) -> Tensor:
        angle = (x * self.scale).unsqueeze(-1) * self.frequencies  # (N, d, features / 2)
        return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)  # (N, d, features / 2, 2) -> (N, d, F)

    def extra_repr(self) -> str:
        text = f"features={self.features}"
        if self.max_period != 10000.0:
            text += f", max_period={self.max_period}"
        return text + (f", scale={self.scale}" if self.scale != 1.0 else "")


#: The embeddings :func:`positional_embedding` builds, by name.
POSITIONAL_EMBEDDINGS: dict[str, Callable[..., PositionalEmbedding]] = {
    "continuous": partial(PiecewiseEmbedding, continuous=True),
    "discontinuous": partial(PiecewiseEmbedding, continuous=False),
    "fourier": FourierEmbedding,
    "sinusoidal": SinusoidalEmbedding,
}


def positional_embedding(kind: str, *args: object, **kwargs: object) -> PositionalEmbedding:
    """Build the positional embedding ``kind`` with the arguments of its class.

    ``"continuous"`` / ``"discontinuous"``: :class:`PiecewiseEmbedding` (``n, segments``) with
    shared or separate piece ends; ``"fourier"``: :class:`FourierEmbedding` (``n, length,
    constant``); ``"sinusoidal"``: :class:`SinusoidalEmbedding` (``features, max_period, scale``).

    Raises:
        ValueError: ``kind`` is not one of :data:`POSITIONAL_EMBEDDINGS` (the message lists them).

    Example:
        >>> positional_embedding("fourier", n=3)(torch.zeros(2, 1)).shape
        torch.Size([2, 6])
    """
    if kind not in POSITIONAL_EMBEDDINGS:
        raise ValueError(f"unknown positional embedding {kind!r}; valid kinds: {', '.join(POSITIONAL_EMBEDDINGS)}")
    return POSITIONAL_EMBEDDINGS[kind](*args, **kwargs)
