"""Small utilities shared by the test modules (``tests/`` is on ``sys.path`` under pytest)."""

from __future__ import annotations

import torch

from high_order_layers_torch.functional import piecewise_values, sum_neuron


def graph_names(y: torch.Tensor) -> set[str]:
    """Names of every autograd node behind ``y``."""
    seen, stack = set(), [y.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:  # by node: two nodes may share a name
            seen.add(node)
            stack.extend(next_node for next_node, _ in node.next_functions)
    return {node.name() for node in seen}


def num_weights(n: int, segments: int, continuous: bool) -> int:
    """Weights per link of a piecewise basis, written out independently of the library."""
    return segments * (n - 1) + 1 if continuous else segments * n


def sum_neuron_reference(x, weight, n, segments, continuous, clamp):
    """The piecewise sum neuron by the pure-torch product-form basis and the dense contraction."""
    start, values = piecewise_values(x, n, segments, continuous, clamp=clamp)
    return sum_neuron(start, values, weight)


def assert_close_ulps(
    actual: torch.Tensor, expected: torch.Tensor, *, ulps: float = 16.0, scale: float | torch.Tensor | None = None
) -> None:
    """``actual`` equals ``expected`` to ``ulps`` units of round-off at the magnitude involved.

    For comparing two different code paths (kernel against twin, gather against dense, compiled
    against eager), whose rounding differs with the instruction set (FMA contraction, vector
    width, summation order): ``rtol = ulps * eps`` and ``atol = ulps * eps * scale``, where
    ``scale`` defaults to ``max |expected|`` (pass the size of the terms summed where the result
    cancels). Bit-exact asserts stay for a code path compared with itself.
    """
    expected = expected.detach()
    actual = actual.detach().to(expected.dtype)
    eps = torch.finfo(expected.dtype).eps
    if scale is None:
        finite = expected[torch.isfinite(expected)]
        scale = finite.abs().max().item() if finite.numel() else 1.0
    scale = float(scale)
    torch.testing.assert_close(actual, expected, rtol=ulps * eps, atol=ulps * eps * scale)


def permuted_storage(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` ``(O, I, M)`` with the same values, stored as ``(I, M, O)``: a non-contiguous
    input, which the operators must accept (they copy it)."""
    return weight.permute(1, 2, 0).contiguous().permute(2, 0, 1)


def switch_kernels_off(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Every operator runs its pure-torch reference until the end of the test."""
    from high_order_layers_torch.kernels import _switches

    monkeypatch.setattr(_switches, "_overrides", [_switches.Switches(cpu=False, triton=False)])


def record_cpu_kernels(monkeypatch) -> set[str]:  # type: ignore[no-untyped-def]
    """The names of the C++ kernel functions called until the end of the test (filled as they
    are called)."""
    from high_order_layers_torch.kernels import _switches

    names: set[str] = set()
    real = _switches.device_kernels

    class Recorder:
        def __init__(self, module) -> None:  # type: ignore[no-untyped-def]
            self._module = module

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            names.add(name)
            return getattr(self._module, name)

    def recording(device_type, dtype):  # type: ignore[no-untyped-def]
        module = real(device_type, dtype)
        return None if module is None or device_type != "cpu" else Recorder(module)

    monkeypatch.setattr(_switches, "device_kernels", recording)
    return names
