"""Which implementation runs: the one place that reads the switches and knows the kernels.

Every accelerated computation is an operator (:mod:`._ops`) with one implementation per device;
those implementations ask :func:`cpu_kernels_for` / :func:`triton_kernels_for` whether their
kernel takes a tensor, and run the pure-torch reference otherwise. The layers ask
:func:`sum_contraction` how a sum neuron contracts. Nothing else branches on devices or kernels.

Switches (environment variables, read once per process, on first use):

- ``HIGH_ORDER_LAYERS_CPU_KERNEL=0``: never build or use the C++ CPU kernels;
- ``HIGH_ORDER_LAYERS_TRITON=0``: never use the Triton kernels on CUDA devices;
- ``HIGH_ORDER_LAYERS_AUTOTUNE=0``: resolve ``contraction="auto"`` by the fixed thresholds
  below instead of timing both contractions once per layer shape (see :func:`sum_contraction`);
- ``HIGH_ORDER_LAYERS_CPU_ISA``: the instruction set the CPU kernels are built for (see
  :func:`~high_order_layers_torch.kernels.cpu_isa`).

:func:`override` changes the first two for a block of code (tests compare the paths with it).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from types import ModuleType
from typing import NamedTuple

import torch
from torch import Tensor

from ..functional import choose_contraction

CPU_KERNEL_ENV = "HIGH_ORDER_LAYERS_CPU_KERNEL"
TRITON_ENV = "HIGH_ORDER_LAYERS_TRITON"
AUTOTUNE_ENV = "HIGH_ORDER_LAYERS_AUTOTUNE"

#: The dtypes the kernels are written for; others (half precision outside autocast) take the
#: reference.
KERNEL_DTYPES = (torch.float32, torch.float64)

#: With the fused CPU kernel, gathering beats the dense GEMM from a few weights per active one
#: (measured: ``benchmarks/bench_fc.py``); without it, see ``functional.GATHER_MIN_RATIO``.
FUSED_GATHER_MIN_RATIO = 1.5

#: With the Triton kernels on a CUDA GPU, gathering ties the dense GEMM at 13 weights per active
#: one (continuous, segments 16) and wins from 26 (segments 32), at batch 4096 and 16384; dense
#: wins clearly at 6.6 (segments 8). At the tie gather takes 13x less memory, so it starts there
#: (measured on an H200: ``benchmarks/bench_gpu.py``, README "GPU").
TRITON_GATHER_MIN_RATIO = 12


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


def cpu_kernels_for(tensor: Tensor) -> ModuleType | None:
    """The compiled CPU kernels if they take ``tensor`` (a float32/float64 CPU tensor, kernels
    switched on and buildable; built on the first call), else ``None``."""
    return _cpu_kernels(tensor.device.type, tensor.dtype)


def triton_kernels_for(tensor: Tensor) -> ModuleType | None:
    """The Triton kernels if they take ``tensor`` (a float32/float64 CUDA tensor, Triton
    installed and switched on, deterministic algorithms not requested: the weight gradient is
    summed with atomic adds), else ``None``."""
    return _triton_kernels(tensor.device.type, tensor.dtype)


def _cpu_kernels(device_type: str, dtype: torch.dtype) -> ModuleType | None:
    if device_type != "cpu" or dtype not in KERNEL_DTYPES or not switches().cpu:
        return None
    from ._build import cpu_kernels

    return cpu_kernels()


def _triton_kernels(device_type: str, dtype: torch.dtype) -> ModuleType | None:
    if (
        device_type != "cuda"
        or dtype not in KERNEL_DTYPES
        or not switches().triton
        or torch.are_deterministic_algorithms_enabled()
    ):
        return None
    from ._gather_triton import triton_kernels

    return triton_kernels()


#: The operators with a kernel on each device type; elsewhere they run their reference.
KERNELS: dict[str, tuple[str, ...]] = {
    "cpu": (
        "piecewise_gather",
        "piecewise_conv_gather",
        "piecewise_product",
        "piecewise_expansion",
        "chebyshev_expansion",
        "fourier_values",
    ),
    "cuda": ("piecewise_gather",),
}


@torch.compiler.assume_constant_result
def has_kernel(operator: str, device_type: str, dtype: torch.dtype) -> bool:
    """Whether ``operator`` runs a kernel (not its reference) for tensors on ``device_type``
    with ``dtype``. Where it does not, the layers call the reference directly, so that
    ``torch.compile`` sees, and fuses, its torch operations. A constant while a model is
    compiled."""
    if operator not in KERNELS.get(device_type, ()):
        return False
    if device_type == "cpu":
        return _cpu_kernels(device_type, dtype) is not None
    return _triton_kernels(device_type, dtype) is not None


@torch.compiler.assume_constant_result
def _gather_kernel(device_type: str, dtype: torch.dtype) -> str:
    """``"cpu"``, ``"triton"`` or ``""``: which gather kernel a weight on ``device_type`` with
    ``dtype`` runs. A constant while a model is compiled."""
    if _cpu_kernels(device_type, dtype) is not None:
        return "cpu"
    if _triton_kernels(device_type, dtype) is not None:
        return "triton"
    return ""


#: Between these weights-per-active-weight ratios, which contraction is faster on the CPU depends
#: on the machine (its GEMM against its memory speed): ``"auto"`` times both there. Below the
#: lower one dense wins, above the upper one the gather does, on every CPU measured.
AUTOTUNE_RATIOS = (1.5, 16.0)

#: ``(batch bucket, in, out, n, segments, continuous, dtype, threads)`` -> the faster contraction.
_measured: dict[tuple, str] = {}


def _batch_bucket(batch: int) -> int:
    """The power of two nearest below ``batch`` (at least 1): shapes within a factor of two share
    one measurement."""
    return 1 << max(batch, 1).bit_length() - 1


@torch.compiler.assume_constant_result
def measured_contraction(
    batch: int, in_features: int, out_features: int, n: int, segments: int, continuous: bool, dtype: torch.dtype
) -> str:
    """The faster of ``"dense"`` and ``"gather"`` for a piecewise sum layer of this shape on this
    CPU, timed once per process (forward and backward of both, alternately, on random inputs of
    the batch bucket's size; about as long as a few training steps of the layer), then cached.
    A constant while a model is compiled."""
    key = (_batch_bucket(batch), in_features, out_features, n, segments, continuous, dtype, torch.get_num_threads())
    if key not in _measured:
        _measured[key] = _time_contractions(*key[:7])
    return _measured[key]


def _time_contractions(
    batch: int, in_features: int, out_features: int, n: int, segments: int, continuous: bool, dtype: torch.dtype
) -> str:
    from ..functional import piecewise_sizes
    from ._functions import fused_piecewise_expansion, fused_piecewise_gather

    _, num_weights = piecewise_sizes(n, segments, continuous)
    # outside inference mode and with grad on, whatever the caller runs under; fork_rng leaves the
    # user's random stream alone
    with torch.inference_mode(False), torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)
        x = (torch.rand(batch, in_features, dtype=dtype) * 2 - 1).requires_grad_()
        weight = torch.randn(out_features, in_features, num_weights, dtype=dtype, requires_grad=True)

    def dense() -> None:
        # as the layers run it (see HighOrderLinear._sum_neuron)
        expansion = fused_piecewise_expansion(x.unsqueeze(1), n, segments, continuous, clamp=True)
        matrix = weight.transpose(1, 2).reshape(out_features, -1)  # (O, M * I)
        torch.nn.functional.linear(expansion.flatten(1), matrix).sum().backward()

    def gather() -> None:
        fused_piecewise_gather(x, weight, n, segments, continuous, clamp=True).sum().backward()

    return _faster({"dense": dense, "gather": gather})


def _faster(steps: dict[str, Callable[[], None]]) -> str:
    """The name of the fastest step: each runs four times, alternately, the first round a warm-up
    (allocations, caches) that is not kept; the median of the rest decides."""
    import time

    times: dict[str, list[float]] = {name: [] for name in steps}
    with torch.inference_mode(False), torch.enable_grad():
        for repeat in range(4):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                if repeat:
                    times[name].append(time.perf_counter() - start)
    return min(times, key=lambda name: sorted(times[name])[len(times[name]) // 2])


#: Convolutions contract by gathering, where nothing is timed, from this many weights per active one
#: (dense wins below it; measured: ``benchmarks/bench_conv.py``).
CONV_GATHER_MIN_RATIO = 1.5

#: On a CUDA GPU, convolutions gather (the Triton gather over every position's links) from this
#: many weights per active one. Measured on an H200 (``bench_conv --device cuda``, n = 3, float32):
#: at batch 64 dense was 1.1-1.3x faster at every segment count; at batch 256 dense won up to 16
#: segments (1.4-1.9x) and gather won at 64 (43 weights per active one: 1.1-1.4x), where the
#: dense expansion also holds 25-40x the memory.
CONV_TRITON_GATHER_MIN_RATIO = 40


class ConvGeometry(NamedTuple):
    """Where a convolution's kernel taps read, as
    :func:`~high_order_layers_torch.kernels.fused_piecewise_conv` takes it (``**geometry._asdict()``);
    a padded input has ``padding`` 0 here."""

    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    transposed: bool
    output_padding: tuple[int, ...]
    groups: int


#: ``(batch bucket, input shape, weight shape, basis, geometry, dtype, threads)`` -> the faster one.
_measured_conv: dict[tuple, str] = {}


@torch.compiler.assume_constant_result
def measured_conv_contraction(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    basis: tuple[int, int, bool],
    geometry: tuple,
    dtype: torch.dtype,
) -> str:
    """The faster of ``"dense"`` and ``"gather"`` for a piecewise convolution of this shape on
    this CPU (``geometry = (stride, padding, dilation, transposed, output_padding, groups)`` as
    :func:`~high_order_layers_torch.kernels.fused_piecewise_conv` takes them), timed once per
    process as :func:`measured_contraction` does for fully-connected layers, then cached. A
    constant while a model is compiled."""
    shape = (_batch_bucket(input_shape[0]), *input_shape[1:])
    key = (shape, weight_shape, basis, geometry, dtype, torch.get_num_threads())
    if key not in _measured_conv:
        _measured_conv[key] = _time_conv_contractions(key[:5])
    return _measured_conv[key]


def _time_conv_contractions(case: tuple) -> str:
    """:func:`measured_conv_contraction`'s timing of ``case``, its arguments (the batch already
    bucketed)."""
    from ._functions import fused_piecewise_conv, fused_piecewise_expansion
    from ._references import conv_flat_weight

    input_shape, weight_shape, (n, segments, continuous), geometry, dtype = case
    stride, padding, dilation, transposed, output_padding, groups = geometry
    with torch.inference_mode(False), torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)
        x = (torch.rand(input_shape, dtype=dtype) * 2 - 1).requires_grad_()
        weight = torch.randn(weight_shape, dtype=dtype, requires_grad=True)

    def dense() -> None:
        # as the layers run it (HighOrderConvNd.forward)
        batch, channels, *spatial = input_shape
        flat = x.reshape(batch, channels, -1)
        expansion = fused_piecewise_expansion(flat, n, segments, continuous, clamp=True)
        expansion = expansion.view(batch, -1, *spatial)
        y = torch.ops.aten.convolution(
            expansion, conv_flat_weight(weight, transposed), None, stride, padding, dilation, transposed,
            output_padding, groups,
        )  # fmt: skip
        y.sum().backward()

    def gather() -> None:
        y = fused_piecewise_conv(
            x, weight, n, segments, continuous, clamp=True, stride=stride, padding=padding, dilation=dilation,
            transposed=transposed, output_padding=output_padding, groups=groups,
        )  # fmt: skip
        y.sum().backward()

    return _faster({"dense": dense, "gather": gather})


def conv_contraction(
    num_weights: int,
    num_active: int,
    contraction: str,
    weight: Tensor,
    *,
    input_shape: tuple[int, ...],
    basis: tuple[int, int, bool],
    geometry: ConvGeometry,
) -> str:
    """``"dense"`` or ``"gather"`` for a piecewise convolution with ``weight``, resolving
    ``"auto"`` as :func:`sum_contraction` does for fully-connected layers: dense where every weight
    is active, and where no gather kernel runs for the weight's device (elsewhere the gather
    operator runs the dense computation anyway); on CUDA with Triton, from
    :data:`CONV_TRITON_GATHER_MIN_RATIO` weights per active one; on the CPU, a ratio of weights per active weight
    within :data:`AUTOTUNE_RATIOS` is timed once per shape, a larger one gathers, a smaller one
    (below :data:`CONV_GATHER_MIN_RATIO`) stays dense."""
    if num_weights == num_active:
        return "dense"
    if contraction != "auto":
        return contraction
    ratio = num_weights / num_active
    if weight.device.type != "cpu" and has_kernel("piecewise_gather", weight.device.type, weight.dtype):
        return "gather" if ratio >= CONV_TRITON_GATHER_MIN_RATIO else "dense"
    if not has_kernel("piecewise_conv_gather", weight.device.type, weight.dtype):
        return "dense"
    low, high = AUTOTUNE_RATIOS
    if low <= ratio <= high and _autotune_enabled():
        # a plain tuple: a NamedTuple does not survive dynamo's call of a constant-result function
        return measured_conv_contraction(input_shape, tuple(weight.shape), basis, tuple(geometry), weight.dtype)
    return "gather" if ratio >= CONV_GATHER_MIN_RATIO else "dense"


@torch.compiler.assume_constant_result
def _autotune_enabled() -> bool:
    """Whether ``"auto"`` may time contractions (a constant while a model is compiled): not with
    deterministic algorithms, nor inside a ``torch.func`` transform (``grad``, ``vmap``), where
    the timing's own backward passes cannot run; the fixed thresholds decide there."""
    in_transform = torch._C._functorch.peek_interpreter_stack() is not None
    return switches().autotune and not torch.are_deterministic_algorithms_enabled() and not in_transform


def sum_contraction(
    num_weights: int,
    num_active: int,
    contraction: str,
    weight: Tensor,
    *,
    batch: int | None = None,
    basis: tuple[int, int, bool] | None = None,
) -> str:
    """``"dense"`` or ``"gather"`` for a sum neuron with ``weight``, resolving ``"auto"``.

    A basis whose every weight is active (one polynomial, a Fourier series) always contracts
    densely: gathering all ``M`` weights is the dense product done slower. Otherwise ``"auto"``
    compares the weights per active weight with the threshold of the gather kernel that would run
    (:data:`FUSED_GATHER_MIN_RATIO` on the CPU, :data:`TRITON_GATHER_MIN_RATIO` on CUDA,
    :data:`~high_order_layers_torch.functional.GATHER_MIN_RATIO` for the reference). On the CPU
    with the kernels, a ratio within :data:`AUTOTUNE_RATIOS` is decided by timing both once for the
    layer's shape (``batch`` and ``basis = (n, segments, continuous)`` given), as
    ``torch.backends.cudnn.benchmark`` does for convolutions; ``HIGH_ORDER_LAYERS_AUTOTUNE=0`` or
    deterministic algorithms keep the fixed threshold.
    """
    if num_weights == num_active:
        return "dense"
    if contraction != "auto":
        return contraction
    kernel = _gather_kernel(weight.device.type, weight.dtype)
    if kernel == "cpu":
        low, high = AUTOTUNE_RATIOS
        if batch is not None and basis is not None and low <= num_weights / num_active <= high and _autotune_enabled():
            return measured_contraction(batch, weight.shape[1], weight.shape[0], *basis, weight.dtype)
        return choose_contraction(num_weights, num_active, contraction, gather_min_ratio=FUSED_GATHER_MIN_RATIO)
    if kernel == "triton":
        return choose_contraction(num_weights, num_active, contraction, gather_min_ratio=TRITON_GATHER_MIN_RATIO)
    return choose_contraction(num_weights, num_active, contraction)


def cpu_kernels_support(tensor: Tensor) -> bool:
    """Whether the C++ kernels run for ``tensor`` (builds them on the first call)."""
    return cpu_kernels_for(tensor) is not None


def triton_kernels_support(tensor: Tensor) -> bool:
    """Whether the Triton kernels run for ``tensor``."""
    return triton_kernels_for(tensor) is not None
