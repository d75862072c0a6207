"""Timing the two contractions of a piecewise layer once per shape, as
``torch.backends.cudnn.benchmark`` does for convolutions: the top of
:mod:`high_order_layers_torch.kernels`, above the operators it runs.

:mod:`._dispatch` asks here where the faster contraction depends on the machine (a ratio of
weights per active one within its ``AUTOTUNE_RATIOS``); each answer is cached per process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from ..functional import chebyshev_lobatto_nodes, chebyshev_to_lagrange, piecewise_sizes
from . import _switches
from ._dense import dense_conv, dense_sum_neuron
from ._functions import fused_piecewise_conv, fused_piecewise_gather
from ._layouts import ConvGeometry, PiecewiseLagrange

#: ``(batch bucket, in, out, n, segments, continuous, dtype, threads)`` -> the faster contraction.
_measured: dict[tuple, str] = {}

#: ``(batch bucket, input shape, weight shape, basis, geometry, dtype, threads)`` -> the faster one.
_measured_conv: dict[tuple, str] = {}


def _batch_bucket(batch: int) -> int:
    """The power of two nearest below ``batch`` (at least 1): shapes within a factor of two share
    one measurement."""
    return 1 << max(batch, 1).bit_length() - 1


@torch.compiler.assume_constant_result
def autotune_enabled() -> bool:
    """Whether ``"auto"`` may time contractions (a constant while a model is compiled): not with
    deterministic algorithms, nor inside a ``torch.func`` transform (``grad``, ``vmap``), where
    the timing's own backward passes cannot run; the fixed thresholds decide there."""
    in_transform = torch._C._functorch.peek_interpreter_stack() is not None
    return _switches.switches().autotune and not torch.are_deterministic_algorithms_enabled() and not in_transform


def _layout(n: int, segments: int, continuous: bool, dtype: torch.dtype) -> PiecewiseLagrange:
    matrix = chebyshev_to_lagrange(chebyshev_lobatto_nodes(n, dtype=torch.float64)).to(dtype)
    return PiecewiseLagrange(n, segments, continuous, matrix)


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
    _, num_weights = piecewise_sizes(n, segments, continuous)
    layout = _layout(n, segments, continuous, dtype)
    # outside inference mode and with grad on, whatever the caller runs under; fork_rng leaves the
    # user's random stream alone
    with torch.inference_mode(False), torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)
        x = (torch.rand(batch, in_features, dtype=dtype) * 2 - 1).requires_grad_()
        weight = torch.randn(out_features, in_features, num_weights, dtype=dtype, requires_grad=True)

    def dense() -> None:
        dense_sum_neuron(layout, x, weight, clamp=True).sum().backward()

    def gather() -> None:
        fused_piecewise_gather(x, weight, n, segments, continuous, clamp=True).sum().backward()

    return _faster({"dense": dense, "gather": gather})


def _faster(steps: dict[str, Callable[[], None]]) -> str:
    """The name of the fastest step: each runs four times, alternately, the first round a warm-up
    (allocations, caches) that is not kept; the median of the rest decides."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    with torch.inference_mode(False), torch.enable_grad():
        for repeat in range(4):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                if repeat:
                    times[name].append(time.perf_counter() - start)
    return min(times, key=lambda name: sorted(times[name])[len(times[name]) // 2])


@torch.compiler.assume_constant_result
def measured_conv_contraction(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    basis: tuple[int, int, bool],
    geometry: tuple,
    dtype: torch.dtype,
) -> str:
    """The faster of ``"dense"`` and ``"gather"`` for a piecewise convolution of this shape on
    this CPU (``geometry`` a plain tuple of :class:`~._layouts.ConvGeometry`'s fields: a
    NamedTuple does not survive dynamo's call of a constant-result function), timed once per
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
    input_shape, weight_shape, (n, segments, continuous), geometry, dtype = case
    geometry = ConvGeometry(*geometry)
    layout = _layout(n, segments, continuous, dtype)
    with torch.inference_mode(False), torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)
        x = (torch.rand(input_shape, dtype=dtype) * 2 - 1).requires_grad_()
        weight = torch.randn(weight_shape, dtype=dtype, requires_grad=True)

    def dense() -> None:
        dense_conv(layout, x, weight, geometry, clamp=True).sum().backward()

    def gather() -> None:
        fused_piecewise_conv(x, weight, n, segments, continuous, clamp=True, **geometry._asdict()).sum().backward()

    return _faster({"dense": dense, "gather": gather})
