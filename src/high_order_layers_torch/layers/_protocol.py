"""What refinement and inspection need of a layer, defined once.

A *high-order module* is any ``nn.Module`` with a :class:`~high_order_layers_torch.bases.Basis`
as ``basis`` and a tensor ``weight`` whose axis ``basis_dim`` holds the ``num_weights`` weights
of one link. It may define ``periodicity`` and ``out_of_range`` (its input policy); the library's
layers all do, and also ``basis_dim``. Refinement, copying, export, pruning and plots use only
this, so a user's own module with these attributes works with them too.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor, nn

from ..bases import Basis
from ..functional import prepare_input


@runtime_checkable
class HighOrderModule(Protocol):
    """The attributes of a high-order module (see the module docstring)."""

    basis: Basis
    weight: Tensor


def is_high_order(module: nn.Module) -> bool:
    """Whether ``module`` carries link functions: a ``Basis`` as ``basis`` and a tensor ``weight``."""
    return isinstance(getattr(module, "basis", None), Basis) and isinstance(getattr(module, "weight", None), Tensor)


def basis_of(module: nn.Module) -> Basis:
    """``module.basis``, typed (``TypeError`` for a module that is not high-order)."""
    basis = getattr(module, "basis", None)
    if not isinstance(basis, Basis):
        raise TypeError(f"{type(module).__name__} has no Basis `basis`; it is not a high-order module")
    return basis


def weight_of(module: nn.Module) -> Tensor:
    """``module.weight``, typed (``TypeError`` for a module that is not high-order)."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, Tensor):
        raise TypeError(f"{type(module).__name__} has no tensor `weight`; it is not a high-order module")
    return weight


def basis_dim(module: nn.Module) -> int:
    """The axis of ``module.weight`` that holds the weights of one link: the module's
    ``basis_dim``, else the last axis (fully-connected ``(out, in, M)``)."""
    return int(getattr(module, "basis_dim", weight_of(module).dim() - 1))


def prepare_module_input(module: nn.Module, x: Tensor) -> Tensor:
    """The module's input transform: its mirror fold ``periodicity`` (if any), then its
    ``out_of_range`` policy (``"extrapolate"`` when it names none)."""
    return prepare_input(x, getattr(module, "out_of_range", "extrapolate"), getattr(module, "periodicity", None))
