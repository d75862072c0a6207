"""The fused CPU kernel for product neurons against its pure-torch twin."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import num_weights, permuted_storage, record_cpu_kernels, switch_kernels_off
from high_order_layers_torch.kernels import (
    cpu_kernels_available,
    fused_linear_product,
    fused_piecewise_product,
    product_neuron_twin,
)
from high_order_layers_torch.layers import (
    PiecewiseDiscontinuousPolynomialProd,
    PiecewisePolynomialProd,
    PolynomialProd,
    Product,
)
from high_order_layers_torch.refine import Refine, refine_

pytestmark = pytest.mark.skipif(not cpu_kernels_available(), reason="no C++ toolchain for the CPU kernels")


def fused(x, weight, basis, alpha, clamp):
    if basis is None:
        return fused_linear_product(x, weight, alpha, clamp=clamp)
    return fused_piecewise_product(x, weight, *basis, alpha, clamp=clamp)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, *, equal_nan: bool = False) -> None:
    """Close relative to the largest entry: products of many factors span several magnitudes."""
    rtol = 1e-4 if actual.dtype == torch.float32 else 1e-10
    finite = expected[expected.isfinite()]
    scale = finite.abs().max().item() if finite.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0), equal_nan=equal_nan)


def results(fn, x, weight, grad):
    """Output and gradients with respect to ``x`` and ``weight`` (zeros where unused)."""
    x, weight = x.detach().requires_grad_(), weight.detach().requires_grad_()
    y = fn(x, weight)
    return (y, *torch.autograd.grad(y, (x, weight), grad, allow_unused=True, materialize_grads=True))


def compare(x, weight, basis, alpha, clamp, *, equal_nan=False, seed=0) -> None:
    generator = torch.Generator().manual_seed(seed)
    grad = torch.randn(x.shape[0], weight.shape[0], dtype=x.dtype, generator=generator)
    kernel = results(lambda v, w: fused(v, w, basis, alpha, clamp), x, weight, grad)
    twin = results(lambda v, w: product_neuron_twin(v, w, basis, alpha, clamp=clamp), x, weight, grad)
    for a, b in zip(kernel, twin, strict=True):
        assert_close(a, b, equal_nan=equal_nan)


def random_case(batch, inputs, outputs, basis, clamp, dtype, *, seed=0):
    """Inputs (beyond ``[-1, 1]`` only where the clamp handles them) and weights whose link
    values stay small enough that a product of ``inputs`` factors keeps its scale."""
    generator = torch.Generator().manual_seed(seed)
    scale = 2.4 if clamp else 2.0
    x = (torch.rand(batch, inputs, dtype=dtype, generator=generator) - 0.5) * scale
    size = 1 if basis is None else num_weights(*basis)
    weight = torch.randn(outputs, inputs, size, dtype=dtype, generator=generator) * (0.5 / inputs**0.5)
    return x, permuted_storage(weight) if seed % 2 else weight  # both layouts


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("clamp", [False, True])
@pytest.mark.parametrize("alpha", [1.0, 0.3])
@pytest.mark.parametrize(
    ("batch", "inputs", "outputs", "basis"),
    [
        (1, 1, 1, (2, 1, True)),
        (7, 5, 3, (3, 4, True)),
        (33, 17, 130, (5, 2, False)),  # several tiles of outputs and a scalar tail
        (64, 3, 20, (1, 3, True)),
        (64, 3, 20, (1, 3, False)),
        (5, 4, 70, (6, 1, True)),
        (70, 70, 9, (4, 2, True)),  # several blocks of samples and of inputs
        (130, 3, 600, (2, 2, True)),  # several chunks of samples in the backward
        (9, 3, 20, (10, 3, False)),  # more nodes than the unrolled backward handles
        (12, 6, 37, None),  # the linear basis of Product
    ],
)
def test_kernel_matches_the_twin(batch, inputs, outputs, basis, alpha, clamp, dtype) -> None:
    for seed in (0, 1):
        x, weight = random_case(batch, inputs, outputs, basis, clamp, dtype, seed=seed)
        compare(x, weight, basis, alpha, clamp, seed=seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("alpha", [1.0, 0.3])
@pytest.mark.parametrize("basis", [(1, 3, False), (2, 2, True), None])
def test_factors_exactly_zero(basis, alpha, dtype) -> None:
    """Links with ``1 + f = 0`` exactly: one such factor in a product, two, and none."""
    outputs, inputs = 4, 5
    size = 1 if basis is None else num_weights(*basis)
    weight = torch.full((outputs, inputs, size), 0.25, dtype=dtype)
    weight[..., 0] = torch.linspace(-0.3, 0.3, outputs * inputs, dtype=dtype).reshape(outputs, inputs)
    # x = -1 selects weight 0 exactly for every basis here (a piecewise constant, the first node
    # of a linear piece, or the slope times -1), so these links are -1:
    weight[1, 2, 0] = -1.0  # output 1: one zero factor for samples with x[:, 2] = -1
    weight[2, 0, 0] = weight[2, 3, 0] = -1.0  # output 2: two zero factors when both inputs are -1
    if basis is None:
        weight = -weight  # f = w * x with x = -1
    x = torch.rand(6, inputs, dtype=dtype) * 1.6 - 0.8
    x[0] = -1.0  # every zero factor present
    x[1, 2] = x[2, 0] = x[3, 3] = -1.0
    compare(x, weight, basis, alpha, clamp=True)
    y = fused(x, weight, basis, alpha, True)
    links = weight[..., 0] * (-1 if basis is None else 1)
    assert (links == -1).sum() == 3 and torch.isfinite(y).all()


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(0, 40),
    inputs=st.integers(1, 8),
    outputs=st.integers(1, 70),
    n=st.integers(1, 9),
    segments=st.integers(1, 8),
    continuous=st.booleans(),
    linear=st.booleans(),
    clamp=st.booleans(),
    alpha=st.sampled_from([1.0, 0.3, 0.0]),
)
def test_kernel_property(batch, inputs, outputs, n, segments, continuous, linear, clamp, alpha) -> None:
    basis = None if linear else (n, segments, continuous)
    x, weight = random_case(batch, inputs, outputs, basis, clamp, torch.float64, seed=batch)
    compare(x, weight, basis, alpha, clamp, seed=batch)


@pytest.mark.parametrize(("basis", "alpha"), [((3, 4, True), 1.0), ((4, 2, False), 0.3), (None, 0.3)])
def test_gradcheck_and_gradgradcheck(basis, alpha) -> None:
    x = (torch.rand(6, 4, dtype=torch.float64) * 2.2 - 1.1).requires_grad_()
    size = 1 if basis is None else num_weights(*basis)
    weight = permuted_storage(torch.randn(5, 4, size, dtype=torch.float64) * 0.5).requires_grad_()

    def fn(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return fused(v, w, basis, alpha, True)

    assert torch.autograd.gradcheck(fn, (x, weight))
    assert torch.autograd.gradgradcheck(fn, (x, weight))


@pytest.mark.parametrize("clamp", [False, True])
@pytest.mark.parametrize("basis", [(3, 2, True), (1, 2, False), None])
def test_nan_inputs_behave_as_in_the_twin(basis, clamp) -> None:
    x, weight = random_case(4, 3, 5, basis, clamp, torch.float64)
    x[0, 1] = float("nan")
    compare(x, weight, basis, 0.3, clamp, equal_nan=True)
    y = fused(x, weight, basis, 0.3, clamp)
    assert not y[1:].isnan().any()
    if basis is None or basis[0] > 1:  # piecewise constants do not depend on x at all
        assert y[0].isnan().all()


def test_empty_batch() -> None:
    weight = torch.randn(3, 4, num_weights(3, 2, True), dtype=torch.float64, requires_grad=True)
    x = torch.empty(0, 4, dtype=torch.float64, requires_grad=True)
    y = fused_piecewise_product(x, weight, 3, 2, True, 0.3, clamp=True)
    assert y.shape == (0, 3)
    grad_x, grad_weight = torch.autograd.grad(y.sum(), (x, weight))
    assert grad_x.shape == (0, 4) and torch.equal(grad_weight, torch.zeros_like(weight))


LAYERS = [
    lambda **kw: PiecewisePolynomialProd(5, 3, n=4, segments=3, **kw),
    lambda **kw: PiecewiseDiscontinuousPolynomialProd(5, 3, n=3, segments=2, **kw),
    lambda **kw: PolynomialProd(5, 3, n=5, **kw),
    lambda **kw: Product(5, 3, **kw),
]


def layer_results(layer, x):
    xg = x.clone().requires_grad_()
    y = layer(xg)
    return y, torch.autograd.grad(y.pow(2).sum(), (xg, *layer.parameters()))


@pytest.mark.parametrize("alpha", [1.0, 0.3])
@pytest.mark.parametrize(("out_of_range", "periodicity"), [("clamp", None), ("extrapolate", None), ("clamp", 3.0)])
@pytest.mark.parametrize("make", LAYERS)
def test_layers_use_the_kernel_and_match_the_pure_torch_path(make, out_of_range, periodicity, alpha, monkeypatch):
    layer = make(alpha=alpha, out_of_range=out_of_range, periodicity=periodicity, dtype=torch.float64)
    assert layer.weight.is_contiguous()
    x = torch.rand(2, 7, 5, dtype=torch.float64) * (2.4 if out_of_range == "clamp" else 2.0) - 1.2
    called = record_cpu_kernels(monkeypatch)
    y, grads = layer_results(layer, x)
    assert y.shape == (2, 7, 3) and {"product_forward", "product_backward"} <= called
    assert grads[1].is_contiguous()
    switch_kernels_off(monkeypatch)
    called.clear()
    y_twin, grads_twin = layer_results(layer, x)
    assert not called
    assert_close(y, y_twin)
    for a, b in zip(grads, grads_twin, strict=True):
        assert_close(a, b)


@pytest.mark.parametrize("make", LAYERS)
def test_layers_take_an_empty_batch(make) -> None:
    layer = make()
    x = torch.empty(0, 5, requires_grad=True)
    y = layer(x)
    assert y.shape == (0, 3)
    y.sum().backward()
    assert torch.equal(layer.weight.grad, torch.zeros_like(layer.weight))


@pytest.mark.parametrize("make", LAYERS)
def test_second_derivatives_through_the_kernel_match_the_twin(make, monkeypatch) -> None:
    layer = make(alpha=0.3, dtype=torch.float64)
    x = torch.rand(4, 5, dtype=torch.float64) * 1.8 - 0.9

    def second():
        xg = x.clone().requires_grad_()
        (first,) = torch.autograd.grad(layer(xg).sum(), xg, create_graph=True)
        return (first, *torch.autograd.grad(first.pow(2).sum(), (xg, layer.weight)))

    with_kernel = second()
    switch_kernels_off(monkeypatch)
    for a, b in zip(with_kernel, second(), strict=True):
        assert_close(a, b)


@pytest.mark.parametrize(
    ("make", "config"),
    [
        (LAYERS[0], Refine(n=5, segments=6)),
        (LAYERS[1], Refine(segments=4)),
        (LAYERS[2], Refine(n=7)),
    ],
)
def test_refinement_preserves_outputs_and_the_layout(make, config) -> None:
    layer = make(dtype=torch.float64)
    x = torch.rand(9, 5, dtype=torch.float64) * 2 - 1
    before = layer(x)
    refine_(layer, config)
    assert layer.weight.is_contiguous()
    after = layer(x)
    assert_close(after, before)
