"""Copying the learned functions of one network into another of the same shape but different
``n`` / ``segments`` (the reference's ``interpolate_high_order_mlp`` and
``hp_refine_high_order_mlp``)."""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_int
from ..layers import Basis
from ._refine import LayerRefinement, apply_transfer, basis_dim, is_high_order, links_of
from ._transfer import transfer_error, transfer_matrix


def _has_own_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def _layers(network: nn.Module) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, nn.Module]]]:
    """(high-order modules, other modules holding parameters or buffers), in registration order."""
    high, other = [], []
    for name, module in network.named_modules():
        if is_high_order(module):
            high.append((name, module))
        elif not isinstance(module, Basis) and _has_own_state(module):
            other.append((name, module))
    return high, other


def _copy_own_state_(source: nn.Module, target: nn.Module, name: str) -> None:
    own = dict(source.named_parameters(recurse=False))
    own.update(source.named_buffers(recurse=False))
    for key, value in own.items():
        destination = getattr(target, key, None)
        if not isinstance(destination, torch.Tensor) or destination.shape != value.shape:
            raise ValueError(f"{name}.{key}: cannot copy a tensor of shape {tuple(value.shape)} into {destination!r}")
        destination.copy_(value)


def copy_functions_(
    network_in: nn.Module, network_out: nn.Module, *, samples_per_piece: int = 16
) -> dict[str, LayerRefinement]:
    """Make every high-order layer of ``network_out`` carry the functions of the matching layer
    of ``network_in``; copy every other parameter and buffer unchanged.

    Layers are matched in registration order. Matching high-order layers must have the same
    weight shape apart from the basis axis; their bases may differ in ``n``, ``segments``,
    continuity or family. The copy is exact to round-off where :func:`refine_` would be (the
    new space contains the old one) and a least-squares projection otherwise; the report says
    which, with the largest error. Biases are copied as they are. ``network_out`` keeps its own
    parameter objects (values change in place with ``copy_``), so an optimizer over it stays
    valid, though its state may be stale.

    Args:
        network_in: the trained source network (not modified).
        network_out: a network of the same architecture, changed in place.
        samples_per_piece: quadrature points per interval for projections and error checks.

    Returns:
        ``{name in network_out: LayerRefinement}`` for every high-order layer.

    Raises:
        ValueError: if the networks do not have matching layers.
    """
    check_int("samples_per_piece", samples_per_piece, minimum=1)
    high_in, other_in = _layers(network_in)
    high_out, other_out = _layers(network_out)
    if len(high_in) != len(high_out):
        raise ValueError(
            f"network_in has {len(high_in)} high-order layers but network_out has {len(high_out)}; "
            "the networks must have the same architecture"
        )
    if len(other_in) != len(other_out):
        raise ValueError(
            f"network_in has {len(other_in)} other modules with parameters or buffers but network_out has "
            f"{len(other_out)}; the networks must have the same architecture"
        )
    plan = []
    for (name_in, source), (name, target) in zip(high_in, high_out, strict=True):
        dim_in, dim_out = basis_dim(source), basis_dim(target)
        shape_in = list(source.weight.shape)
        shape_out = list(target.weight.shape)
        del shape_in[dim_in], shape_out[dim_out]
        if dim_in != dim_out or shape_in != shape_out:
            raise ValueError(
                f"layers {name_in!r} and {name!r} do not match: weight shapes {tuple(source.weight.shape)} and "
                f"{tuple(target.weight.shape)} (basis axes {dim_in} and {dim_out})"
            )
        bias_in, bias_out = getattr(source, "bias", None), getattr(target, "bias", None)
        if (bias_in is None) != (bias_out is None) or (bias_in is not None and bias_in.shape != bias_out.shape):
            raise ValueError(f"layers {name_in!r} and {name!r} do not match: their biases differ")
        plan.append((source, name, target, dim_in))
    for (name_in, source), (name, target) in zip(other_in, other_out, strict=True):
        if type(source) is not type(target):
            raise ValueError(
                f"modules {name_in!r} ({type(source).__name__}) and {name!r} ({type(target).__name__}) do not match"
            )

    report: dict[str, LayerRefinement] = {}
    with torch.no_grad():
        for source, name, target, dim in plan:
            transfer, exact = transfer_matrix(source.basis, target.basis, samples_per_piece=samples_per_piece)
            error = transfer_error(
                source.basis, target.basis, transfer, links_of(source.weight, dim), samples_per_piece=samples_per_piece
            )
            target.weight.copy_(apply_transfer(source.weight, transfer, dim))
            if getattr(source, "bias", None) is not None:
                target.bias.copy_(source.bias)
            report[name] = LayerRefinement(repr(source.basis), repr(target.basis), exact, error)
        for (_, source), (name, target) in zip(other_in, other_out, strict=True):
            _copy_own_state_(source, target, name)
    return report


def interpolate_high_order_mlp(network_in: nn.Module, network_out: nn.Module) -> dict[str, LayerRefinement]:
    """p-refinement between two networks: give ``network_out`` (same architecture, any ``n``)
    the functions of ``network_in``.

    With ``n_out >= n_in`` and the same segments the output network computes the same function
    to round-off, ready to train further at the higher order. Any other ``n`` / ``segments``
    pair works too (see :func:`copy_functions_`, which this calls). To refine one network in
    place instead, use :func:`refine_`.

    Returns:
        The per-layer report of :func:`copy_functions_`.
    """
    return copy_functions_(network_in, network_out)


def hp_refine_high_order_mlp(network_in: nn.Module, network_out: nn.Module) -> dict[str, LayerRefinement]:
    """h- and p-refinement between two networks: give ``network_out`` (same architecture, any
    ``n`` and ``segments``) the functions of ``network_in``.

    Exact to round-off when every layer of ``network_out`` has at least the ``n`` of its source
    and a multiple of its segments; a reported least-squares projection otherwise (see
    :func:`copy_functions_`, which this calls).

    Returns:
        The per-layer report of :func:`copy_functions_`.
    """
    return copy_functions_(network_in, network_out)
