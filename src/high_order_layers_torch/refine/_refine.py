"""p- and h-refinement of every high-order layer of a model, in place.

A high-order module is any module with a ``basis`` (a :class:`~high_order_layers_torch.bases.Basis`)
and a ``weight`` parameter whose axis ``basis_dim`` indexes that basis (see
``layers/_protocol.py``). What a family can refine, and how exactly, is the basis' business
(:attr:`~high_order_layers_torch.bases.Basis.refinable`, :meth:`~high_order_layers_torch.bases.Basis.replace`,
:meth:`~high_order_layers_torch.bases.Basis.exact_transfer`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .._validation import check_int
from ..bases import Basis
from ..layers._protocol import basis_dim, basis_of, is_high_order, weight_of
from ._transfer import transfer_error, transfer_matrix

#: A new value, or a function from a layer's current value to its new one.
Target = int | Callable[[int], int] | None


@dataclass(frozen=True)
class Refine:
    """What :func:`refine_` changes in each selected layer.

    ``n`` and ``segments`` each take a new value (the same for every layer) or a function of a
    layer's current value (``segments=lambda s: 2 * s`` doubles every layer's segments);
    ``None`` keeps a layer's value. ``n`` counts nodes per piece for polynomial layers and
    frequencies for Fourier layers; ``segments`` only applies to piecewise-polynomial layers
    (a single-polynomial layer is a piecewise layer with one segment, so it becomes piecewise).

    Attributes:
        n: new nodes per piece / number of frequencies.
        segments: new number of pieces.
        samples_per_piece: Gauss-Legendre points per interval for the least-squares case and
            for the reported error (``>= 1``; raised where the degrees need more).

    Raises:
        ValueError: if neither ``n`` nor ``segments`` is given.
        TypeError: if either is not an int, a callable or ``None``.
    """

    n: Target = None
    segments: Target = None
    samples_per_piece: int = 16

    def __post_init__(self) -> None:
        for name in ("n", "segments"):
            value = getattr(self, name)
            if value is None or callable(value):
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an int, a callable int -> int or None; got {value!r}")
        if self.n is None and self.segments is None:
            raise ValueError("Refine needs n, segments or both; got neither")
        check_int("samples_per_piece", self.samples_per_piece, minimum=1)


@dataclass(frozen=True)
class LayerRefinement:
    """What happened to one layer.

    Attributes:
        old: the basis before, as its repr.
        new: the basis after, as its repr.
        exact: the new weights reproduce the old functions to round-off (interpolation or
            zero-padding); ``False`` means a least-squares projection.
        max_error: ``max |f_new(x) - f_old(x)|`` over every link of the layer and the
            quadrature points of every interval between joints (not at the joints themselves).
    """

    old: str
    new: str
    exact: bool
    max_error: float


def _resolve(target: Target, current: int) -> int:
    return current if target is None else (target(current) if callable(target) else int(target))


def refined_basis(basis: Basis, config: Refine, name: str) -> Basis | None:
    """The basis ``config`` turns ``basis`` into, or ``None`` for a family with nothing to refine.

    Raises:
        ValueError: for a target the family cannot take (``segments`` for a single-piece
            family), or an invalid value (from the family's constructor).
    """
    if not basis.refinable:
        return None
    changes = {}
    for setting in ("n", "segments"):
        target = getattr(config, setting)
        if target is None:
            continue
        if setting not in basis.refinable:
            raise ValueError(
                f"layer {name!r} is {basis.description}, which has no {setting}; refine it with "
                f"{' and '.join(basis.refinable)} only, or leave it out with filter_fn"
            )
        changes[setting] = _resolve(target, getattr(basis, setting))
    return basis.replace(**changes)


def apply_transfer(weight: Tensor, transfer: Tensor, dim: int) -> Tensor:
    """Map weights along axis ``dim`` with ``transfer`` (float64 arithmetic, result in ``weight``'s dtype).

    Shape:
        weight: ``(..., M_old, ...)`` with ``M_old`` at ``dim``. transfer: ``(M_new, M_old)``.
        Output: ``weight``'s shape with ``M_new`` at ``dim``.
    """
    if weight.shape[dim] != transfer.shape[1]:
        raise ValueError(
            f"weight axis {dim} has {weight.shape[dim]} entries but the basis has {transfer.shape[1]} weights"
        )
    moved = torch.movedim(weight.detach(), dim, -1).to(torch.float64)  # (..., M_old)
    mapped = moved @ transfer.to(moved.device).T  # (..., M_new)
    return torch.movedim(mapped, -1, dim).to(weight.dtype).contiguous()


def links_of(weight: Tensor, dim: int) -> Tensor:
    """Every link's weights as rows. Shape: ``(L, M)``."""
    return torch.movedim(weight.detach(), dim, -1).reshape(-1, weight.shape[dim])


def refine_(
    model: nn.Module,
    config: Refine,
    filter_fn: Callable[[nn.Module, str], bool] | None = None,
) -> dict[str, LayerRefinement]:
    """Change the polynomial order (p) and/or the number of pieces (h) of every high-order
    layer of ``model``, in place, keeping each link's function.

    For each selected module this builds the new basis, computes the transfer matrix
    ``T`` (``M_new x M_old``), maps the weight along the module's ``basis_dim`` and swaps both:
    ``module.basis`` becomes the new basis and ``module.weight`` a **new** ``nn.Parameter``.
    An optimizer built before the call still holds the old parameters (and its state is shaped
    for them): build a new optimizer afterwards.

    Exact to round-off (``exact=True`` in the report): piecewise polynomials with ``n`` not
    decreasing and the new segment count a multiple of the old one (continuous and
    discontinuous alike), and Fourier series with ``n`` not decreasing. Anything else
    (coarsening, non-multiple segment counts) is the least-squares projection of each link's
    function on ``[-1, 1]``; check ``max_error`` in the report.

    Args:
        model: the model to change in place (a single layer works too).
        config: a :class:`Refine`.
        filter_fn: ``filter_fn(module, name) -> bool`` selects modules; by default every module
            with a piecewise-polynomial or Fourier basis. Modules with other bases (for example
            the plain ``product`` layer) are never touched.

    Returns:
        ``{module name: LayerRefinement}`` for every module that changed; a selected module
        already at the target ``n`` and ``segments`` is left as it is and not reported.

    Raises:
        TypeError: if ``config`` is not a :class:`Refine`.
        ValueError: for an invalid target (for example ``n=0`` for a polynomial layer),
            ``segments`` applied to a Fourier layer, or a layer on the meta device. Checked for
            every layer before any changes.

    Example:
        >>> model = HighOrderMLP("continuous", n=2, in_width=2, out_width=1, hidden_layers=1, hidden_width=4)
        >>> report = refine_(model, Refine(n=5, segments=lambda s: 2 * s))
        >>> all(r.exact for r in report.values())
        True
    """
    if not isinstance(config, Refine):
        raise TypeError(f"config must be a Refine, got {type(config).__name__}")
    plan: list[tuple[str, nn.Module, Basis]] = []
    for name, module in model.named_modules():
        if not is_high_order(module):
            continue
        if filter_fn is not None and not filter_fn(module, name):
            continue
        new_basis = refined_basis(basis_of(module), config, name)
        if new_basis is not None and repr(new_basis) != repr(basis_of(module)):
            if weight_of(module).is_meta:
                raise ValueError(
                    f"layer {name or type(module).__name__!r} is on the meta device and holds no weights to refine; "
                    "materialise the model first (model.to_empty(device=...), then load_state_dict), or build it "
                    "with the target n and segments"
                )
            plan.append((name, module, new_basis))

    report: dict[str, LayerRefinement] = {}
    for name, module, new_basis in plan:
        old_basis, weight, dim = basis_of(module), weight_of(module), basis_dim(module)
        transfer, exact = transfer_matrix(old_basis, new_basis, samples_per_piece=config.samples_per_piece)
        error = transfer_error(
            old_basis, new_basis, transfer, links_of(weight, dim), samples_per_piece=config.samples_per_piece
        )
        module.basis = new_basis
        new_weight = apply_transfer(weight, transfer, dim)
        new_weight = new_weight.contiguous()  # every parameter is contiguous (LBFGS, flattening)
        module.weight = nn.Parameter(new_weight, requires_grad=weight.requires_grad)
        report[name] = LayerRefinement(repr(old_basis), repr(new_basis), exact, error)
    return report
