"""Addressing single links of any high-order layer, fully-connected or convolutional.

A *high-order layer* is any module with a ``basis`` (a :class:`~high_order_layers_torch.layers.Basis`)
and a ``weight`` whose axis ``basis_dim`` holds the ``M`` weights of one link. Fully-connected
layers (3-d weight) use the last axis when they define no ``basis_dim``. A *link* is addressed by
the index of ``weight`` with the basis axis removed:

================================  ===========================================  =========================
layer                             weight                                       link index
================================  ===========================================  =========================
fully-connected                   ``(out, in, M)``                             ``(out, in)``
convolution (``basis_dim = 2``)   ``(out, in // groups, M, *kernel_size)``     ``(out, in_in_group, *k)``
transposed conv (``basis_dim=1``) ``(in, M, out // groups, *kernel_size)``     ``(in, out_in_group, *k)``
================================  ===========================================  =========================
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from ..layers._protocol import basis_dim, basis_of, is_high_order, prepare_module_input, weight_of

Link = tuple[int, ...]


#: What the functions taking one layer accept, for their error messages.
ACCEPTED_LAYERS = (
    "HighOrderLinear, HighOrderConvNd or HighOrderConvTransposeNd (and their subclasses, e.g. the classes of "
    "FC_LAYERS, CONV_LAYERS and CONV_TRANSPOSE_LAYERS), or any module with a Basis `basis` and a tensor `weight`"
)


def check_module(model: object, what: str) -> nn.Module:
    """Return ``model`` if it is an ``nn.Module``, else raise ``TypeError`` naming ``what`` needed it."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{what} needs an nn.Module containing high-order layers; got {type(model).__name__}")
    return model


def check_high_order(module: object, what: str) -> nn.Module:
    """Return ``module`` if it is a high-order layer, else raise ``TypeError`` naming the accepted types."""
    if not isinstance(module, nn.Module) or not is_high_order(module):
        raise TypeError(f"{what} needs a high-order layer: {ACCEPTED_LAYERS}; got {type(module).__name__}")
    return module


def check_materialised(module: nn.Module, what: str) -> None:
    """Raise ``ValueError`` if ``module`` holds meta tensors, whose values do not exist."""
    for name, tensor in itertools.chain(module.named_parameters(), module.named_buffers()):
        if tensor.is_meta:
            raise ValueError(
                f"{what} needs the values of the weights, but {type(module).__name__}'s {name!r} is on the meta "
                "device and holds no values; materialise the model first with model.to_empty(device=...) and "
                "load a state_dict (model.load_state_dict(...))"
            )


def high_order_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every high-order layer of ``model`` (itself included) as ``(name, module)``, in module order.

    The name is the one ``model.named_modules()`` gives (``""`` for ``model`` itself).

    Raises:
        TypeError: if ``model`` is not an ``nn.Module``.
    """
    check_module(model, "high_order_modules")
    return [(name, module) for name, module in model.named_modules() if is_high_order(module)]


def require_high_order_modules(model: object, what: str) -> list[tuple[str, nn.Module]]:
    """:func:`high_order_modules` of ``model``, raising ``ValueError`` when there are none."""
    layers = high_order_modules(check_module(model, what))
    if not layers:
        raise ValueError(
            f"{what} needs a model with a high-order layer, but {type(model).__name__} contains no high-order "
            f"layer; accepted layers: {ACCEPTED_LAYERS}"
        )
    return layers


def is_fully_connected(module: nn.Module) -> bool:
    """Fully-connected layers have a 3-d weight ``(out, in, M)``; convolutions add kernel axes."""
    return weight_of(module).dim() == 3


def link_shape(module: nn.Module) -> tuple[int, ...]:
    """Shape of the grid of links: ``weight.shape`` without the basis axis.

    Raises:
        TypeError: if ``module`` is not a high-order layer.
    """
    check_high_order(module, "link_shape")
    shape = list(weight_of(module).shape)
    del shape[basis_dim(module)]
    return tuple(shape)


def link_weight_matrix(module: nn.Module) -> Tensor:
    """The weights with the basis axis moved last. Shape: ``(*link_shape, M)`` (a view)."""
    return weight_of(module).movedim(basis_dim(module), -1)


def all_links(module: nn.Module) -> list[Link]:
    """Every link index of ``module`` in row-major order."""
    return list(itertools.product(*(range(size) for size in link_shape(module))))


def check_link(module: nn.Module, link: object) -> Link:
    """Return ``link`` as a tuple of ints, or raise ``ValueError`` naming the valid ranges."""
    shape = link_shape(module)
    allowed = " x ".join(f"0..{size - 1}" for size in shape)
    try:
        index = tuple(int(i) for i in link)  # type: ignore[attr-defined]
        well_formed = all(isinstance(i, int) and not isinstance(i, bool) for i in link)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        index, well_formed = (), False
    if not well_formed or len(index) != len(shape) or any(not 0 <= i < s for i, s in zip(index, shape, strict=True)):
        raise ValueError(
            f"unknown link {link!r} for {type(module).__name__} with link grid {shape}: "
            f"a link is a tuple of {len(shape)} ints in the ranges {allowed}"
        )
    return index


def check_links(module: nn.Module, links: Iterable[object] | None) -> list[Link]:
    """All links when ``links`` is ``None``, else each one checked by :func:`check_link`."""
    if links is None:
        return all_links(module)
    if isinstance(links, tuple) and links and all(isinstance(i, int) for i in links):
        raise ValueError(f"links must be a sequence of link tuples, e.g. [{links!r}]; got the single link {links!r}")
    checked = [check_link(module, link) for link in links]
    if not checked:
        raise ValueError("links must name at least one link (or be None for every link)")
    return checked


def link_weights(module: nn.Module, link: Sequence[int]) -> Tensor:
    """The ``M`` weights of one link (a view of ``module.weight``). Shape: ``(M,)``.

    Raises:
        TypeError: if ``module`` is not a high-order layer.
        ValueError: for an unknown link.
    """
    check_high_order(module, "link_weights")
    return link_weight_matrix(module)[check_link(module, link)]


def input_channel_index(module: nn.Module) -> Tensor:
    """For every link, the input channel (feature) whose values it receives.

    Shape:
        Output: ``link_shape(module)``, int64.
    """
    shape = link_shape(module)
    dim = basis_dim(module)
    if is_fully_connected(module):  # (out, in)
        index = torch.arange(shape[1]).expand(shape[0], shape[1])
    elif dim == 1:  # transposed convolution: (in, out_in_group, *k)
        index = torch.arange(shape[0]).reshape(-1, *([1] * (len(shape) - 1))).expand(shape)
    else:  # convolution: (out, in_in_group, *k); output channel o reads group o // (out / groups)
        groups = int(getattr(module, "groups", 1))
        out_channels, in_per_group = shape[0], shape[1]
        group = torch.arange(out_channels) // (out_channels // groups)
        index = group[:, None] * in_per_group + torch.arange(in_per_group)  # (out, in_in_group)
        index = index.reshape(out_channels, in_per_group, *([1] * (len(shape) - 2))).expand(shape)
    return index.contiguous()


def channels_last(module: nn.Module, x: Tensor) -> Tensor:
    """A layer input reshaped to ``(N, C)``: one row per sample (and pixel), one column per channel."""
    if is_fully_connected(module):
        return x.reshape(-1, x.shape[-1])
    # a convolution's weight is (out, in_in_group, M, *k) or (in, M, out_in_group, *k); the layer
    # also takes unbatched (C, *spatial) input, whose dim alone says so (its C may equal a size)
    spatial = weight_of(module).dim() - 3
    batched = x.unsqueeze(0) if x.dim() == spatial + 1 else x  # (B, C, *spatial)
    return batched.movedim(1, -1).reshape(-1, batched.shape[1])


def evaluate_links(module: nn.Module, x: Tensor, links: Sequence[Sequence[int]] | None = None) -> Tensor:
    """Link functions of ``module`` evaluated at the same raw inputs ``x`` (before the fold/policy).

    Args:
        module: a high-order layer.
        x: raw input values, shape ``(N,)``.
        links: link indices; ``None`` for every link.

    Shape:
        Output: ``(N, len(links))``, or ``(N, *link_shape)`` when ``links`` is ``None``.

    Raises:
        TypeError: if ``module`` is not a high-order layer or ``x`` not a Tensor.
        ValueError: if ``x`` is not 1-d, or for an unknown or empty list of links.
    """
    check_high_order(module, "evaluate_links")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a Tensor of shape (N,), got {type(x).__name__}")
    if x.dim() != 1:
        raise ValueError(f"x must have shape (N,), got {tuple(x.shape)}; use evaluate_link for any shape")
    weight = link_weight_matrix(module)  # (*link_shape, M)
    dense = basis_of(module).dense(prepare_module_input(module, x.to(weight.dtype)))  # (N, M)
    if links is None:
        return torch.einsum("nm,...m->n...", dense, weight)
    chosen = torch.stack([weight[link] for link in check_links(module, links)])  # (L, M)
    return dense @ chosen.T


def evaluate_link(module: nn.Module, link: Sequence[int], x: Tensor) -> Tensor:
    """One link's function at the raw inputs ``x``, exactly as the layer applies it.

    Shape:
        x: any shape. Output: same as ``x``.

    Raises:
        TypeError: if ``module`` is not a high-order layer or ``x`` not a Tensor.
        ValueError: for an unknown link.
    """
    check_high_order(module, "evaluate_link")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a Tensor, got {type(x).__name__}")
    return evaluate_links(module, x.reshape(-1), [link]).reshape(x.shape)
