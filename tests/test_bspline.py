"""The uniform B-spline family (``bases/_bspline.py``, ``functional/_bspline.py``): values against
an exact Cox-de Boor on the full knot vector, partition of unity, smoothness at the joints,
reproduction of ``1`` and ``x``, exact knot insertion and degree elevation, the closed form, the
layer types generated from its ``BASIS_FAMILIES`` line, float64 gradcheck, refinement, export,
pruning and the state-dict record."""

from __future__ import annotations

import math
import pickle
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_close_ulps
from high_order_layers_torch.bases import BASIS_FAMILIES, BSplineBasis, ChebyshevBasis, PiecewisePolynomialBasis
from high_order_layers_torch.functional import (
    bspline_greville_abscissae,
    bspline_monomial_matrix,
    bspline_spaces_nested,
    bspline_transfer_matrix,
    bspline_values,
)
from high_order_layers_torch.inspect import evaluate_links, export_link, plot_links, prune_links_
from high_order_layers_torch.layers import (
    FAMILY_CONV_LAYERS,
    FAMILY_CONV_TRANSPOSE_LAYERS,
    FAMILY_FC_LAYERS,
    INITIALIZATIONS,
    HighOrderConv1d,
    HighOrderLinear,
    high_order_convolution_layers,
    high_order_convolution_transpose_layers,
    high_order_fc_layers,
)
from high_order_layers_torch.networks import high_order_mlp
from high_order_layers_torch.refine import Refine, refine_, transfer_matrix
from high_order_layers_torch.refine._transfer import least_squares_transfer

F64 = torch.float64
ORDERS = st.integers(2, 7)
SEGMENTS = st.integers(1, 6)


def rough_(module: torch.nn.Module, scale: float = 0.5) -> torch.nn.Module:
    """Noise on every parameter, so the links are far from their initial functions."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * scale)
    return module


# --------------------------------------------------------------------------- the oracle


def knot_vector(n: int, segments: int) -> list[Fraction]:
    """The extended uniform knots ``-1 + k h``, ``k = -(n - 1) .. segments + n - 1``, exactly."""
    return [Fraction(-1) + Fraction(2 * k, segments) for k in range(-(n - 1), segments + n)]


def cox_de_boor(x: Fraction, knots: list[Fraction], i: int, order: int) -> Fraction:
    """``B_{i, order}(x)`` by the textbook recurrence on the full knot vector, in exact arithmetic."""
    if order == 1:
        return Fraction(1 if knots[i] <= x < knots[i + 1] else 0)
    left = (x - knots[i]) / (knots[i + order - 1] - knots[i]) * cox_de_boor(x, knots, i, order - 1)
    right = (knots[i + order] - x) / (knots[i + order] - knots[i + 1]) * cox_de_boor(x, knots, i + 1, order - 1)
    return left + right


def oracle_dense(x: torch.Tensor, n: int, segments: int) -> torch.Tensor:
    """Every B-spline at every ``x`` in ``[-1, 1]``, rounded once from exact values. Shape ``(P, M)``."""
    knots = knot_vector(n, segments)
    rows = [[float(cox_de_boor(Fraction(v), knots, j, n)) for j in range(segments + n - 1)] for v in x.tolist()]
    return torch.tensor(rows, dtype=F64)


def points(n_points: int, low: float = -1.0, high: float = 1.0, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.rand(n_points, dtype=F64).mul(high - low).add(low).to(dtype)


# --------------------------------------------------------------------------- values


def test_registered_and_reachable_by_name() -> None:
    assert BASIS_FAMILIES["bspline"] is BSplineBasis
    fc = high_order_fc_layers("bspline", n=4, in_features=3, out_features=2, segments=3)
    assert type(fc) is FAMILY_FC_LAYERS["bspline"] and type(fc).__name__ == "BSplineLinear"
    assert fc.basis.settings() == {"n": 4, "segments": 3} and fc.weight.shape == (2, 3, 6)
    for d in (1, 2, 3):
        assert FAMILY_CONV_LAYERS[f"bspline{d}d"].__name__ == f"BSplineConvolution{d}d"
        assert FAMILY_CONV_TRANSPOSE_LAYERS[f"bspline{d}d"].__name__ == f"BSplineConvolutionTranspose{d}d"
    conv = high_order_convolution_layers("bspline2d", n=3, in_channels=2, out_channels=4, kernel_size=3, segments=5)
    assert conv(torch.rand(2, 2, 6, 6) * 2 - 1).shape == (2, 4, 4, 4) and conv.basis.num_weights == 7
    transposed = high_order_convolution_transpose_layers(
        "bspline1d", n=3, in_channels=2, out_channels=4, kernel_size=3, segments=2
    )
    assert transposed(torch.rand(2, 2, 5) * 2 - 1).shape == (2, 4, 7)


@settings(deadline=None, max_examples=25)
@given(n=st.integers(2, 6), segments=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_values_equal_exact_cox_de_boor_on_the_full_knot_vector(n: int, segments: int, seed: int) -> None:
    torch.manual_seed(seed)
    joints = BSplineBasis(n, segments).joints()
    x = torch.cat([points(12), joints])  # the joints themselves, and both ends
    basis = BSplineBasis(n, segments, dtype=F64)
    assert_close_ulps(basis.dense(x), oracle_dense(x, n, segments), ulps=8, scale=1.0)


@pytest.mark.parametrize(("n", "segments"), [(2, 3), (4, 1), (4, 5), (5, 2)])
def test_start_index_and_the_active_functions(n: int, segments: int) -> None:
    h = 2 / segments
    x = torch.tensor([-1.0, -1 + 0.5 * h, -1 + h, 1 - 0.5 * h, 1.0, -1.5, 1.5], dtype=F64)
    start, values = bspline_values(x, n, segments)
    assert start.dtype == torch.int64 and values.shape == (7, n)
    last = segments - 1
    assert start.tolist() == [0, 0, min(1, last), last, last, 0, last]  # x = 1 in the last interval
    dense = BSplineBasis(n, segments, dtype=F64).dense(x[:5])
    for row in range(5):  # the active functions are the nonzero ones, in order of weight
        active = dense[row, start[row] : start[row] + n]
        torch.testing.assert_close(active, values[row], rtol=0, atol=0)
        outside = torch.cat([dense[row, : start[row]], dense[row, start[row] + n :]])
        assert torch.equal(outside, torch.zeros_like(outside))


@settings(deadline=None, max_examples=40)
@given(n=ORDERS, segments=SEGMENTS, dtype=st.sampled_from([torch.float32, F64]), seed=st.integers(0, 2**16))
def test_partition_of_unity_for_every_t(n: int, segments: int, dtype: torch.dtype, seed: int) -> None:
    torch.manual_seed(seed)
    x = points(64, -1.5, 1.5, dtype)  # beyond [-1, 1] too: the extrapolated pieces still sum to 1
    _, values = bspline_values(x, n, segments)
    assert values.dtype == dtype
    # |t| reaches segments / 4 + 1 outside [-1, 1]: the terms (not the sum) set the rounding
    scale = values.abs().sum(-1).max().item()
    assert_close_ulps(values.sum(-1), torch.ones_like(x), ulps=4 * n, scale=scale)


@settings(deadline=None, max_examples=25)
@given(n=ORDERS, segments=SEGMENTS, seed=st.integers(0, 2**16))
def test_float32_and_float64_agree_to_float32_round_off(n: int, segments: int, seed: int) -> None:
    torch.manual_seed(seed)
    x = points(64).float()
    # dense: a value that rounds onto a joint in one dtype only sees the same (continuous) function
    single = BSplineBasis(n, segments, dtype=torch.float32).dense(x)
    double = BSplineBasis(n, segments, dtype=F64).dense(x.double())
    assert_close_ulps(single, double.float(), ulps=8 * n, scale=1.0)


def test_symmetric_under_x_to_minus_x() -> None:
    """``B_j(-x) = B_{M-1-j}(x)``: the knots are symmetric about 0."""
    x = points(50)
    for n, segments in [(2, 4), (3, 3), (4, 2), (6, 5)]:
        basis = BSplineBasis(n, segments, dtype=F64)
        assert_close_ulps(basis.dense(-x), basis.dense(x).flip(-1), ulps=16, scale=1.0)


@pytest.mark.parametrize(("n", "segments"), [(2, 2), (3, 1), (4, 3), (5, 4)])
def test_extrapolation_continues_the_end_polynomials(n: int, segments: int) -> None:
    """Outside ``[-1, 1]`` each value is that of the end interval's polynomial, fitted here from
    exact values inside the interval."""
    h = 2 / segments
    basis = BSplineBasis(n, segments, dtype=F64)
    for end, outside in ((-1.0, torch.tensor([-1.4, -1.1], dtype=F64)), (1.0, torch.tensor([1.1, 1.4], dtype=F64))):
        inside = end - math.copysign(1.0, end) * h * (torch.arange(n, dtype=F64) + 0.5) / n  # n points
        vandermonde = inside[:, None] ** torch.arange(n)  # (n, n)
        coefficients = torch.linalg.solve(vandermonde, oracle_dense(inside, n, segments))  # (n, M)
        expected = (outside[:, None] ** torch.arange(n)) @ coefficients
        torch.testing.assert_close(basis.dense(outside), expected, rtol=0, atol=1e-10)


def test_nan_propagates_and_gets_the_first_interval() -> None:
    start, values = bspline_values(torch.tensor([float("nan"), 0.0]), 3, 4)
    assert start.tolist() == [0, 2] and values[0].isnan().all() and values[1].isfinite().all()


def test_vmap_matches_the_batch() -> None:
    x = points(12).reshape(3, 4)
    start, values = torch.func.vmap(lambda row: bspline_values(row, 4, 3))(x)
    expected = bspline_values(x, 4, 3)
    assert torch.equal(start, expected[0]) and torch.equal(values, expected[1])


def test_gradcheck_and_gradgradcheck_of_the_values() -> None:
    x = points(20, -1.2, 1.2).requires_grad_()
    for n, segments in [(2, 3), (4, 1), (4, 4)]:
        assert torch.autograd.gradcheck(lambda v, n=n, s=segments: bspline_values(v, n, s)[1], (x,))
        assert torch.autograd.gradgradcheck(lambda v, n=n, s=segments: bspline_values(v, n, s)[1], (x,))


# --------------------------------------------------------------------------- smoothness


def derivatives(weights: torch.Tensor, basis: BSplineBasis, x: float, orders: int) -> list[float]:
    """``f(x), f'(x), ..., f^(orders)(x)`` of the spline with ``weights``, by nested torch.func.grad."""

    def f(v: torch.Tensor) -> torch.Tensor:
        return (basis.dense(v) * weights).sum()

    found, g = [], f
    for _ in range(orders + 1):
        found.append(g(torch.tensor(x, dtype=F64)).item())
        g = torch.func.grad(g)
    return found


@pytest.mark.parametrize(("n", "segments"), [(2, 3), (3, 2), (4, 4), (5, 3), (6, 2)])
def test_smooth_to_order_n_minus_2_at_the_joints(n: int, segments: int) -> None:
    """One-sided derivatives, at ``2**-30`` knot spacings either side of each inner joint (so each
    side is evaluated on its own interval's polynomial): orders ``0 .. n - 2`` agree to that
    distance times the next derivative, and order ``n - 1`` jumps."""
    basis = BSplineBasis(n, segments, dtype=F64)
    weights = torch.randn(basis.num_weights, dtype=F64)
    h, delta = 2 / segments, 2.0**-30
    for joint in basis.joints()[1:-1].tolist():
        left = derivatives(weights, basis, joint - delta * h, n - 1)
        right = derivatives(weights, basis, joint + delta * h, n - 1)
        for order in range(n - 1):
            scale = max(1.0, abs(left[order + 1]), abs(right[order + 1])) * h
            assert abs(left[order] - right[order]) <= 4 * delta * scale, (joint, order)
        assert abs(left[n - 1] - right[n - 1]) > 1e-3 * max(1.0, abs(left[n - 1])), joint


# --------------------------------------------------------------------------- 1, x, init


@settings(deadline=None, max_examples=30)
@given(n=ORDERS, segments=SEGMENTS, dtype=st.sampled_from([torch.float32, F64]))
def test_reproduces_one_and_x_exactly(n: int, segments: int, dtype: torch.dtype) -> None:
    basis = BSplineBasis(n, segments, dtype=dtype)
    x = points(40, -1.2, 1.2, dtype)  # the end polynomials of 1 and x are 1 and x
    dense = basis.dense(x)
    greville = basis.linear_coefficients()
    assert greville.dtype == dtype and basis.constant_coefficients().dtype == dtype
    scale = (dense.abs() @ greville.abs()).max().item()  # the size of the terms summed
    assert_close_ulps(dense @ greville, x, ulps=8 * n, scale=scale)
    assert_close_ulps(dense @ basis.constant_coefficients(), torch.ones_like(x), ulps=8 * n, scale=1.0)


def test_greville_abscissae() -> None:
    expected = torch.tensor([-3.0, -1.0, 1.0, 3.0], dtype=F64)  # cubic, one interval: mean of inner knots
    assert torch.equal(bspline_greville_abscissae(4, 1), expected)
    assert torch.equal(bspline_greville_abscissae(2, 4), torch.linspace(-1, 1, 5, dtype=F64))  # hats: nodes
    abscissae = bspline_greville_abscissae(5, 3)
    assert torch.equal(abscissae, -abscissae.flip(0))


@pytest.mark.parametrize("initialization", INITIALIZATIONS)
def test_every_initialization_scheme(initialization: str) -> None:
    layer = HighOrderLinear(3, 4, BSplineBasis(4, 3), initialization=initialization, dtype=F64)
    x = torch.linspace(-1, 1, 9, dtype=F64)[:, None].expand(9, 3)
    links = layer.link_functions(x)  # (9, 4, 3)
    assert links.isfinite().all() and links.abs().max() < 10
    if initialization == "constant_random":
        torch.testing.assert_close(links, links[:1].expand_as(links), rtol=0, atol=1e-14)


# --------------------------------------------------------------------------- refinement


def nested_pairs() -> list[tuple[int, int, int, int]]:
    knot_insertion = [(n, s, n, s * r) for n in (2, 3, 4, 6) for s in (1, 2, 3) for r in (1, 2, 3, 5)]
    elevation = [(n, 1, m, s) for n in (2, 3, 4) for m in (n, n + 1, n + 3) for s in (1, 2, 4)]
    return knot_insertion + elevation


@pytest.mark.parametrize(("n", "segments", "new_n", "new_segments"), nested_pairs())
def test_exact_transfer_keeps_the_function_to_round_off(n: int, segments: int, new_n: int, new_segments: int) -> None:
    old, new = BSplineBasis(n, segments, dtype=F64), BSplineBasis(new_n, new_segments, dtype=F64)
    transfer = old.exact_transfer(new)
    assert transfer is not None and transfer.dtype == F64 and transfer.shape == (new.num_weights, old.num_weights)
    weights = torch.randn(old.num_weights, 3, dtype=F64)
    x = points(200, -1.1, 1.1)  # extrapolation continues the same end polynomials
    before, after = old.dense(x) @ weights, new.dense(x) @ (transfer @ weights)
    assert_close_ulps(after, before, ulps=64, scale=weights.abs().max().item())
    # the least-squares projection of refine/ (no exactness assumed) finds the same matrix
    # (less accurately: the extended B-splines' tails inside [-1, 1] are small at high order)
    torch.testing.assert_close(transfer, least_squares_transfer(old, new, 16), rtol=1e-9, atol=1e-10)


def test_knot_insertion_of_hats_interpolates_the_midpoints() -> None:
    transfer = bspline_transfer_matrix(2, 2, 2, 4)
    expected = torch.tensor([[1, 0, 0], [0.5, 0.5, 0], [0, 1, 0], [0, 0.5, 0.5], [0, 0, 1]], dtype=F64)
    assert torch.equal(transfer, expected)


@pytest.mark.parametrize(
    ("n", "segments", "new_n", "new_segments"),
    [(3, 2, 4, 2), (3, 2, 4, 4), (4, 2, 4, 3), (4, 4, 4, 2), (4, 1, 3, 1), (3, 2, 2, 2), (4, 3, 4, 1)],
)
def test_no_exact_transfer_between_spaces_that_are_not_nested(
    n: int, segments: int, new_n: int, new_segments: int
) -> None:
    old, new = BSplineBasis(n, segments), BSplineBasis(new_n, new_segments)
    assert not bspline_spaces_nested(n, segments, new_n, new_segments)
    assert old.exact_transfer(new) is None
    with pytest.raises(ValueError, match="not all splines"):
        bspline_transfer_matrix(n, segments, new_n, new_segments)


def test_no_exact_transfer_to_other_families() -> None:
    basis = BSplineBasis(3, 2)
    assert basis.exact_transfer(PiecewisePolynomialBasis(3, 2)) is None
    assert basis.exact_transfer(ChebyshevBasis(5)) is None
    _, exact = transfer_matrix(basis, PiecewisePolynomialBasis(3, 2))  # a projection, reported as such
    assert not exact


def test_projection_from_and_to_lagrange_pieces_of_the_same_degree() -> None:
    """A spline is a piecewise polynomial: moving it to Lagrange pieces on the same intervals
    loses nothing, and a cubic polynomial moves to cubic B-splines exactly too."""
    x = points(60)
    spline = rough_(HighOrderLinear(2, 2, BSplineBasis(4, 3), dtype=F64))
    lagrange = PiecewisePolynomialBasis(4, 3, dtype=F64)
    transfer, _ = transfer_matrix(spline.basis, lagrange)
    links = spline.weight.detach()  # (2, 2, M)
    torch.testing.assert_close(lagrange.dense(x) @ (links @ transfer.T)[0, 0], spline.basis.dense(x) @ links[0, 0])


def test_refine_a_bspline_network_in_place() -> None:
    model = rough_(high_order_mlp("bspline", n=4, in_width=2, out_width=1, hidden_layers=1, hidden_width=3, dtype=F64))
    x = points(40).reshape(20, 2)
    before = model(x)
    report = refine_(model, Refine(segments=lambda s: 3 * s))  # grid extension: exact
    assert report and all(entry.exact and entry.max_error <= 1e-13 for entry in report.values())
    layers = [m for m in model.modules() if isinstance(getattr(m, "basis", None), BSplineBasis)]
    assert [layer.basis.segments for layer in layers] == [6, 6, 6]
    assert_close_ulps(model(x), before, ulps=256, scale=before.abs().max().item() + 1)
    coarse = refine_(model, Refine(n=5))  # a higher order on several intervals: only a projection
    assert not any(entry.exact for entry in coarse.values())


def test_refine_raises_the_order_of_a_single_polynomial_exactly() -> None:
    layer = rough_(HighOrderLinear(3, 2, BSplineBasis(3), out_of_range="extrapolate", dtype=F64))
    x = points(30, -1.2, 1.2).reshape(10, 3)
    before = layer(x)
    report = refine_(layer, Refine(n=6, segments=4))
    assert report[""].exact and layer.basis.settings() == {"n": 6, "segments": 4}
    assert_close_ulps(layer(x), before, ulps=256, scale=before.abs().max().item() + 1)


# --------------------------------------------------------------------------- closed form, export


@pytest.mark.parametrize(("n", "segments"), [(2, 1), (2, 3), (4, 1), (4, 5), (6, 3)])
def test_closed_form_matches_forward(n: int, segments: int) -> None:
    basis = BSplineBasis(n, segments, dtype=F64)
    weights = torch.randn(basis.num_weights, dtype=F64)
    form = basis.closed_form(weights)
    assert torch.equal(form.edges, basis.joints()) and form.coefficients.shape == (segments, n)
    x = points(100)
    piece = ((x + 1) * segments / 2).floor().clamp(0, segments - 1).long()
    tau = (x + 1) * segments - 2 * piece - 1  # the local coordinate in [-1, 1]
    exact = (tau[:, None] ** torch.arange(n) * form.coefficients[piece]).sum(-1)
    assert_close_ulps(exact, basis.dense(x) @ weights, ulps=64, scale=weights.abs().max().item())


def test_monomial_matrix_of_the_cubic_pieces() -> None:
    # the uniform cubic B-spline's pieces, in t = (tau + 1) / 2: (1-t)^3, 3t^3-6t^2+4, -3t^3+3t^2+3t+1, t^3, over 6
    tau = torch.linspace(-1, 1, 7, dtype=F64)
    t = (tau + 1) / 2
    expected = torch.stack([(1 - t) ** 3, 3 * t**3 - 6 * t**2 + 4, -3 * t**3 + 3 * t**2 + 3 * t + 1, t**3], -1) / 6
    torch.testing.assert_close((tau[:, None] ** torch.arange(4)) @ bspline_monomial_matrix(4).T, expected)


@pytest.mark.parametrize("coordinate", ["local", "centered", "global"])
def test_export_reproduces_the_link(coordinate: str) -> None:
    layer = rough_(HighOrderLinear(2, 3, BSplineBasis(4, 3), out_of_range="extrapolate", dtype=F64))
    x = torch.linspace(-1.2, 1.2, 25, dtype=F64)
    exported = export_link(layer, (2, 1), coordinate=coordinate)
    torch.testing.assert_close(exported(x), evaluate_links(layer, x, [(2, 1)])[:, 0], rtol=0, atol=1e-12)


def test_export_of_a_conv_link() -> None:
    layer = rough_(HighOrderConv1d(2, 2, 3, BSplineBasis(3, 4), dtype=F64))
    x = torch.linspace(-1, 1, 11, dtype=F64)
    torch.testing.assert_close(export_link(layer, (1, 0, 2))(x), evaluate_links(layer, x, [(1, 0, 2)])[:, 0])


def test_plot_draws_the_joints_and_no_nodes() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plot_links(HighOrderLinear(2, 2, BSplineBasis(3, 4)), [(0, 0)])
    ax = figure.axes[0]
    assert len(ax.lines) == 1 + 3  # the link and the three inner joints: B-spline weights are not values at points
    plt.close(figure)


def test_prune_fills_with_constants() -> None:
    layer = rough_(HighOrderLinear(4, 2, BSplineBasis(3, 3), dtype=F64))
    _, report = prune_links_(layer, points(256).reshape(64, 4), fraction=0.5, fill="mean")
    assert len(report.links) == 4
    for link in report.links:
        values = evaluate_links(layer, torch.linspace(-1, 1, 5, dtype=F64), [link.index])[:, 0]
        torch.testing.assert_close(values, values[0].expand(5), rtol=0, atol=1e-14)


# --------------------------------------------------------------------------- layers


def test_gradcheck_and_gradgradcheck_of_a_fc_layer() -> None:
    layer = rough_(high_order_fc_layers("bspline", n=4, in_features=3, out_features=2, segments=3, dtype=F64))
    x = points(15, -0.95, 0.95).reshape(5, 3).requires_grad_()
    names = [name for name, _ in layer.named_parameters()]

    def f(x: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, dict(zip(names, weights, strict=True)), (x,))

    params = tuple(layer.parameters())
    assert torch.autograd.gradcheck(f, (x, *params))
    assert torch.autograd.gradgradcheck(f, (x, *params))


def test_gradcheck_and_gradgradcheck_of_a_conv2d_layer() -> None:
    layer = high_order_convolution_layers(
        "bspline2d", n=3, in_channels=2, out_channels=1, kernel_size=2, segments=2, stride=2, bias=True, dtype=F64
    )
    rough_(layer)
    x = points(32, -0.95, 0.95).reshape(1, 2, 4, 4).requires_grad_()
    names = [name for name, _ in layer.named_parameters()]

    def f(x: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, dict(zip(names, weights, strict=True)), (x,))

    params = tuple(layer.parameters())
    assert torch.autograd.gradcheck(f, (x, *params))
    assert torch.autograd.gradgradcheck(f, (x, *params))


def test_sum_neuron_is_the_sum_of_the_link_functions() -> None:
    layer = rough_(HighOrderLinear(4, 3, BSplineBasis(4, 5), dtype=F64))
    x = points(28).reshape(7, 4)
    expected = torch.einsum("bim,oim->bo", layer.basis.dense(x), layer.weight)
    assert_close_ulps(layer(x), expected, ulps=64, scale=layer.weight.abs().max().item() * 4)


def test_invalid_orders_and_segments_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="n must be an int >= 2, got 1"):
        BSplineBasis(1)
    with pytest.raises(ValueError, match="segments must be an int >= 1, got 0"):
        BSplineBasis(3, 0)
    with pytest.raises(TypeError, match="n must be an int >= 2, got 3.0"):
        BSplineBasis(3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be an int >= 2, got 1"):
        bspline_values(torch.zeros(2), 1, 2)
    with pytest.raises(ValueError, match="n must be an int >= 2, got 1"):
        high_order_fc_layers("bspline", n=1, in_features=2, out_features=2)


def test_settings_config_repr_and_rebuild() -> None:
    basis = BSplineBasis(4, 3)
    assert basis.settings() == {"n": 4, "segments": 3}
    assert basis.function_config() == {"basis": "BSplineBasis", "n": 4, "segments": 3}
    assert repr(basis) == "BSplineBasis(n=4, segments=3)" and basis.node_positions() is None
    assert (basis.num_weights, basis.num_active, basis.description) == (6, 4, "a B-spline")
    assert basis.refinable == ("n", "segments") and basis.holds_constants
    twin = basis.float64_twin()
    assert twin.anchor.dtype == F64 and twin.settings() == basis.settings()
    assert basis.replace(segments=6).num_weights == 9


def test_state_dict_pickle_meta_and_dtype_moves() -> None:
    layer = rough_(high_order_fc_layers("bspline", n=3, in_features=2, out_features=2, segments=4))
    state = layer.state_dict()
    other = high_order_fc_layers("bspline", n=3, in_features=2, out_features=2, segments=4)
    other.load_state_dict(state)
    x = torch.rand(5, 2) * 2 - 1
    assert torch.equal(other(x), layer(x))
    with pytest.raises(RuntimeError, match=r"BSplineBasis\(n=3, segments=4\)"):
        high_order_fc_layers("bspline", n=4, in_features=2, out_features=2, segments=3).load_state_dict(state)
    assert torch.equal(pickle.loads(pickle.dumps(layer))(x), layer(x))
    with torch.device("meta"):
        meta = high_order_fc_layers("bspline", n=3, in_features=2, out_features=2, segments=4)
    assert meta.weight.is_meta and meta.basis.anchor.is_meta
    assert layer.double().basis.anchor.dtype == F64 and layer(x.double()).dtype == F64
