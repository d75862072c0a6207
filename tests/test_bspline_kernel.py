"""The B-spline gather (``bspline_gather``): the C++ kernel against the pure-torch reference and
an independent B-spline oracle, its gradients to second order, the input policies, and the
decision point's choice of it."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_close_ulps, record_cpu_kernels, switch_kernels_off
from high_order_layers_torch.functional import bspline_values, sum_neuron, sum_neuron_gather
from high_order_layers_torch.kernels import UniformBSpline, _ops, fused_bspline_gather
from high_order_layers_torch.kernels import sum_neuron as decide_sum_neuron

F64 = torch.float64


def cardinal(s: torch.Tensor, order: int) -> torch.Tensor:
    """The cardinal B-spline of ``order`` on ``[0, order]`` by the textbook recurrence: an
    oracle independent of the library's in-piece recurrence."""
    if order == 1:
        return ((s >= 0) & (s < 1)).to(s.dtype)
    return (s * cardinal(s, order - 1) + (order - s) * cardinal(s - 1, order - 1)) / (order - 1)


def oracle(x: torch.Tensor, weight: torch.Tensor, n: int, segments: int) -> torch.Tensor:
    """``sum_i sum_m weight[o, i, m] B_m(x_i)`` over every spline of the extended knots, for
    ``x`` inside ``(-1, 1)``."""
    u = (x + 1) * (segments / 2)  # (B, I)
    m = torch.arange(segments + n - 1, dtype=x.dtype)
    dense = cardinal(u.unsqueeze(-1) - m + n - 1, n)  # (B, I, M): B_m(x) = N(u - m + n - 1)
    return torch.einsum("bim,oim->bo", dense, weight)


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(2, 9),
    segments=st.integers(1, 12),
    batch=st.integers(1, 9),
    inputs=st.integers(1, 5),
    outputs=st.integers(1, 19),
    dtype=st.sampled_from([torch.float32, F64]),
    seed=st.integers(0, 2**16),
)
def test_kernel_matches_reference_and_oracle(n, segments, batch, inputs, outputs, dtype, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, inputs, generator=g, dtype=F64) * 2 - 1) * 0.999
    weight = torch.randn(outputs, inputs, segments + n - 1, generator=g, dtype=F64)
    expected = oracle(x, weight, n, segments)
    start, values = bspline_values(x, n, segments)
    assert_close_ulps(sum_neuron(start, values, weight), expected, ulps=64, scale=weight.abs().sum(1).max())
    xs, ws = x.to(dtype).requires_grad_(), weight.to(dtype).requires_grad_()
    y = fused_bspline_gather(xs, ws, n, segments)
    reference = _ops._bspline_reference(xs, ws, n, segments, False)
    scale = ws.detach().abs().sum(1).max()
    assert_close_ulps(y, reference, ulps=64, scale=scale)
    grad = torch.randn(batch, outputs, generator=g, dtype=F64).to(dtype)
    found = torch.autograd.grad(y, (xs, ws), grad)
    wanted = torch.autograd.grad(reference, (xs, ws), grad)
    slope_scale = scale * grad.abs().sum(1).max() * segments * n
    assert_close_ulps(found[0], wanted[0], ulps=256, scale=slope_scale)
    assert_close_ulps(found[1], wanted[1], ulps=64, scale=grad.abs().sum(0).max())


def test_the_kernel_runs_and_agrees_with_the_lean_default(monkeypatch: pytest.MonkeyPatch) -> None:
    names = record_cpu_kernels(monkeypatch)
    x = torch.rand(7, 3, dtype=F64) * 2 - 1
    weight = torch.randn(4, 3, 12, dtype=F64, requires_grad=True)
    y = fused_bspline_gather(x, weight, 4, 9)
    y.sum().backward()
    assert {"bspline_gather_forward", "bspline_gather_backward"} <= names
    start, values = bspline_values(x, 4, 9)
    assert_close_ulps(y, sum_neuron_gather(start, values, weight), ulps=64)


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "pure-torch"])
def test_gradcheck_and_gradgradcheck(kernels: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not kernels:
        switch_kernels_off(monkeypatch)
    x = (torch.rand(6, 3, dtype=F64) * 2.4 - 1.2).requires_grad_()  # some outside [-1, 1]
    weight = torch.randn(4, 3, 8, dtype=F64, requires_grad=True)
    for clamp in (True, False):

        def fn(v: torch.Tensor, w: torch.Tensor, clamp: bool = clamp) -> torch.Tensor:
            return fused_bspline_gather(v, w, 3, 6, clamp=clamp)

        assert torch.autograd.gradcheck(fn, (x, weight))
        assert torch.autograd.gradgradcheck(fn, (x, weight))


def test_backward_reference_matches_autograd_of_the_reference() -> None:
    x = torch.rand(8, 3, dtype=F64) * 2.6 - 1.3
    weight = torch.randn(5, 3, 9, dtype=F64)
    grad = torch.randn(8, 5, dtype=F64)
    for clamp in (True, False):
        xs, ws = x.clone().requires_grad_(), weight.clone().requires_grad_()
        wanted = torch.autograd.grad(_ops._bspline_reference(xs, ws, 5, 5, clamp), (xs, ws), grad)
        found = _ops.bspline_gather.spec.backward_reference(grad, x, weight, 5, 5, clamp, [True, True])
        for a, b in zip(found, wanted, strict=True):
            assert_close_ulps(a, b, ulps=64, scale=b.abs().max() + 1)


def test_outside_inputs_extrapolate_or_clamp_and_nan_propagates() -> None:
    x = torch.tensor([[1.5, -2.0], [float("nan"), 0.25]], dtype=F64, requires_grad=True)
    weight = torch.randn(3, 2, 7, dtype=F64)
    for clamp in (False, True):
        y = fused_bspline_gather(x, weight, 4, 4, clamp=clamp)
        expected = _ops._bspline_reference(x, weight, 4, 4, clamp)
        assert torch.isnan(y[1]).all() and torch.isfinite(y[0]).all()
        assert_close_ulps(y[0], expected[0], ulps=64, scale=weight.abs().sum((1, 2)).max() * 10)
    clamped = fused_bspline_gather(x, weight, 4, 4, clamp=True)
    at_edges = fused_bspline_gather(torch.tensor([[1.0, -1.0]], dtype=F64), weight, 4, 4)
    assert_close_ulps(clamped[0], at_edges[0], ulps=16)
    (grad_x,) = torch.autograd.grad(clamped[0].sum(), x)
    assert (grad_x[0] == 0).all()  # the clamp passes no gradient outside [-1, 1]


@pytest.mark.parametrize(
    ("segments", "contraction", "expected"),
    [(1, "auto", set()), (8, "auto", {"bspline_gather_forward"}), (8, "dense", set())],
)
def test_decision_point_gathers_where_weights_outnumber_active_ones(
    segments: int, contraction: str, expected: set, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = record_cpu_kernels(monkeypatch)
    layout = UniformBSpline(4, segments)
    x = torch.rand(5, 3, dtype=F64) * 2 - 1
    weight = torch.randn(2, 3, layout.num_weights, dtype=F64)
    y = decide_sum_neuron(layout, x, weight, contraction, clamp=False)
    assert names & {"bspline_gather_forward"} == expected
    start, values = bspline_values(x, 4, segments)
    assert_close_ulps(y, sum_neuron(start, values, weight), ulps=64)
