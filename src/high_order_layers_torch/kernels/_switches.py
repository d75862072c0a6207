"""Which kernels may run: the switches, and the availability of every operator's kernels.

The bottom of :mod:`high_order_layers_torch.kernels`: it imports only the two loaders
(:mod:`._build` for the C++ module, :mod:`._gather_triton` for the Triton kernels), and the
operator specs (:mod:`._spec`) fill its table of which operator has a kernel on which device.

Switches (environment variables, read once per process, on first use):

- ``HIGH_ORDER_LAYERS_CPU_KERNEL=0``: never build or use the C++ CPU kernels;
- ``HIGH_ORDER_LAYERS_TRITON=0``: never use the Triton kernels on CUDA devices;
- ``HIGH_ORDER_LAYERS_AUTOTUNE=0``: resolve ``contraction="auto"`` by fixed thresholds instead of
  timing both contractions once per layer shape (see
  :func:`~high_order_layers_torch.kernels.sum_contraction`);
- ``HIGH_ORDER_LAYERS_CPU_ISA``: the instruction set the CPU kernels are built for (see
  :func:`~high_order_layers_torch.kernels.cpu_isa`).

:func:`override` changes them for a block of code (tests compare the paths with it).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from . import _build, _gather_triton

CPU_KERNEL_ENV = "HIGH_ORDER_LAYERS_CPU_KERNEL"
TRITON_ENV = "HIGH_ORDER_LAYERS_TRITON"
AUTOTUNE_ENV = "HIGH_ORDER_LAYERS_AUTOTUNE"

#: The dtypes the kernels are written for; others (half precision outside autocast) take the
#: reference.
KERNEL_DTYPES = (torch.float32, torch.float64)


@dataclass(frozen=True)
class Switches:
    """Whether each kind of kernel may be used."""

    cpu: bool
    triton: bool
    autotune: bool = True


@functools.cache
def _environment_switches() -> Switches:
    return Switches(
        cpu=os.environ.get(CPU_KERNEL_ENV, "1") != "0",
        triton=os.environ.get(TRITON_ENV, "1") != "0",
        autotune=os.environ.get(AUTOTUNE_ENV, "1") != "0",
    )


_overrides: list[Switches] = []


def switches() -> Switches:
    """The switches in force: the innermost :func:`override`, else the environment's."""
    return _overrides[-1] if _overrides else _environment_switches()


@contextlib.contextmanager
def override(*, cpu: bool | None = None, triton: bool | None = None, autotune: bool | None = None) -> Iterator[None]:
    """Switch kernels off (or back on) inside a ``with`` block, for this process.

    Example:
        >>> with override(cpu=False):  # the pure-torch reference runs on the CPU
        ...     pass
    """
    current = switches()
    changes = {"cpu": cpu, "triton": triton, "autotune": autotune}
    _overrides.append(replace(current, **{key: value for key, value in changes.items() if value is not None}))
    try:
        yield
    finally:
        _overrides.pop()


# ----------------------------------------------------------------------------------------------
# The kernel modules of each device type


def cpu_kernels(device_type: str, dtype: torch.dtype) -> Any | None:
    """The compiled C++ module if it takes tensors of ``device_type`` and ``dtype`` (the CPU, a
    float32/float64 dtype, switched on and buildable; built on the first call), else ``None``."""
    if device_type != "cpu" or dtype not in KERNEL_DTYPES or not switches().cpu:
        return None
    return _build.cpu_kernels()


def triton_kernels(device_type: str, dtype: torch.dtype) -> Any | None:
    """The Triton kernel module if it takes tensors of ``device_type`` and ``dtype`` (CUDA,
    float32/float64, Triton installed and switched on, deterministic algorithms not requested:
    the weight gradient is summed with atomic adds), else ``None``."""
    if (
        device_type != "cuda"
        or dtype not in KERNEL_DTYPES
        or not switches().triton
        or torch.are_deterministic_algorithms_enabled()
    ):
        return None
    return _gather_triton.triton_kernels()


def device_kernels(device_type: str, dtype: torch.dtype) -> Any | None:
    """The kernel module of ``device_type`` for ``dtype`` (C++ on the CPU, Triton on CUDA), or
    ``None``: what an operator's kernel receives unless its spec names another backend. The one
    place that maps device types to kernel modules."""
    if device_type == "cpu":
        return cpu_kernels(device_type, dtype)
    if device_type == "cuda":
        return triton_kernels(device_type, dtype)
    return None


def cpu_kernels_for(tensor: Tensor) -> Any | None:
    """:func:`cpu_kernels` for ``tensor``'s device and dtype."""
    return cpu_kernels(tensor.device.type, tensor.dtype)


def triton_kernels_for(tensor: Tensor) -> Any | None:
    """:func:`triton_kernels` for ``tensor``'s device and dtype."""
    return triton_kernels(tensor.device.type, tensor.dtype)


def cpu_kernels_available() -> bool:
    """Whether the compiled kernels are switched on and can be used (builds them on the first
    call)."""
    return switches().cpu and _build.cpu_kernels() is not None


def cpu_kernels_support(tensor: Tensor) -> bool:
    """Whether the C++ kernels run for ``tensor`` (builds them on the first call)."""
    return cpu_kernels_for(tensor) is not None


def triton_kernels_support(tensor: Tensor) -> bool:
    """Whether the Triton kernels run for ``tensor``."""
    return triton_kernels_for(tensor) is not None


# ----------------------------------------------------------------------------------------------
# Which operator has a kernel where

#: A kernel's source of its module: ``backend(device_type, dtype) -> module or None``.
Backend = Callable[[str, torch.dtype], Any | None]

#: operator name -> device type -> its kernel's backend (``None``: :func:`device_kernels`).
#: Filled by :func:`~high_order_layers_torch.kernels._spec.define`, one entry per operator spec.
KERNELS: dict[str, dict[str, Backend | None]] = {}


def kernel_module(operator: str, device_type: str, dtype: torch.dtype) -> Any | None:
    """The module ``operator``'s kernel on ``device_type`` runs with for ``dtype``, or ``None``
    where it has none (or it cannot run: switched off, not built, another dtype)."""
    devices = KERNELS.get(operator, {})
    if device_type not in devices:
        return None
    backend = devices[device_type]
    return device_kernels(device_type, dtype) if backend is None else backend(device_type, dtype)


@torch.compiler.assume_constant_result
def has_kernel(operator: str, device_type: str, dtype: torch.dtype) -> bool:
    """Whether ``operator`` runs a kernel (not its reference) for tensors on ``device_type``
    with ``dtype``. Where it does not, the entry points call the reference directly, so that
    ``torch.compile`` sees, and fuses, its torch operations. A constant while a model is
    compiled."""
    return kernel_module(operator, device_type, dtype) is not None


@torch.compiler.assume_constant_result
def gather_kernel(device_type: str, dtype: torch.dtype) -> str:
    """``"cpu"``, ``"triton"`` or ``""``: which gather kernel a weight on ``device_type`` with
    ``dtype`` runs (the fixed thresholds of ``contraction="auto"`` depend on it). A constant
    while a model is compiled."""
    if kernel_module("piecewise_gather", device_type, dtype) is None:
        return ""
    return "cpu" if device_type == "cpu" else "triton"
