"""Eager argument checks shared by the functional API and the modules.

Every check raises ``ValueError``/``TypeError`` naming what is allowed and what was received,
so a bad configuration fails where it is written rather than deep inside a forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def check_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) and ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool``: no truthiness, so ``"no"`` or ``0`` is refused
    rather than read as a flag."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__})")
    return value


def check_input_dtype(x: torch.Tensor, dtype: torch.dtype) -> None:
    """Refuse a non-floating ``x``, or one whose dtype differs from the layer's ``dtype``
    outside ``torch.autocast`` (which casts inside the layer's operations)."""
    if not x.is_floating_point():
        raise TypeError(f"input must be a floating-point tensor, got dtype {x.dtype}")
    if x.dtype != dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(
            f"input dtype {x.dtype} differs from the layer's {dtype}; "
            "convert one of them (x.to(dtype) or layer.to(dtype)) or run under torch.autocast"
        )


def check_positive_float(name: str, value: object) -> float:
    """Return ``float(value)`` if it is a finite real number ``> 0``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive finite number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return float(value)


def check_float(name: str, value: object) -> float:
    """Return ``float(value)`` if it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return float(value)


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    allowed = tuple(choices)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value
