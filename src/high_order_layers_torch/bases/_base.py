"""What a family of link functions provides: the :class:`Basis` protocol.

Layers, refinement and inspection call these methods and never test a basis class, so a new
family is one module implementing them plus one line in :data:`~high_order_layers_torch.bases.BASIS_FAMILIES`.
Only :meth:`Basis.forward`, :meth:`Basis.linear_coefficients`, :meth:`Basis.constant_coefficients`
and :meth:`Basis.settings` are required; every other method has a default that is correct for any
family, and a family overrides it to be exact (refinement, export) or fast (:meth:`Basis.layout`,
the form in which the kernels contract its links). The protocol holds maths, identity,
refinement and export; how a layer contracts its links is decided in
:mod:`high_order_layers_torch.kernels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..functional import clamp_if as clamp_if
from ..functional import expand_basis
from ..functional import zero_derivative as zero_derivative
from ..kernels import Evaluated, Layout

#: A value of a :meth:`Basis.function_config` or :meth:`Basis.settings`: plain python, so
#: ``torch.load(weights_only=True)`` reads a saved record back.
ConfigValue = str | int | float | bool | None


@dataclass(frozen=True)
class PolynomialPieces:
    """A link function as one polynomial per equal piece of ``[-1, 1]`` (float64).

    Piece ``s`` covers ``[edges[s], edges[s + 1]]`` and is ``sum_k coefficients[s, k] t^k`` in
    its local coordinate ``t`` in ``[-1, 1]``.

    Shape:
        edges: ``(S + 1,)``. coefficients: ``(S, K)``.
    """

    edges: Tensor
    coefficients: Tensor


@dataclass(frozen=True)
class FourierTerms:
    """A link function as ``constant + sum_k cosines[k] cos(w_k x) + sines[k] sin(w_k x)`` with
    ``w_k = (k + 1) pi / length`` (float64).

    Shape:
        cosines, sines: ``(n,)``.
    """

    constant: float
    cosines: Tensor
    sines: Tensor
    length: float


ClosedForm = PolynomialPieces | FourierTerms


class Basis(nn.Module):
    """A family of functions a link can carry, and everything the library does with it.

    A link holds ``num_weights`` weights; for a given input only ``num_active`` consecutive
    ones contribute (from ``start``, see :meth:`forward`).

    Class attributes a family sets:
        description: how messages name the family (``"a Fourier series"``).
        refinable: the :meth:`settings` that :func:`~high_order_layers_torch.refine.refine_`
            may change (``("n", "segments")`` for piecewise polynomials).
        holds_constants: whether a link can be a constant function (pruning fills with them).
        fixed_settings: the settings a refinement within the family must keep.

    Shape (of :meth:`forward`):
        Input: ``(B, I)`` values in ``[-1, 1]``.
        Output: ``(start, values)`` with ``start`` of shape ``(B, I)`` (int64) or ``None`` when
        every weight is active, and ``values`` of shape ``(B, I, num_active)``.
    """

    num_weights: int
    num_active: int
    n: int
    #: Number of pieces of ``[-1, 1]`` on which the functions are smooth.
    segments: int = 1
    description: ClassVar[str] = "a basis"
    refinable: ClassVar[tuple[str, ...]] = ()
    holds_constants: ClassVar[bool] = True
    #: Settings two bases of this family must share for weights to move between them as a
    #: refinement (Fourier series of other periods are not refinements of one another).
    fixed_settings: ClassVar[tuple[str, ...]] = ()

    def _apply(self, fn, recurse=True):
        # Nodes and change-of-basis matrices are derived constants: after a dtype/device change
        # recompute them in float64 and cast, rather than upcasting values rounded to float32.
        super()._apply(fn, recurse)
        reference = next(self.buffers(), None)
        if reference is not None:
            self._make_constants(device=reference.device, dtype=reference.dtype)
        return self

    def _make_constants(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        """(Re)register the non-persistent constant buffers in ``dtype`` on ``device``."""

    # ----------------------------------------------------------------------------------------
    # Required
    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        raise NotImplementedError

    def settings(self) -> dict[str, ConfigValue]:
        """The constructor's arguments (``type(self)(**settings())`` builds the same family)."""
        raise NotImplementedError

    def linear_coefficients(self) -> Tensor:
        """Weights of one link that make it (close to) ``f(x) = x`` on ``[-1, 1]``; used for
        initialisation. Shape ``(num_weights,)``."""
        raise NotImplementedError

    def constant_coefficients(self) -> Tensor:
        """Weights of one link that make it ``f(x) = 1`` (where :attr:`holds_constants`); used
        for initialisation and pruning. Shape ``(num_weights,)``."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------
    # Identity and rebuilding
    def function_config(self) -> dict[str, ConfigValue]:
        """What the weights of a link mean: the family and every setting that changes the
        function a given set of weights describes, in a canonical form (two configurations
        describing the same functions give equal dicts)."""
        return {"basis": type(self).__name__, **self.settings()}

    def replace(self, **changes: Any) -> Basis:
        """A new basis of this family with :meth:`settings` updated by ``changes`` (and
        ``device``/``dtype``, default this basis' own); constants are computed afresh."""
        reference = next(self.buffers(), None)
        factory = (
            {"device": None, "dtype": None}
            if reference is None
            else {
                "device": reference.device,
                "dtype": reference.dtype,
            }
        )
        factory.update({key: changes.pop(key) for key in ("device", "dtype") if key in changes})
        unknown = sorted(set(changes) - set(self.settings()))
        if unknown:
            raise ValueError(f"{type(self).__name__} has the settings {sorted(self.settings())}; got {unknown}")
        return type(self)(**{**self.settings(), **changes}, **factory)

    def float64_twin(self) -> Basis:
        """The same basis in float64 on the CPU, its constants computed in float64 (not up-cast)."""
        return self.replace(device="cpu", dtype=torch.float64)

    # ----------------------------------------------------------------------------------------
    # Geometry
    def joints(self) -> Tensor:
        """Edges of the pieces of ``[-1, 1]`` on which the functions are smooth, float64, on the
        CPU, ascending. Shape ``(segments + 1,)``."""
        # (2 i) / S is correctly rounded, so equal fractions from different S give equal floats.
        return -1 + (2 * torch.arange(self.segments + 1, dtype=torch.float64)) / self.segments

    def node_positions(self) -> Tensor | None:
        """For a nodal family (each weight the link's value at a point), those points, shape
        ``(num_weights,)``; ``None`` otherwise."""
        return None

    def dense(self, x: Tensor) -> Tensor:
        """Every basis function at the values ``x``. Shape: ``(*)`` -> ``(*, num_weights)``."""
        start, values = self(x.reshape(-1, 1))  # (N, 1), (N, 1, K)
        return expand_basis(start, values, self.num_weights)[:, 0, :].reshape(*x.shape, self.num_weights)

    # ----------------------------------------------------------------------------------------
    # Refinement and export
    def exact_transfer(self, new: Basis) -> Tensor | None:
        """The matrix ``T`` (float64, CPU, ``(new.num_weights, num_weights)``) with which
        ``new`` reproduces every link of this basis exactly (to round-off), or ``None`` when this
        family does not know one (refinement then projects by least squares). Called on float64
        twins."""
        return None

    def closed_form(self, weights: Tensor) -> ClosedForm:
        """One link's function as formulas, from its ``(num_weights,)`` float64 weights.

        Raises:
            TypeError: for a family without a closed form.
        """
        raise TypeError(f"no closed form for basis {type(self).__name__}")

    # ----------------------------------------------------------------------------------------
    # Computation
    def layout(self) -> Layout:
        """The form of this family's links as the kernels take it (see
        :mod:`high_order_layers_torch.kernels`): the default, :class:`~high_order_layers_torch.kernels.Evaluated`,
        contracts the values of :meth:`forward` in pure torch; a family with a kernel returns
        its own form (:class:`~high_order_layers_torch.kernels.PiecewiseLagrange`, ...)."""
        return Evaluated(self, self.num_weights, self.num_active)
