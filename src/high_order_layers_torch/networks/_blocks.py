"""Small wiring pieces shared by the network builders."""

from __future__ import annotations

import copy
import numbers
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

#: A module class, a callable returning a module, or a module instance (copied per use).
ModuleFactory = Callable[..., nn.Module] | nn.Module


class Residual(nn.Module):
    """``x + block(x)``: a residual connection around a block that keeps the shape.

    Args:
        block: the wrapped module; its output must have the shape of its input.

    Shape:
        Input: ``(*)``. Output: same.

    Raises:
        TypeError: if ``block`` is not a module.
        ValueError: (in forward) if the block changes the shape.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        if not isinstance(block, nn.Module):
            raise TypeError(f"block must be an nn.Module, got {type(block).__name__}")
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        if y.shape != x.shape:
            raise ValueError(f"a residual block must keep the shape; got {tuple(x.shape)} -> {tuple(y.shape)}")
        return x + y


def make_module(
    factory: ModuleFactory | None,
    what: str,
    *args: object,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module | None:
    """Build one module from ``factory``: a class or callable is called with ``args``; a module
    instance is deep-copied (so no two places share one module). ``None`` gives ``None``.
    The result is moved to ``device`` / ``dtype`` when given."""
    if factory is None:
        return None
    if isinstance(factory, nn.Module):
        module = copy.deepcopy(factory)
    elif callable(factory):
        module = factory(*args)
    else:
        raise TypeError(f"{what} must be a module class, a callable returning a module or None; got {factory!r}")
    if not isinstance(module, nn.Module):
        raise TypeError(f"{what} must produce an nn.Module, got {type(module).__name__}")
    if device is not None or dtype is not None:
        module = module.to(device=device, dtype=dtype)
    return module


def pre_layer_parts(
    normalization: ModuleFactory | None,
    non_linearity: ModuleFactory | None,
    dropout: float,
    *norm_args: object,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> OrderedDict[str, nn.Module]:
    """What runs before a layer of a network: ``norm`` (``normalization(*norm_args)``), ``act``
    (``non_linearity()``) and ``dropout`` (``nn.Dropout(dropout)``), each only when asked for
    (a factory given, ``dropout > 0``), in that order."""
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    norm = make_module(normalization, "normalization", *norm_args, device=device, dtype=dtype)
    if norm is not None:
        parts["norm"] = norm
    act = make_module(non_linearity, "non_linearity", device=device, dtype=dtype)
    if act is not None:
        parts["act"] = act
    if dropout > 0:
        parts["dropout"] = nn.Dropout(dropout)
    return parts


def check_dropout(dropout: object) -> float:
    """Return ``dropout`` as a float in ``[0, 1)``."""
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
        raise TypeError(f"dropout must be a number in [0, 1), got {dropout!r}")
    value = float(dropout)
    if not 0 <= value < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return value


def per_layer(name: str, value: object, count: int) -> list[Any]:
    """Broadcast a scalar (or ``None``) to ``count`` layers, or check a sequence's length.

    Typed loosely on purpose: whether a sequence is one value or one per layer is decided at run
    time (a string is one value), which a type variable cannot express."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != count:
            raise ValueError(
                f"{name} must be a single value or a sequence of {count} (one per layer); got {len(value)}"
            )
        return list(value)
    return [value] * count
