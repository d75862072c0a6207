"""The fused CPU expansion kernel for piecewise convolutions against its pure-torch twin."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_close_ulps, switch_kernels_off
from high_order_layers_torch.functional import piecewise_expansion
from high_order_layers_torch.kernels import cpu_kernels_available, fused_piecewise_expansion
from high_order_layers_torch.layers import high_order_convolution_layers, high_order_convolution_transpose_layers

pytestmark = pytest.mark.skipif(not cpu_kernels_available(), reason="no C++ toolchain for the CPU kernels")

TOLERANCE = {torch.float32: {"rtol": 2e-5, "atol": 2e-5}, torch.float64: {"rtol": 1e-12, "atol": 1e-12}}


def compare(x: torch.Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> None:
    x = x.detach().requires_grad_()
    fused = fused_piecewise_expansion(x, n, segments, continuous, clamp=clamp)
    twin = piecewise_expansion(x, n, segments, continuous, clamp=clamp)
    tolerance = TOLERANCE[x.dtype]
    torch.testing.assert_close(fused, twin, **tolerance)
    grad = torch.randn_like(fused)
    (grad_fused,) = torch.autograd.grad(fused, x, grad)
    expected = torch.autograd.grad(twin, x, grad)[0] if twin.requires_grad else torch.zeros_like(x)
    # the derivative sums M values of size ~segments: scale the tolerance with it
    torch.testing.assert_close(grad_fused, expected, rtol=tolerance["rtol"], atol=tolerance["atol"] * segments * n)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("clamp", [False, True])
@pytest.mark.parametrize(
    ("n", "segments", "continuous"),
    [(3, 1, True), (3, 2, True), (4, 5, False), (1, 3, True), (1, 3, False), (2, 1, False), (6, 64, True)],
)
def test_fused_expansion_matches_the_twin(n, segments, continuous, clamp, dtype) -> None:
    x = torch.rand(3, 4, 37, dtype=dtype) * 2 - 1
    compare(x, n, segments, continuous, clamp)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 4),
    channels=st.integers(1, 5),
    positions=st.integers(1, 70),
    n=st.integers(1, 7),
    segments=st.integers(1, 20),
    continuous=st.booleans(),
    clamp=st.booleans(),
)
def test_fused_expansion_property(batch, channels, positions, n, segments, continuous, clamp) -> None:
    generator = torch.Generator().manual_seed(batch * 1000 + positions)
    scale = 2.5 if clamp else 2.0  # out-of-range values only where the clamp handles them
    x = (torch.rand(batch, channels, positions, dtype=torch.float64, generator=generator) - 0.5) * scale
    compare(x, n, segments, continuous, clamp)


def test_nodes_and_joints_give_exact_one_hot_rows_up_to_rounding() -> None:
    # At x = -1, 0, 1 (joints of 2 pieces) one basis function is 1 and the others vanish.
    x = torch.tensor([[[-1.0, 0.0, 1.0]]], dtype=torch.float64)
    dense = fused_piecewise_expansion(x, 3, 2, True)[0]  # (M = 5, 3)
    expected = torch.zeros(5, 3, dtype=torch.float64)
    expected[0, 0] = expected[2, 1] = expected[4, 2] = 1.0
    torch.testing.assert_close(dense, expected, rtol=0, atol=16 * torch.finfo(torch.float64).eps)


def test_clamp_policy_for_nan_and_out_of_range_values() -> None:
    x = torch.tensor([[[float("nan"), 2.0, -3.0, 1.0, -1.0, float("inf")]]], dtype=torch.float64, requires_grad=True)
    fused = fused_piecewise_expansion(x, 3, 2, True, clamp=True)
    twin = piecewise_expansion(x, 3, 2, True, clamp=True)
    assert torch.equal(fused.isnan(), twin.isnan())
    assert fused[..., 0].isnan().any()  # NaN propagates, never silently replaced
    assert_close_ulps(fused.nan_to_num(), twin.nan_to_num(), ulps=16)
    (grad,) = torch.autograd.grad(fused, x, torch.ones_like(fused))
    # clamp passes no gradient outside [-1, 1] (nor for NaN); inside, the basis sums to one
    assert torch.equal(grad, torch.zeros_like(grad))


def test_gradcheck_and_gradgradcheck() -> None:
    x = (torch.rand(2, 2, 9, dtype=torch.float64) * 2 - 1).requires_grad_()
    for continuous in (True, False):

        def fn(v: torch.Tensor, continuous: bool = continuous) -> torch.Tensor:
            return fused_piecewise_expansion(v, 4, 3, continuous, clamp=True)

        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))


def test_rejects_inconsistent_sizes() -> None:
    from high_order_layers_torch.kernels._build import cpu_kernels

    x = torch.rand(1, 1, 4)
    nodes = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    with pytest.raises(RuntimeError, match="inconsistent basis sizes"):
        cpu_kernels().expand_forward(x, nodes, 2, 2, 6, False)
    with pytest.raises(RuntimeError, match="contiguous"):
        cpu_kernels().expand_forward(torch.rand(1, 4, 2).transpose(1, 2), nodes, 2, 2, 5, False)


def layer_results(layer, x):
    x = x.detach().requires_grad_()
    y = layer(x)
    grad = torch.randn_like(y, generator=torch.Generator().manual_seed(0))
    return (y, *torch.autograd.grad(y, (x, layer.weight), grad))


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("out_of_range", ["clamp", "extrapolate", "mirror"])
@pytest.mark.parametrize(("layer_type", "segments"), [("continuous2d", 4), ("discontinuous2d", 3), ("polynomial2d", 1)])
def test_conv_layers_give_the_same_results_with_and_without_the_kernel(
    layer_type, segments, out_of_range, transposed, monkeypatch
) -> None:
    build = high_order_convolution_transpose_layers if transposed else high_order_convolution_layers
    extra = {} if transposed else {"padding": 1, "padding_mode": "reflect"}
    layer = build(
        layer_type, n=3, in_channels=2, out_channels=3, kernel_size=3, segments=segments,
        out_of_range=out_of_range, dtype=torch.float64, **extra,
    )  # fmt: skip
    x = torch.rand(2, 2, 6, 5, dtype=torch.float64) * 2.4 - 1.2
    with_kernel = layer_results(layer, x)

    switch_kernels_off(monkeypatch)
    without_kernel = layer_results(layer, x)
    for a, b in zip(with_kernel, without_kernel, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_piecewise_conv_layers_use_the_kernel(monkeypatch) -> None:
    # the piecewise layout runs the expansion operator for every layer kind (kernels/_dense.py)
    import high_order_layers_torch.kernels._dense as conv_module

    calls = []

    def counting(*args, **kwargs):
        calls.append(kwargs.get("clamp"))
        return fused_piecewise_expansion(*args, **kwargs)

    monkeypatch.setattr(conv_module, "fused_piecewise_expansion", counting)
    # the dense contraction (at 4 segments "auto" times it against the gather, which forms no expansion)
    layer = high_order_convolution_layers(
        "continuous2d", n=3, in_channels=2, out_channels=3, kernel_size=3, segments=4, contraction="dense"
    )
    layer(torch.rand(1, 2, 5, 5))
    assert calls == [True]  # the default clamp is fused into the kernel
    layer.out_of_range = "extrapolate"
    layer(torch.rand(1, 2, 5, 5))
    assert calls == [True, False]


@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
@pytest.mark.parametrize(("rescale_output", "bias"), [(False, False), (True, True)])
def test_one_polynomial_convs_carry_the_constant_term_as_a_bias(padding_mode, rescale_output, bias, monkeypatch):
    """The Chebyshev kernel writes T_1 .. T_{n-1} only; the constant terms become a bias. Exact
    at padded borders, with groups, rescaling and the layer's own bias too."""
    from helpers import record_cpu_kernels
    from high_order_layers_torch.layers import HighOrderConv2d, PiecewisePolynomialBasis

    layer = HighOrderConv2d(
        4, 6, 3, PiecewisePolynomialBasis(4, 1), padding=2, padding_mode=padding_mode, groups=2,
        rescale_output=rescale_output, bias=bias, dtype=torch.float64,
    )  # fmt: skip
    if bias:
        torch.nn.init.normal_(layer.bias)
    x = torch.rand(2, 4, 5, 6, dtype=torch.float64) * 2.4 - 1.2
    called = record_cpu_kernels(monkeypatch)
    with_kernel = layer_results(layer, x)
    assert {"chebyshev_forward", "chebyshev_backward"} <= called
    switch_kernels_off(monkeypatch)
    without_kernel = layer_results(layer, x)
    for a, b in zip(with_kernel, without_kernel, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
