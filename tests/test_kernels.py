"""The fused CPU gather kernel against its pure-torch twins."""

from __future__ import annotations

import pytest
import torch

from high_order_layers_torch.functional import sum_neuron, sum_neuron_gather
from high_order_layers_torch.kernels import fused_gather_available, fused_gather_sum, gather_sum
from high_order_layers_torch.layers import PiecewiseDiscontinuousPolynomial, PiecewisePolynomial

pytestmark = pytest.mark.skipif(not fused_gather_available(), reason="no C++ toolchain for the fused kernel")


def random_problem(batch: int, inputs: int, active: int, num_weights: int, outputs: int, dtype: torch.dtype):
    weight = torch.randn(outputs, inputs, num_weights, dtype=dtype, requires_grad=True)
    values = torch.randn(batch, inputs, active, dtype=dtype, requires_grad=True)
    start = torch.randint(0, num_weights - active + 1, (batch, inputs))
    return start, values, weight


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("batch", "inputs", "active", "num_weights", "outputs"),
    [
        (1, 1, 1, 1, 1),
        (7, 5, 3, 20, 4),
        (33, 17, 5, 257, 9),
        (64, 3, 2, 2, 130),
    ],
)
def test_fused_matches_embedding_bag_and_dense(batch, inputs, active, num_weights, outputs, dtype) -> None:
    start, values, weight = random_problem(batch, inputs, active, num_weights, outputs, dtype)
    grad = torch.randn(batch, outputs, dtype=dtype)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    results = []
    for fn in (fused_gather_sum, sum_neuron_gather, sum_neuron):
        y = fn(start, values, weight)
        gv, gw = torch.autograd.grad(y, (values, weight), grad)
        results.append((y, gv, gw))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            torch.testing.assert_close(a, b, **tol)


def test_fused_gradcheck() -> None:
    start, values, weight = random_problem(6, 4, 3, 11, 5, torch.float64)
    assert torch.autograd.gradcheck(lambda v, w: fused_gather_sum(start, v, w), (values, weight))


def test_all_weights_active_without_start() -> None:
    _, values, weight = random_problem(5, 3, 4, 4, 2, torch.float64)
    torch.testing.assert_close(fused_gather_sum(None, values, weight), sum_neuron(None, values, weight))


def test_gather_sum_falls_back_for_unsupported_dtypes() -> None:
    start, values, weight = random_problem(4, 3, 2, 6, 2, torch.float64)
    values16, weight16 = values.detach().bfloat16(), weight.detach().bfloat16()
    torch.testing.assert_close(
        gather_sum(start, values16, weight16), sum_neuron_gather(start, values16, weight16), rtol=0, atol=0
    )


@pytest.mark.parametrize("cls", [PiecewisePolynomial, PiecewiseDiscontinuousPolynomial])
def test_layers_with_many_segments_use_the_kernel_and_agree_with_dense(cls) -> None:
    layer = cls(6, 3, n=4, segments=64, dtype=torch.float64)
    x = (torch.rand(10, 6, dtype=torch.float64) * 2 - 1).requires_grad_()
    y_auto = layer(x)
    (gx_auto,) = torch.autograd.grad(y_auto.sum(), x)
    layer.contraction = "dense"
    y_dense = layer(x)
    (gx_dense,) = torch.autograd.grad(y_dense.sum(), x)
    torch.testing.assert_close(y_auto, y_dense, rtol=0, atol=1e-12)
    torch.testing.assert_close(gx_auto, gx_dense, rtol=0, atol=1e-12)


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


def test_fused_gradgradcheck() -> None:
    start, values, weight = random_problem(4, 3, 3, 9, 2, torch.float64)
    assert torch.autograd.gradgradcheck(lambda v, w: fused_gather_sum(start, v, w), (values, weight))
