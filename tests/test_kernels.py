"""The fused CPU kernel for piecewise sum neurons against its pure-torch twins."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import (
    assert_close_ulps,
    num_weights,
    permuted_storage,
    record_cpu_kernels,
    sum_neuron_reference,
    switch_kernels_off,
)
from high_order_layers_torch.functional import piecewise_values, sum_neuron_gather
from high_order_layers_torch.kernels import cpu_kernels_available, fused_piecewise_gather
from high_order_layers_torch.layers import PiecewiseDiscontinuousPolynomial, PiecewisePolynomial
from high_order_layers_torch.refine import Refine, refine_

pytestmark = pytest.mark.skipif(not cpu_kernels_available(), reason="no C++ toolchain for the CPU kernels")


def compare(batch, inputs, outputs, n, segments, continuous, clamp, dtype, *, permuted=False, seed=0) -> None:
    generator = torch.Generator().manual_seed(seed)
    scale = 2.4 if clamp else 2.0  # values outside [-1, 1] only where the clamp handles them
    x = ((torch.rand(batch, inputs, dtype=dtype, generator=generator) - 0.5) * scale).requires_grad_()
    weight = torch.randn(outputs, inputs, num_weights(n, segments, continuous), dtype=dtype, generator=generator)
    weight = (permuted_storage(weight) if permuted else weight).requires_grad_()
    grad = torch.randn(batch, outputs, dtype=dtype, generator=generator)
    results = []
    for fn in (fused_piecewise_gather, sum_neuron_reference):
        y = fn(x, weight, n, segments, continuous, clamp=clamp)
        results.append((y, *torch.autograd.grad(y, (x, weight), grad, allow_unused=True, materialize_grads=True)))
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-11, "atol": 1e-11}
    for fused, twin in zip(*results, strict=True):
        torch.testing.assert_close(fused, twin, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("clamp", [False, True])
@pytest.mark.parametrize(
    ("batch", "inputs", "outputs", "n", "segments", "continuous"),
    [
        (1, 1, 1, 2, 1, True),
        (7, 5, 3, 3, 4, True),
        (33, 17, 130, 5, 16, False),
        (64, 3, 64, 1, 3, True),
        (64, 3, 64, 1, 3, False),
        (5, 4, 70, 6, 1, True),
        (10, 6, 129, 4, 64, True),
        (9, 3, 20, 10, 3, False),  # more nodes than the unrolled kernels handle
        (12, 4, 40, 3, 2, True),  # narrower than a full tile of output vectors
    ],
)
def test_fused_matches_the_twin(batch, inputs, outputs, n, segments, continuous, clamp, dtype) -> None:
    compare(batch, inputs, outputs, n, segments, continuous, clamp, dtype)
    compare(batch, inputs, outputs, n, segments, continuous, clamp, dtype, permuted=True)


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 40),
    inputs=st.integers(1, 6),
    outputs=st.integers(1, 70),
    n=st.integers(1, 9),
    segments=st.integers(1, 12),
    continuous=st.booleans(),
    clamp=st.booleans(),
    permuted=st.booleans(),
)
def test_fused_property(batch, inputs, outputs, n, segments, continuous, clamp, permuted) -> None:
    compare(batch, inputs, outputs, n, segments, continuous, clamp, torch.float64, permuted=permuted, seed=batch)


def test_embedding_bag_twin_agrees() -> None:
    x = torch.rand(11, 4, dtype=torch.float64) * 2 - 1
    weight = torch.randn(3, 4, num_weights(4, 5, True), dtype=torch.float64)
    start, values = piecewise_values(x, 4, 5, True)
    assert_close_ulps(fused_piecewise_gather(x, weight, 4, 5, True), sum_neuron_gather(start, values, weight), ulps=64)


def test_fused_gradcheck_and_gradgradcheck() -> None:
    x = (torch.rand(6, 4, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    weight = permuted_storage(torch.randn(5, 4, num_weights(3, 4, True), dtype=torch.float64)).requires_grad_()

    def fn(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return fused_piecewise_gather(v, w, 3, 4, True, clamp=True)

    assert torch.autograd.gradcheck(fn, (x, weight))
    assert torch.autograd.gradgradcheck(fn, (x, weight))


def test_nan_propagates_and_clamp_passes_no_gradient() -> None:
    x = torch.tensor([[float("nan"), 0.3], [2.0, -3.0]], dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 2, num_weights(3, 2, True), dtype=torch.float64)
    y = fused_piecewise_gather(x, weight, 3, 2, True, clamp=True)
    assert y[0].isnan().all() and not y[1].isnan().any()
    (grad,) = torch.autograd.grad(y[1].sum(), x)
    assert torch.equal(grad[1], torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("cls", [PiecewisePolynomial, PiecewiseDiscontinuousPolynomial])
def test_layers_with_many_segments_use_the_kernel_and_agree_with_dense(cls, monkeypatch) -> None:
    layer = cls(6, 3, n=4, segments=64, dtype=torch.float64)
    x = (torch.rand(10, 6, dtype=torch.float64) * 2 - 1).requires_grad_()
    called = record_cpu_kernels(monkeypatch)
    y_auto = layer(x)
    assert "gather_forward" in called
    (gx_auto,) = torch.autograd.grad(y_auto.sum(), x)
    layer.contraction = "dense"
    y_dense = layer(x)
    (gx_dense,) = torch.autograd.grad(y_dense.sum(), x)
    assert_close_ulps(y_auto, y_dense, ulps=64)
    assert_close_ulps(gx_auto, gx_dense, ulps=64)


def test_piecewise_layers_keep_contiguous_weights() -> None:
    """The kernels read the (out, in, M) parameter as it is stored: contiguous, through training,
    dtype changes and refinement."""
    layer = PiecewisePolynomial(5, 3, n=3, segments=4)
    assert layer.weight.shape == (3, 5, 9)
    assert layer.weight.is_contiguous()
    layer(torch.rand(2, 5)).sum().backward()
    assert layer.weight.grad.is_contiguous()
    assert layer.double().weight.is_contiguous()
    refine_(layer, Refine(segments=8))
    assert layer.weight.shape == (3, 5, 17) and layer.weight.is_contiguous()
    # a state dict saved from another layout loads
    fresh = PiecewisePolynomial(5, 3, n=3, segments=8, dtype=torch.float64)
    fresh.load_state_dict(layer.state_dict())
    x = torch.rand(4, 5, dtype=torch.float64)
    torch.testing.assert_close(fresh(x), layer(x), rtol=0, atol=0)


@pytest.mark.parametrize("cls", [PiecewisePolynomial, PiecewiseDiscontinuousPolynomial])
def test_second_derivatives_through_the_kernel_match_dense(cls) -> None:
    layer = cls(3, 2, n=4, segments=8, dtype=torch.float64)
    x = (torch.rand(5, 3, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    results = []
    for contraction in ("gather", "dense"):
        layer.contraction = contraction
        (first,) = torch.autograd.grad(layer(x).sum(), x, create_graph=True)
        second_x, second_w = torch.autograd.grad(first.pow(2).sum(), (x, layer.weight))
        results.append((first, second_x, second_w))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("out_of_range", ["clamp", "extrapolate", "mirror"])
@pytest.mark.parametrize(
    ("layer_type", "segments", "contraction"),
    [("polynomial", 1, "auto"), ("continuous", 1, "auto"), ("discontinuous", 3, "dense"), ("continuous", 6, "gather")],
)
def test_fc_layers_give_the_same_results_with_and_without_the_kernels(
    layer_type, segments, contraction, out_of_range, monkeypatch
) -> None:
    from high_order_layers_torch.layers import high_order_fc_layers

    layer = high_order_fc_layers(
        layer_type, n=4, in_features=5, out_features=3, segments=segments, out_of_range=out_of_range,
        dtype=torch.float64,
    )  # fmt: skip
    layer.contraction = contraction
    x = torch.rand(7, 5, dtype=torch.float64) * 2.4 - 1.2

    def results():
        xg = x.clone().requires_grad_()
        y = layer(xg)
        return (y, *torch.autograd.grad(y.pow(2).sum(), (xg, layer.weight)))

    with_kernels = results()

    switch_kernels_off(monkeypatch)
    without_kernels = results()
    for a, b in zip(with_kernels, without_kernels, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [0, 1, 2, 6])
def test_fourier_kernel_matches_the_recurrence_twin(n, dtype) -> None:
    from high_order_layers_torch.functional import fourier_basis_harmonic
    from high_order_layers_torch.kernels import fused_fourier_values

    x = (torch.rand(9, 4, dtype=dtype) * 4 - 2).requires_grad_()
    fused, twin = fused_fourier_values(x, 0.7, n), fourier_basis_harmonic(x, 0.7, n)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(fused, twin, **tol)
    grad = torch.randn_like(fused)
    (grad_fused,) = torch.autograd.grad(fused, x, grad)
    expected = torch.autograd.grad(twin, x, grad)[0] if twin.requires_grad else torch.zeros_like(x)
    torch.testing.assert_close(grad_fused, expected, **tol)


@pytest.mark.parametrize(("rows", "constant"), [(False, True), (False, False), (True, True), (True, False)])
def test_fourier_kernel_gradcheck_and_gradgradcheck(rows, constant) -> None:
    from high_order_layers_torch.kernels import fused_fourier_values

    x = (torch.rand(4, 3, dtype=torch.float64) * 2 - 1).requires_grad_()

    def fn(v):
        return fused_fourier_values(v, 1.3, 4, rows=rows, constant=constant)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_fourier_kernel_rows_layout_without_the_constant(n, dtype) -> None:
    """``rows=True, constant=False``: value ``j`` of input ``i`` at ``[:, j, i]``, leading 1 left out."""
    from high_order_layers_torch.functional import fourier_basis_harmonic
    from high_order_layers_torch.kernels import fused_fourier_values

    x = (torch.rand(7, 5, dtype=dtype) * 4 - 2).requires_grad_()
    fused = fused_fourier_values(x, 0.7, n, rows=True, constant=False)
    twin = fourier_basis_harmonic(x, 0.7, n)[..., 1:].movedim(-1, 1)
    assert fused.shape == (7, 2 * n, 5) and fused.is_contiguous()
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(fused, twin, **tol)
    grad = torch.randn_like(fused)
    torch.testing.assert_close(torch.autograd.grad(fused, x, grad)[0], torch.autograd.grad(twin, x, grad)[0], **tol)


def test_fourier_kernel_rejects_bad_layouts() -> None:
    from high_order_layers_torch.kernels import fused_fourier_values

    with pytest.raises(ValueError, match=r"rows=True takes a \(B, I\) input, got shape \(2, 3, 4\)"):
        fused_fourier_values(torch.zeros(2, 3, 4), 1.0, 2, rows=True)
    with pytest.raises(ValueError, match="constant=False needs n >= 1, got n=0"):
        fused_fourier_values(torch.zeros(2, 3), 1.0, 0, constant=False)


@pytest.mark.parametrize(("rescale_output", "bias"), [(False, False), (True, True)])
def test_fourier_layers_fold_the_constant_into_a_bias(rescale_output, bias, monkeypatch) -> None:
    """Fourier sum layers: harmonics in (B, 2n, I) rows from the kernel, the constant terms as a
    bias; equal to the pure-torch path."""
    from high_order_layers_torch.layers import HighOrderLinear
    from high_order_layers_torch.layers._basis import FourierBasis

    layer = HighOrderLinear(5, 3, FourierBasis(3, 1.5), bias=bias, rescale_output=rescale_output, dtype=torch.float64)
    assert layer.weight.is_contiguous()
    if bias:
        torch.nn.init.normal_(layer.bias)
    x = (torch.rand(6, 5, dtype=torch.float64) * 2.6 - 1.3).requires_grad_()
    called = record_cpu_kernels(monkeypatch)
    y = layer(x)
    assert "fourier_forward" in called
    grad = torch.randn_like(y)
    fused = (y, *torch.autograd.grad(y, (x, layer.weight), grad))
    switch_kernels_off(monkeypatch)
    y = layer(x)
    plain = (y, *torch.autograd.grad(y, (x, layer.weight), grad))
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("clamp", [False, True])
@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_chebyshev_kernel_matches_its_twin(n, clamp, dtype) -> None:
    from high_order_layers_torch.functional import chebyshev_expansion
    from high_order_layers_torch.kernels import fused_chebyshev_expansion

    x = ((torch.rand(3, 4, 37, dtype=dtype) - 0.5) * (2.4 if clamp else 2.0)).requires_grad_()
    fused, twin = fused_chebyshev_expansion(x, n, clamp=clamp), chebyshev_expansion(x, n, clamp=clamp)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(fused, twin, **tol)
    grad = torch.randn_like(fused)
    torch.testing.assert_close(torch.autograd.grad(fused, x, grad)[0], torch.autograd.grad(twin, x, grad)[0], **tol)


def test_chebyshev_kernel_gradcheck_and_gradgradcheck() -> None:
    from high_order_layers_torch.kernels import fused_chebyshev_expansion

    x = (torch.rand(2, 2, 5, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: fused_chebyshev_expansion(v, 4, clamp=True), (x,))
    assert torch.autograd.gradgradcheck(lambda v: fused_chebyshev_expansion(v, 4, clamp=True), (x,))


@pytest.mark.parametrize(("n", "segments"), [(3, 4), (10, 2)])  # unrolled and generic backward
def test_weight_gradient_alone_for_an_input_without_grad(n, segments) -> None:
    """A first layer's input needs no gradient: the kernel then skips it, and the weight gradient
    is unchanged."""
    x = torch.rand(37, 6, dtype=torch.float64) * 2.4 - 1.2
    weight = permuted_storage(torch.randn(5, 6, num_weights(n, segments, True), dtype=torch.float64)).requires_grad_()
    grad = torch.randn(37, 5, dtype=torch.float64)
    y = fused_piecewise_gather(x, weight, n, segments, True, clamp=True)
    (fused,) = torch.autograd.grad(y, weight, grad)
    (expected,) = torch.autograd.grad(sum_neuron_reference(x, weight, n, segments, True, True), weight, grad)
    torch.testing.assert_close(fused, expected, rtol=1e-11, atol=1e-11)


def test_gradients_of_gradients_where_the_twin_is_constant_in_x() -> None:
    """Piecewise constants (n = 1) and a constant series (n = 0) do not depend on x: under
    create_graph the kernels' twins give a zero gradient rather than failing."""
    from high_order_layers_torch.kernels import fused_fourier_values, fused_piecewise_expansion

    x = (torch.rand(2, 3, 4, dtype=torch.float64) * 2 - 1).requires_grad_()
    for values in (fused_piecewise_expansion(x, 1, 3, False), fused_fourier_values(x, 1.0, 0)):
        (grad_x,) = torch.autograd.grad(values, x, torch.ones_like(values), create_graph=True)
        assert torch.equal(grad_x, torch.zeros_like(x))
