"""Exact closed forms of links: evaluating an export reproduces the layer's link function."""

from __future__ import annotations

import math

import pytest
import torch

from high_order_layers_torch.inspect import (
    FourierExport,
    PiecewisePolynomialExport,
    evaluate_link,
    export_link,
    lagrange_monomial_matrix,
    link_weights,
)
from high_order_layers_torch.layers import (
    FourierSeries,
    PiecewiseDiscontinuousPolynomial,
    PiecewisePolynomial,
    PiecewisePolynomialBasis,
    PiecewisePolynomialProd,
    Polynomial,
    Product,
)
from high_order_layers_torch.layers._conv import HighOrderConv2d
from high_order_layers_torch.layers._conv_transpose import HighOrderConvTranspose1d

F64 = torch.float64
TOL = 1e-12
EPS = torch.finfo(F64).eps


def conditioning_tolerance(coefficients: torch.Tensor, expected: torch.Tensor, ulps: float = 32.0) -> float:
    """Round-off of summing monomials with these coefficients at ``|x| <= 1``: ``ulps * eps`` times
    the largest ``sum_j |c_j|`` of a piece (the global form's conditioning, large for high degree
    and many pieces), or times the values' magnitude where that is larger."""
    size = max(coefficients.abs().sum(dim=-1).max().item(), expected.abs().max().item())
    return ulps * EPS * size


def piecewise_layer(continuous: bool, n: int, segments: int, **options: object) -> torch.nn.Module:
    cls = PiecewisePolynomial if continuous else PiecewiseDiscontinuousPolynomial
    layer = cls(3, 2, n=n, segments=segments, dtype=F64, **options)
    with torch.no_grad():  # arbitrary node values, not the near-linear initialisation
        layer.weight.copy_(torch.rand(layer.weight.shape, dtype=F64) * 2 - 1)  # drawn in (out, in, M) order
    return layer


def layer_link(layer: torch.nn.Module, link: tuple[int, int], x: torch.Tensor) -> torch.Tensor:
    """The layer's own value of link (o, i) at the points x (fed to input i)."""
    inputs = x[:, None].expand(x.shape[0], layer.in_features).contiguous()
    with torch.no_grad():
        return layer.link_functions(inputs)[:, link[0], link[1]]


def sample_points(low: float = -1.0, high: float = 1.0, count: int = 400) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    inside = torch.rand(count, generator=generator, dtype=F64) * (high - low) + low
    return torch.cat([inside, torch.linspace(low, high, 101, dtype=F64)])


@pytest.mark.parametrize("continuous", [True, False])
@pytest.mark.parametrize("n", range(1, 9))
@pytest.mark.parametrize("segments", [1, 3, 16])
def test_export_reproduces_piecewise_link(continuous: bool, n: int, segments: int) -> None:
    layer = piecewise_layer(continuous, n, segments)
    x = sample_points()
    with torch.no_grad():
        links = layer.link_functions(x[:, None].expand(x.shape[0], 3))  # (N, out, in)
    for link in [(0, 0), (1, 2)]:
        for coordinate in ("local", "centered"):
            exported = export_link(layer, link, coordinate=coordinate)
            assert isinstance(exported, PiecewisePolynomialExport)
            assert exported.coordinate == coordinate
            assert exported.coefficients.shape == (segments, n)
            assert exported.coefficients.dtype == F64
            assert torch.allclose(exported(x), links[:, link[0], link[1]], rtol=0, atol=TOL)
    with torch.no_grad():
        assert torch.allclose(evaluate_link(layer, (1, 2), x), links[:, 1, 2], rtol=0, atol=TOL)


@pytest.mark.parametrize("continuous", [True, False])
@pytest.mark.parametrize(("n", "segments"), [(n, s) for n in range(1, 9) for s in (1, 2)] + [(4, 4), (3, 16)])
def test_global_coordinate_reproduces_link(continuous: bool, n: int, segments: int) -> None:
    layer = piecewise_layer(continuous, n, segments)
    exported = export_link(layer, (1, 1), coordinate="global")
    x = sample_points()
    expected = layer_link(layer, (1, 1), x)
    # Powers of x lose accuracy as the degree and the number of pieces grow (docs): hold the
    # global form to round-off of its own coefficients, not to a fixed 1e-12.
    tolerance = conditioning_tolerance(exported.coefficients, expected)
    assert torch.allclose(exported(x), expected, rtol=0, atol=tolerance)


@pytest.mark.parametrize("continuous", [True, False])
@pytest.mark.parametrize("n", [5, 8])
def test_global_coordinate_with_many_segments_meets_its_conditioning_bound(continuous: bool, n: int) -> None:
    """Powers of x are exact algebra but ill-conditioned with many pieces: the error stays within
    a small multiple of eps * sum_j |c_j| (what float64 coefficients can hold), while the local
    form of the same link stays at round-off."""
    layer = piecewise_layer(continuous, n, 16)
    exported = export_link(layer, (0, 1), coordinate="global")
    x = sample_points()
    expected = layer_link(layer, (0, 1), x)
    bound = 64 * torch.finfo(F64).eps * exported.coefficients.abs().sum(dim=1).max()
    assert (exported(x) - expected).abs().max() <= bound
    assert torch.allclose(export_link(layer, (0, 1))(x), expected, rtol=0, atol=TOL)


def test_coordinate_conversions_round_trip() -> None:
    local = export_link(piecewise_layer(False, 6, 3), (1, 0))
    for coordinate in ("centered", "global"):
        back = local.to_coordinate(coordinate).to_coordinate("local")
        assert torch.allclose(back.coefficients, local.coefficients, rtol=0, atol=1e-11)
    assert local.to_coordinate("local") is local


def test_global_coefficients_of_a_known_polynomial() -> None:
    """A quadratic stored as node values: its global monomial coefficients are recovered."""
    layer = Polynomial(1, 1, n=3, dtype=F64)
    basis = layer.basis
    with torch.no_grad():
        x = basis.node_positions()
        layer.weight[0, 0] = 0.5 - 2 * x + 3 * x**2
    for coordinate in ("local", "centered", "global"):  # one piece on [-1, 1]: all three agree
        exported = export_link(layer, (0, 0), coordinate=coordinate)
        assert torch.allclose(exported.coefficients, torch.tensor([[0.5, -2.0, 3.0]], dtype=F64), atol=1e-14)
    piecewise = PiecewisePolynomial(1, 1, n=3, segments=2, dtype=F64)
    with torch.no_grad():
        x = piecewise.basis.node_positions()
        piecewise.weight[0, 0] = 0.5 - 2 * x + 3 * x**2
    exported = export_link(piecewise, (0, 0), coordinate="global")
    expected = torch.tensor([[0.5, -2.0, 3.0], [0.5, -2.0, 3.0]], dtype=F64)
    assert torch.allclose(exported.coefficients, expected, atol=1e-13)
    centered = export_link(piecewise, (0, 0), coordinate="centered")  # Taylor about -0.5 and 0.5
    taylor = torch.tensor([[0.5 + 1 + 0.75, -2 - 3, 3.0], [0.5 - 1 + 0.75, -2 + 3, 3.0]], dtype=F64)
    assert torch.allclose(centered.coefficients, taylor, atol=1e-13)


def test_lagrange_monomial_matrix_interpolates() -> None:
    basis = PiecewisePolynomialBasis(7, dtype=F64)
    matrix = lagrange_monomial_matrix(basis.nodes)  # (n, n): row k = coefficients of L_k
    powers = basis.nodes[:, None] ** torch.arange(7, dtype=F64)  # (n, n) Vandermonde
    assert torch.allclose(matrix @ powers.T, torch.eye(7, dtype=F64), atol=1e-12)


@pytest.mark.parametrize("policy", ["clamp", "extrapolate", "mirror"])
@pytest.mark.parametrize("continuous", [True, False])
def test_export_applies_out_of_range_policy(policy: str, continuous: bool) -> None:
    layer = piecewise_layer(continuous, 4, 3, out_of_range=policy)
    exported = export_link(layer, (1, 2))
    assert exported.out_of_range == policy
    x = sample_points(-3.0, 3.0)
    expected = layer_link(layer, (1, 2), x)
    rtol = 1e-12 if policy == "extrapolate" else 0.0  # cubic pieces reach ~500 at |x| = 3
    assert torch.allclose(exported(x), expected, rtol=rtol, atol=TOL)
    if policy == "clamp":
        assert torch.equal(
            exported(torch.tensor([-2.0, 5.0], dtype=F64)), exported(torch.tensor([-1.0, 1.0], dtype=F64))
        )


def test_export_applies_periodicity_fold() -> None:
    layer = piecewise_layer(True, 5, 2, periodicity=1.5)
    exported = export_link(layer, (0, 2))
    x = sample_points(-4.0, 4.0)
    assert torch.allclose(exported(x), layer_link(layer, (0, 2), x), rtol=0, atol=TOL)


def test_export_error_policy_raises_outside() -> None:
    exported = export_link(piecewise_layer(True, 3, 2, out_of_range="error"), (0, 0))
    exported(torch.tensor([-1.0, 0.3, 1.0], dtype=F64))
    with pytest.raises(ValueError, match="outside"):
        exported(torch.tensor([1.5], dtype=F64))


def test_product_neuron_links_export() -> None:
    layer = PiecewisePolynomialProd(3, 2, n=5, segments=4, dtype=F64)
    x = sample_points()
    exported = export_link(layer, (1, 0))
    assert torch.allclose(exported(x), layer_link(layer, (1, 0), x), rtol=0, atol=TOL)


def test_plain_weight_link_is_w_times_x() -> None:
    layer = Product(3, 2, dtype=F64)
    exported = export_link(layer, (1, 2), coordinate="global")
    w = layer.weight[1, 2, 0].item()
    assert exported.coefficients.tolist() == [[0.0, w]]
    x = sample_points()
    assert torch.allclose(exported(x), layer_link(layer, (1, 2), x), rtol=0, atol=TOL)


@pytest.mark.parametrize("n", [1, 6])
def test_fourier_export(n: int) -> None:
    layer = FourierSeries(3, 2, n=n, length=1.5, dtype=F64)
    with torch.no_grad():
        layer.weight.uniform_(-1, 1)
    exported = export_link(layer, (0, 1))
    assert isinstance(exported, FourierExport)
    assert exported.n == n and exported.length == 1.5
    x = sample_points(-3.0, 3.0)  # Fourier layers extrapolate by default
    assert torch.allclose(exported(x), layer_link(layer, (0, 1), x), rtol=0, atol=TOL)
    text = str(exported)
    assert text.startswith(f"{exported.constant:.6g}")
    assert text.count("cos(") == n and text.count("sin(") == n
    if n:
        assert "*cos(1*pi*x/1.5)" in text and f"sin({n}*pi*x/1.5)" in text


def test_fourier_string_is_readable() -> None:
    exported = FourierExport(0.1, torch.tensor([0.3, 0.0]), torch.tensor([-0.2, 1.25]), 2.0)
    assert str(exported) == "0.1 + 0.3*cos(1*pi*x/2) - 0.2*sin(1*pi*x/2) + 0*cos(2*pi*x/2) + 1.25*sin(2*pi*x/2)"
    x = torch.linspace(-1, 1, 7, dtype=F64)
    expected = 0.1 + 0.3 * torch.cos(math.pi * x / 2) - 0.2 * torch.sin(math.pi * x / 2) + 1.25 * torch.sin(math.pi * x)
    assert torch.allclose(exported(x), expected, atol=1e-15)


def test_table_lists_every_piece() -> None:
    exported = export_link(piecewise_layer(False, 4, 3), (0, 0), coordinate="global")
    table = exported.to_table()
    lines = table.splitlines()
    assert len(lines) == 4
    assert lines[0].split() == ["piece", "interval", "x^0", "x^1", "x^2", "x^3"]
    assert f"{exported.coefficients[2, 3].item():.6g}" in lines[3]
    assert "out_of_range='clamp'" in str(exported) and table in str(exported)
    assert "t^0" in export_link(piecewise_layer(False, 4, 3), (0, 0)).to_table()


def test_conv_tap_export_matches_convolution() -> None:
    """Tap (o, c, ky, kx) of a 2x2 kernel, seen through the conv output: putting v at input
    (c, ky, kx) of a 2x2 image changes the single output by f(v) - f(0)."""
    conv = HighOrderConv2d(4, 4, 2, PiecewisePolynomialBasis(4, 3, continuous=False), groups=2, dtype=F64)
    with torch.no_grad():
        conv.weight.uniform_(-1, 1)
    values = torch.linspace(-1, 1, 9, dtype=F64)
    for o, c, ky, kx in [(0, 1, 0, 1), (3, 0, 1, 1), (2, 1, 1, 0)]:
        exported = export_link(conv, (o, c, ky, kx))
        channel = (o // 2) * 2 + c  # output channel o reads group o // 2
        images = torch.zeros(values.numel(), 4, 2, 2, dtype=F64)
        images[:, channel, ky, kx] = values
        change = conv(images)[:, o, 0, 0] - conv(torch.zeros(1, 4, 2, 2, dtype=F64))[:, o, 0, 0]
        assert torch.allclose(change, exported(values) - exported(torch.zeros(1, dtype=F64)), rtol=0, atol=TOL)
        assert torch.equal(link_weights(conv, (o, c, ky, kx)), conv.weight[o, c, :, ky, kx])


def test_transposed_conv_link_addressing() -> None:
    conv = HighOrderConvTranspose1d(2, 4, 3, PiecewisePolynomialBasis(3, 2), groups=2, dtype=F64)
    assert torch.equal(link_weights(conv, (1, 0, 2)), conv.weight[1, :, 0, 2])
    # one input element x at input channel 1 feeds output channel 2 (its group's first) at tap 2
    values = torch.linspace(-1, 1, 5, dtype=F64)
    inputs = torch.zeros(5, 2, 1, dtype=F64)
    inputs[:, 1, 0] = values
    exported = export_link(conv, (1, 0, 2))
    change = conv(inputs)[:, 2, 2] - conv(torch.zeros(1, 2, 1, dtype=F64))[:, 2, 2]
    assert torch.allclose(change, exported(values) - exported(torch.zeros(1, dtype=F64)), rtol=0, atol=TOL)


@pytest.mark.parametrize("link", [(2, 0), (0, 3), (0,), (0, 0, 0), "ab", (0.5, 1), (-1, 0), 3])
def test_unknown_link_raises(link: object) -> None:
    layer = piecewise_layer(True, 3, 2)
    with pytest.raises(ValueError, match=r"unknown link .*0\.\.1 x 0\.\.2"):
        export_link(layer, link)


def test_unknown_coordinate_raises() -> None:
    with pytest.raises(ValueError, match="'local', 'centered', 'global'"):
        export_link(piecewise_layer(True, 3, 2), (0, 0), coordinate="chebyshev")


def test_sympy_piecewise_reproduces_link() -> None:
    sympy = pytest.importorskip("sympy")
    for policy, coordinate in [("clamp", "local"), ("extrapolate", "centered"), ("clamp", "global")]:
        layer = piecewise_layer(False, 5, 3, out_of_range=policy)
        exported = export_link(layer, (1, 1), coordinate=coordinate)
        expression = exported.to_sympy()
        assert isinstance(expression, sympy.Piecewise)
        (symbol,) = expression.free_symbols
        # away from the inner edges +-1/3, where float rounding decides the piece of a jump
        points = torch.tensor([-1.4, -1.0, -0.9, -0.34, -0.2, 0.0, 0.34, 0.5, 0.99, 1.0, 1.3], dtype=F64)
        got = torch.tensor([float(expression.subs(symbol, p)) for p in points.tolist()], dtype=F64)
        assert torch.allclose(got, layer_link(layer, (1, 1), points), rtol=0, atol=1e-11)
    error = export_link(piecewise_layer(True, 3, 2, out_of_range="error"), (0, 0)).to_sympy()
    (symbol,) = error.free_symbols
    assert error.subs(symbol, 2) is sympy.nan


def test_sympy_fourier_series() -> None:
    sympy = pytest.importorskip("sympy")
    layer = FourierSeries(1, 1, n=3, dtype=F64, initialization="random")  # a link that varies
    exported = export_link(layer, (0, 0))
    expression = exported.to_sympy()
    (symbol,) = expression.free_symbols
    points = torch.linspace(-1, 1, 6, dtype=F64)
    got = torch.tensor([float(expression.subs(symbol, p).evalf()) for p in points.tolist()], dtype=F64)
    assert torch.allclose(got, exported(points), rtol=0, atol=1e-12)
    assert isinstance(expression, sympy.Expr)


def test_float32_layer_export_is_float64() -> None:
    layer = PiecewisePolynomial(2, 2, n=5, segments=4)  # float32
    exported = export_link(layer, (1, 0))
    assert exported.coefficients.dtype == F64
    x = torch.linspace(-1, 1, 101)
    with torch.no_grad():
        expected = layer.link_functions(x[:, None].expand(-1, 2))[:, 1, 0]
    assert torch.allclose(exported(x).float(), expected, atol=1e-5)
