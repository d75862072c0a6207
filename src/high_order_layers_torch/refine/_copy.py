"""Copying the learned functions of one network into another of the same shape but different
``n`` / ``segments`` (the reference's ``interpolate_high_order_mlp`` and
``hp_refine_high_order_mlp``)."""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_int
from ..layers._protocol import basis_of, weight_of
from ._match import check_layers_match, check_modules_match, function_modules
from ._refine import LayerRefinement, apply_transfer, basis_dim, links_of
from ._transfer import transfer_error, transfer_matrix


def _own_state_pairs(source: nn.Module, target: nn.Module, name: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(destination in target, value in source)`` for every parameter and buffer ``source`` holds
    itself, checked (so nothing is copied when any pair does not fit)."""
    own: dict[str, torch.Tensor] = dict(source.named_parameters(recurse=False))
    own.update(source.named_buffers(recurse=False))
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
    for key, value in own.items():
        destination = getattr(target, key, None)
        if not isinstance(destination, torch.Tensor) or destination.shape != value.shape:
            raise ValueError(f"{name}.{key}: cannot copy a tensor of shape {tuple(value.shape)} into {destination!r}")
        pairs.append((destination, value))
    return pairs


def copy_functions_(
    network_in: nn.Module, network_out: nn.Module, *, samples_per_piece: int = 16
) -> dict[str, LayerRefinement]:
    """Make every high-order layer of ``network_out`` carry the functions of the matching layer
    of ``network_in``; copy every other parameter and buffer unchanged.

    Layers are matched in registration order. Matching high-order layers must have the same
    weight shape apart from the basis axis; their bases may differ in ``n``, ``segments``,
    continuity or family, and nothing else about them may: the neuron, ``alpha`` (product
    neurons), ``rescale_output`` (sum neurons), ``out_of_range``, ``periodicity``, the bias, a
    Fourier basis's ``length`` and the convolution geometry (``kernel_size``, ``stride``,
    ``padding``, ``output_padding``, ``dilation``, ``groups``, ``padding_mode``) must agree, since
    the same link functions would otherwise give another function. Every other module must have
    the same class and hyper-parameters (``extra_repr``), dropout's probability excepted.

    The copy is exact to round-off where :func:`refine_` would be (the new space contains the
    old one) and a least-squares projection otherwise; the report says which, with the largest
    error. Biases are copied as they are. ``network_out`` keeps its own parameter objects (values
    change in place with ``copy_``), so an optimizer over it stays valid, though its state may be
    stale. Everything is checked before anything changes.

    Args:
        network_in: the trained source network (not modified).
        network_out: a network of the same architecture, changed in place.
        samples_per_piece: quadrature points per interval for projections and error checks.

    Returns:
        ``{name in network_out: LayerRefinement}`` for every high-order layer.

    Raises:
        ValueError: if the networks do not have matching layers: another number of layers or
            modules, other weight shapes, or a setting listed above that differs (the message
            names both layers, the setting and both values).
    """
    check_int("samples_per_piece", samples_per_piece, minimum=1)
    high_in, other_in = function_modules(network_in)
    high_out, other_out = function_modules(network_out)
    if len(high_in) != len(high_out):
        raise ValueError(
            f"network_in has {len(high_in)} high-order layers but network_out has {len(high_out)}; "
            "the networks must have the same architecture"
        )
    plan = []
    for (name_in, source), (name, target) in zip(high_in, high_out, strict=True):
        check_layers_match(source, name_in, target, name)
        dim_in, dim_out = basis_dim(source), basis_dim(target)
        weight_in, weight_out = weight_of(source), weight_of(target)
        shape_in = list(weight_in.shape)
        shape_out = list(weight_out.shape)
        del shape_in[dim_in], shape_out[dim_out]
        if dim_in != dim_out or shape_in != shape_out:
            raise ValueError(
                f"layers {name_in!r} and {name!r} do not match: weight shapes {tuple(weight_in.shape)} and "
                f"{tuple(weight_out.shape)} (basis axes {dim_in} and {dim_out})"
            )
        bias_in, bias_out = getattr(source, "bias", None), getattr(target, "bias", None)
        if (bias_in is None) != (bias_out is None) or (
            bias_in is not None and bias_out is not None and bias_in.shape != bias_out.shape
        ):
            raise ValueError(f"layers {name_in!r} and {name!r} do not match: their biases differ")
        # transfers before any copy: an unsupported basis raises here, with nothing changed yet
        transfer, exact = transfer_matrix(basis_of(source), basis_of(target), samples_per_piece=samples_per_piece)
        plan.append((source, name, target, dim_in, transfer, exact))
    check_modules_match(other_in, other_out)
    state = [
        pair
        for (_, source), (name, target) in zip(other_in, other_out, strict=True)
        for pair in _own_state_pairs(source, target, name)
    ]

    report: dict[str, LayerRefinement] = {}
    with torch.no_grad():
        for source, name, target, dim, transfer, exact in plan:
            basis_in, basis_out = basis_of(source), basis_of(target)
            weight_in = weight_of(source)
            error = transfer_error(
                basis_in, basis_out, transfer, links_of(weight_in, dim), samples_per_piece=samples_per_piece
            )
            weight_of(target).copy_(apply_transfer(weight_in, transfer, dim))
            bias_in, bias_out = getattr(source, "bias", None), getattr(target, "bias", None)
            if bias_in is not None and bias_out is not None:  # both or neither (checked above)
                bias_out.copy_(bias_in)
            report[name] = LayerRefinement(repr(basis_in), repr(basis_out), exact, error)
        for destination, value in state:
            destination.copy_(value)
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

    Raises:
        ValueError: if a layer or module of ``network_out`` does not match its counterpart in
            ``network_in`` beyond ``n``, ``segments``, continuity and basis family (see
            :func:`copy_functions_`); nothing is changed then.
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

    Raises:
        ValueError: as :func:`interpolate_high_order_mlp`.
    """
    return copy_functions_(network_in, network_out)
