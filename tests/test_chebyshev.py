"""The Chebyshev family (``bases/_chebyshev.py``), added through the basis protocol alone: its
values, every layer kind with float64 gradcheck, kernels against the pure-torch path, exact
refinement to higher degree, projection from and to the other families, export, plot, pruning
and the state-dict record."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import assert_close_ulps, switch_kernels_off
from high_order_layers_torch.bases import BASIS_FAMILIES, ChebyshevBasis, chebyshev_monomial_matrix
from high_order_layers_torch.functional import sum_neuron
from high_order_layers_torch.inspect import evaluate_links, export_link, plot_links, prune_links_
from high_order_layers_torch.layers import (
    HighOrderConv1d,
    HighOrderConv2d,
    HighOrderConvTranspose1d,
    HighOrderLinear,
    PiecewisePolynomialBasis,
    Polynomial,
)
from high_order_layers_torch.refine import Refine, refine_, transfer_matrix

F64 = torch.float64


def rough_(module: torch.nn.Module, scale: float = 0.5) -> torch.nn.Module:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * scale)
    return module


def test_registered_as_a_family() -> None:
    assert BASIS_FAMILIES["chebyshev"] is ChebyshevBasis


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_values_are_cos_k_theta(n: int) -> None:
    theta = torch.linspace(0, math.pi, 41, dtype=F64)
    start, values = ChebyshevBasis(n, dtype=F64)(torch.cos(theta)[:, None])  # (41, 1, n)
    assert start is None and values.shape == (41, 1, n)
    expected = torch.cos(torch.arange(n, dtype=F64) * theta[:, None])
    torch.testing.assert_close(values[:, 0], expected, rtol=0, atol=1e-13)


def test_monomial_matrix_of_the_first_polynomials() -> None:
    expected = torch.tensor(
        [[1, 0, 0, 0], [0, 1, 0, 0], [-1, 0, 2, 0], [0, -3, 0, 4]],
        dtype=F64,
    )
    assert torch.equal(chebyshev_monomial_matrix(4), expected)


def test_linear_and_constant_coefficients() -> None:
    basis = ChebyshevBasis(4, dtype=F64)
    x = torch.linspace(-1, 1, 9, dtype=F64)
    torch.testing.assert_close(basis.dense(x) @ basis.linear_coefficients(), x)
    torch.testing.assert_close(basis.dense(x) @ basis.constant_coefficients(), torch.ones_like(x))
    assert basis.function_config() == {"basis": "ChebyshevBasis", "n": 4}


LAYERS = {
    "linear": lambda n: HighOrderLinear(3, 2, ChebyshevBasis(n), dtype=F64),
    "linear_product": lambda n: HighOrderLinear(3, 2, ChebyshevBasis(n), neuron="product", dtype=F64),
    "conv1d": lambda n: HighOrderConv1d(2, 3, 3, ChebyshevBasis(n), padding=1, dtype=F64),
    "conv2d": lambda n: HighOrderConv2d(2, 2, 2, ChebyshevBasis(n), stride=2, rescale_output=True, dtype=F64),
    "conv_transpose1d": lambda n: HighOrderConvTranspose1d(2, 3, 3, ChebyshevBasis(n), stride=2, dtype=F64),
}


def layer_input(kind: str) -> torch.Tensor:
    shape = {"linear": (5, 3), "linear_product": (5, 3), "conv1d": (2, 2, 6), "conv2d": (2, 2, 4, 4)}
    return (torch.rand(*shape.get(kind, (2, 2, 5)), dtype=F64) * 1.8 - 0.9).requires_grad_()


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("n", [1, 2, 4])
def test_gradcheck_every_layer_kind(kind: str, n: int) -> None:
    layer = rough_(LAYERS[kind](n))
    x = layer_input(kind)
    params = tuple(layer.parameters())

    def f(x: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(
            layer, dict(zip([name for name, _ in layer.named_parameters()], weights, strict=True)), (x,)
        )

    assert torch.autograd.gradcheck(f, (x, *params))
    assert torch.autograd.gradgradcheck(f, (x, *params))


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_kernels_match_the_pure_torch_path(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    layer = rough_(LAYERS[kind](5))
    x = layer_input(kind).detach()
    fast = layer(x)
    switch_kernels_off(monkeypatch)
    assert_close_ulps(fast, layer(x), ulps=64, scale=layer(x).abs().max().item() + 1)


def test_sum_neuron_is_the_sum_of_the_link_functions() -> None:
    layer = rough_(HighOrderLinear(4, 3, ChebyshevBasis(5), dtype=F64))
    x = torch.rand(7, 4, dtype=F64) * 2 - 1
    start, values = layer.basis(x)
    torch.testing.assert_close(layer(x), sum_neuron(start, values, layer.weight))
    torch.testing.assert_close(layer(x), layer.link_functions(x).sum(-1))


def test_same_functions_as_one_lagrange_polynomial() -> None:
    """A Chebyshev layer and a one-piece Lagrange layer span the same polynomials: moving the
    weights between them (least squares on the same space) keeps every link to round-off."""
    lagrange = rough_(Polynomial(3, 2, n=5, dtype=F64))
    transfer, exact = transfer_matrix(lagrange.basis, ChebyshevBasis(5))
    chebyshev = HighOrderLinear(3, 2, ChebyshevBasis(5), dtype=F64)
    with torch.no_grad():
        chebyshev.weight.copy_(lagrange.weight @ transfer.T)
    x = torch.rand(50, 3, dtype=F64) * 2 - 1
    assert not exact  # another family: a projection, which here loses nothing
    torch.testing.assert_close(chebyshev(x), lagrange(x), rtol=0, atol=1e-12)


def test_p_refinement_is_exact() -> None:
    model = torch.nn.Sequential(
        rough_(HighOrderLinear(2, 4, ChebyshevBasis(3), dtype=F64)),
        rough_(HighOrderLinear(4, 1, ChebyshevBasis(2), dtype=F64)),
    )
    x = torch.rand(20, 2, dtype=F64) * 2 - 1
    before = model(x)
    report = refine_(model, Refine(n=lambda n: n + 3))
    assert all(entry.exact and entry.max_error <= 1e-15 for entry in report.values())  # padding: round-off at most
    assert [layer.basis.n for layer in model] == [6, 5]
    torch.testing.assert_close(model(x), before, rtol=0, atol=1e-14)


def test_refining_segments_is_refused_by_name() -> None:
    layer = HighOrderLinear(2, 2, ChebyshevBasis(3))
    with pytest.raises(
        ValueError, match="layer '' is a Chebyshev series, which has no segments; refine it with n only"
    ):
        refine_(layer, Refine(segments=2))


def test_projection_to_piecewise_polynomials() -> None:
    """To piecewise polynomials of the same degree on any number of pieces: the same space
    piece by piece, so the least-squares transfer is exact to round-off."""
    layer = rough_(HighOrderLinear(2, 2, ChebyshevBasis(4), dtype=F64))
    old = layer.basis
    x = torch.rand(30, 2, dtype=F64) * 2 - 1
    before = layer(x)
    layer.basis = PiecewisePolynomialBasis(4, 3, dtype=F64)
    transfer, _ = transfer_matrix(old, layer.basis)
    layer.weight = torch.nn.Parameter(layer.weight.detach() @ transfer.T)
    torch.testing.assert_close(layer(x), before, rtol=0, atol=1e-12)


@pytest.mark.parametrize("coordinate", ["local", "centered", "global"])
def test_export_reproduces_the_link(coordinate: str) -> None:
    layer = rough_(HighOrderLinear(2, 3, ChebyshevBasis(6), out_of_range="extrapolate", dtype=F64))
    x = torch.linspace(-1.2, 1.2, 25, dtype=F64)
    exported = export_link(layer, (2, 1), coordinate=coordinate)
    torch.testing.assert_close(exported(x), evaluate_links(layer, x, [(2, 1)])[:, 0], rtol=0, atol=1e-12)


def test_export_of_a_conv_link() -> None:
    layer = rough_(HighOrderConv1d(2, 2, 3, ChebyshevBasis(4), dtype=F64))
    x = torch.linspace(-1, 1, 11, dtype=F64)
    torch.testing.assert_close(export_link(layer, (1, 0, 2))(x), evaluate_links(layer, x, [(1, 0, 2)])[:, 0])


def test_plot_has_no_nodes_or_joints() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    layer = HighOrderLinear(2, 2, ChebyshevBasis(4))
    figure = plot_links(layer, [(0, 0), (1, 1)])
    ax = figure.axes[0]
    assert len(ax.lines) == 1  # the link function alone: no node markers, no joint lines
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_prune_fills_with_constants() -> None:
    layer = rough_(HighOrderLinear(4, 2, ChebyshevBasis(3), dtype=F64))
    x = torch.rand(64, 4, dtype=F64) * 2 - 1
    _, report = prune_links_(layer, x, fraction=0.5, fill="mean")
    assert len(report.links) == 4
    for link in report.links:
        out, inp = link.index
        values = evaluate_links(layer, torch.linspace(-1, 1, 5, dtype=F64), [(out, inp)])[:, 0]
        assert torch.allclose(values, values[0].expand(5))  # a constant link


def test_state_dict_records_the_family() -> None:
    layer = HighOrderLinear(2, 2, ChebyshevBasis(3))
    state = layer.state_dict()
    HighOrderLinear(2, 2, ChebyshevBasis(3)).load_state_dict(state)
    with pytest.raises(RuntimeError, match="ChebyshevBasis\\(n=3\\)"):
        HighOrderLinear(2, 2, PiecewisePolynomialBasis(3)).load_state_dict(state)


def test_moves_to_another_dtype_and_back() -> None:
    layer = HighOrderLinear(2, 2, ChebyshevBasis(3))
    assert layer.double().basis.anchor.dtype == F64
    assert layer.float().basis.replace(n=5).anchor.dtype == torch.float32
