"""Every fully-connected layer type: the module contract and its mathematical invariants."""

from __future__ import annotations

import io
import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_close_ulps
from high_order_layers_torch.layers import (
    FC_LAYERS,
    FourierSeries,
    HighOrderLinear,
    PiecewiseDiscontinuousPolynomial,
    PiecewisePolynomial,
    PiecewisePolynomialBasis,
    Polynomial,
    Product,
    high_order_fc_layers,
)

LAYER_TYPES = sorted(FC_LAYERS)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, *, rtol: float = 1e-12, atol: float = 1e-12) -> None:
    """``torch.testing.assert_close`` with float64-grade default tolerances."""
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


PIECEWISE = {"continuous": True, "discontinuous": False}


def make(layer_type: str, in_features: int = 3, out_features: int = 2, n: int = 4, segments: int = 3, **kw):
    return high_order_fc_layers(
        layer_type, n=n, in_features=in_features, out_features=out_features, segments=segments, **kw
    )


def uniform(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(*shape, dtype=dtype) * 2 - 1


# --------------------------------------------------------------------------- module contract


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
@pytest.mark.parametrize("leading", [(), (5,), (2, 3, 4)])
def test_forward_shape_any_leading_dims(layer_type: str, leading: tuple[int, ...]) -> None:
    layer = make(layer_type)
    assert layer(torch.rand(*leading, 3) * 2 - 1).shape == (*leading, 2)


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_leading_dims_are_independent_samples(layer_type: str) -> None:
    layer = make(layer_type, dtype=torch.float64)
    x = uniform(2, 5, 3)
    assert_close(layer(x), layer(x.reshape(10, 3)).reshape(2, 5, 2))


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_gradcheck_float64(layer_type: str) -> None:
    layer = make(layer_type, dtype=torch.float64)
    x = (uniform(4, 3) * 0.95).requires_grad_()
    params = tuple(layer.parameters())
    assert torch.autograd.gradcheck(
        lambda x, *p: torch.func.functional_call(
            layer, dict(zip([k for k, _ in layer.named_parameters()], p, strict=True)), (x,)
        ),
        (x, *params),
    )


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_placement(layer_type: str, dtype: torch.dtype) -> None:
    layer = make(layer_type, dtype=dtype)
    assert all(p.dtype == dtype for p in layer.parameters())
    assert all(b.dtype == dtype for b in layer.buffers() if b.is_floating_point())
    assert layer(torch.rand(4, 3, dtype=dtype)).dtype == dtype


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_to_moves_buffers_and_parameters(layer_type: str) -> None:
    layer = make(layer_type).to(torch.float64)
    assert all(t.dtype == torch.float64 for t in [*layer.parameters(), *layer.buffers()] if t.is_floating_point())
    assert layer(uniform(2, 3)).dtype == torch.float64


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_double_after_construction_is_as_accurate_as_float64_construction(layer_type: str) -> None:
    built64 = make(layer_type, dtype=torch.float64)
    converted = make(layer_type).double()
    converted.load_state_dict(built64.state_dict())
    x = uniform(9, 3)
    assert_close_ulps(converted(x), built64(x), ulps=64)  # float32-grade nodes would be off by ~1e-8


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_meta_device_construction(layer_type: str) -> None:
    layer = make(layer_type, device="meta")
    assert all(p.is_meta for p in layer.parameters())
    assert layer(torch.empty(4, 3, device="meta")).shape == (4, 2)


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_state_dict_round_trip_and_only_parameters_persist(layer_type: str) -> None:
    layer, other = make(layer_type), make(layer_type)
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    x = uniform(6, 3, dtype=torch.float32)
    assert_close(other(x), layer(x))
    assert set(layer.state_dict()) == {name for name, _ in layer.named_parameters()}


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_pickle_round_trip(layer_type: str) -> None:
    layer = make(layer_type)
    clone = pickle.loads(pickle.dumps(layer))
    x = torch.rand(3, 3)
    assert_close(clone(x), layer(x))


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_repr_names_hyperparameters(layer_type: str) -> None:
    text = repr(make(layer_type, periodicity=3.0))
    assert "in_features=3, out_features=2" in text and "periodicity=3.0" in text
    if layer_type in {"continuous", "discontinuous", "continuous_prod", "discontinuous_prod"}:
        assert "n=4, segments=3" in text


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_reset_parameters_is_the_only_init(layer_type: str) -> None:
    layer = make(layer_type)
    with torch.no_grad():
        for p in layer.parameters():
            p.fill_(7.0)
    layer.reset_parameters()
    assert all(not torch.all(p == 7.0) for p in layer.parameters())


# --------------------------------------------------------------------------- initialisation


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_init_output_depends_on_input_with_nonzero_gradient(layer_type: str) -> None:
    layer = make(layer_type, in_features=64, out_features=32, dtype=torch.float64, initialization="linear")
    x = uniform(256, 64).requires_grad_()
    y = layer(x)
    y.sum().backward()
    assert y.std(dim=0).min() > 0.05
    assert x.grad.abs().mean() > 1e-3
    if layer_type in {"continuous", "discontinuous", "polynomial", "fourier"}:
        assert 0.3 < y.std().item() < 1.0  # aims at the std of U(-1, 1), 1/sqrt(3)


@pytest.mark.parametrize("layer_type", ["continuous", "discontinuous", "polynomial"])
def test_init_slopes_follow_the_documented_bound(layer_type: str) -> None:
    """Every link starts as s x with s ~ U(-sqrt(3 / in), sqrt(3 / in)) plus 10% noise on each
    node weight: the slopes' spread is tight enough to tell sqrt(3 / in) from sqrt(1 / in)."""
    in_features, out_features = 256, 256
    layer = make(
        layer_type, in_features=in_features, out_features=out_features, n=3, segments=2, initialization="linear"
    )
    ends = torch.tensor([[-1.0], [1.0]]).expand(2, in_features)
    with torch.no_grad():
        links = layer.link_functions(ends)  # (2, out, in)
    slope = (links[1] - links[0]).double() / 2  # s plus half the difference of two end-node noises
    bound = math.sqrt(3.0 / in_features)
    # U(-a, a) has std a / sqrt(3); the noise adds 0.5% of variance. 65536 draws: ~0.3% error.
    assert slope.std().item() == pytest.approx(bound / math.sqrt(3.0) * math.sqrt(1.005), rel=0.02)
    assert 0.98 * bound < slope.abs().max().item() <= 1.1 * bound
    assert slope.mean().abs().item() < 0.01 * bound


@pytest.mark.parametrize("layer_type", ["continuous", "discontinuous", "polynomial"])
def test_init_sum_neuron_output_std_is_that_of_its_uniform_inputs(layer_type: str) -> None:
    """README: under ``"linear"`` a sum neuron fed U(-1, 1) inputs starts with output std ~ 1/sqrt(3)."""
    layer = make(layer_type, in_features=256, out_features=256, n=3, segments=2, initialization="linear")
    x = torch.rand(2048, 256) * 2 - 1
    with torch.no_grad():
        std = layer(x).double().pow(2).mean().sqrt().item()  # no bias by default, zero-mean inputs
    assert std == pytest.approx(1 / math.sqrt(3), rel=0.04)


def test_deep_stack_trains_from_init() -> None:
    """Under ``"linear"`` every layer of a deep stack gets a gradient from the first step."""
    layers = [
        PiecewisePolynomial(16, 16, n=3, segments=2, dtype=torch.float64, initialization="linear") for _ in range(8)
    ]
    model = torch.nn.Sequential(*layers)
    x = uniform(64, 16)
    model(x).pow(2).sum().backward()
    assert all(layer.weight.grad.abs().max() > 1e-6 for layer in layers)


def test_constant_start_reaches_every_layer_after_a_few_steps() -> None:
    """The default ``"constant_random"`` start: at step 0 only the last layer's weights get a
    gradient (every link before it is flat); the steps on the later layers give them slopes, and
    the gradient then reaches the first layer."""
    torch.manual_seed(0)
    layers = [PiecewisePolynomial(8, 8, n=3, segments=2, dtype=torch.float64) for _ in range(4)]
    model = torch.nn.Sequential(*layers)
    x, target = uniform(64, 8), uniform(64, 8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = []
    for _ in range(len(layers)):
        optimizer.zero_grad()
        (model(x) - target).pow(2).mean().backward()
        first.append(layers[0].weight.grad.abs().max().item())
        optimizer.step()
    assert first[0] < 1e-12 and layers[-1].weight.grad.abs().max() > 1e-6
    assert first[-1] > 1e-8


# --------------------------------------------------------------------------- maths


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_polynomial_interpolates_at_nodes_to_round_off(n: int) -> None:
    # The layer evaluates the Chebyshev form of the basis: a node's weight comes back within a
    # few ulps (the functional product form is bit-exact, see test_functional).
    layer = Polynomial(1, 1, n=n, dtype=torch.float64)
    nodes = layer.basis.nodes
    weights = layer.weight[0, 0]
    ulp = torch.finfo(torch.float64).eps * weights.abs().max().item()
    assert_close(layer(nodes[:, None])[:, 0], weights, rtol=0, atol=4 * ulp)


@pytest.mark.parametrize("continuous", [True, False])
@pytest.mark.parametrize(("n", "segments"), [(2, 1), (3, 4), (5, 3), (6, 7)])
def test_piecewise_interpolates_at_every_node(continuous: bool, n: int, segments: int) -> None:
    basis = PiecewisePolynomialBasis(n, segments, continuous=continuous, dtype=torch.float64)
    layer = HighOrderLinear(1, 1, basis, dtype=torch.float64)
    positions = basis.node_positions()
    if not continuous:  # a joint belongs to two pieces: nudge each end node into its own piece
        local = torch.arange(len(positions)) % n
        positions = positions + 1e-15 * ((local == 0).double() - (local == n - 1).double())
    values = layer(positions[:, None])[:, 0]
    assert_close(values, layer.weight[0, 0], rtol=0, atol=1e-13)


@pytest.mark.parametrize("n", [1, 2, 4, 7])
def test_single_segment_reproduces_polynomials_below_degree_n(n: int) -> None:
    layer = Polynomial(1, 1, n=n, dtype=torch.float64)
    x = torch.linspace(-1, 1, 57, dtype=torch.float64)
    for degree in range(n):
        coefficients = torch.randn(degree + 1, dtype=torch.float64)
        target = sum(c * layer.basis.nodes**k for k, c in enumerate(coefficients))
        with torch.no_grad():
            layer.weight[0, 0] = target
        expected = sum(c * x**k for k, c in enumerate(coefficients))
        assert_close_ulps(layer(x[:, None])[:, 0], expected, ulps=64, scale=coefficients.abs().sum())


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("segments", [2, 3, 8])
def test_continuous_layer_is_continuous_at_every_joint(n: int, segments: int) -> None:
    layer = PiecewisePolynomial(2, 3, n=n, segments=segments, dtype=torch.float64)
    joints = torch.linspace(-1, 1, segments + 1, dtype=torch.float64)[1:-1]
    eps = 1e-9
    left = layer(torch.stack([joints - eps, joints - eps], -1))
    right = layer(torch.stack([joints + eps, joints + eps], -1))
    assert_close(left, right, rtol=0, atol=1e-6)


def test_discontinuous_pieces_are_independent() -> None:
    layer = PiecewiseDiscontinuousPolynomial(1, 1, n=3, segments=4, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0, 3:6] = 1.0  # piece 1 (x in [-0.5, 0]) is the constant 1
    x = torch.tensor([[-0.5 - 1e-9], [-0.25], [-1e-9], [1e-9]], dtype=torch.float64)
    assert_close(layer(x)[:, 0], torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64))


@pytest.mark.parametrize("continuous", [True, False])
def test_one_segment_piecewise_equals_polynomial(continuous: bool) -> None:
    cls = PiecewisePolynomial if continuous else PiecewiseDiscontinuousPolynomial
    piecewise = cls(4, 3, n=5, segments=1, dtype=torch.float64)
    polynomial = Polynomial(4, 3, n=5, dtype=torch.float64)
    polynomial.load_state_dict(piecewise.state_dict())
    x = uniform(20, 4)
    # Two code paths (piecewise gather/kernel against the dense polynomial): equal to round-off,
    # not bit for bit (they differ by an ulp with AVX-512).
    assert_close_ulps(piecewise(x), polynomial(x), ulps=8)


@pytest.mark.parametrize("layer_type", ["continuous", "discontinuous", "polynomial", "fourier"])
def test_rescale_output_divides_by_in_features(layer_type: str) -> None:
    # in != out, so dividing by out_features (or not at all) is caught.
    scaled = make(layer_type, in_features=7, out_features=3, rescale_output=True, dtype=torch.float64)
    plain = make(layer_type, in_features=7, out_features=3, dtype=torch.float64)
    plain.load_state_dict(scaled.state_dict())
    x = uniform(5, 7)
    assert_close_ulps(scaled(x), plain(x) / 7, ulps=8)


@pytest.mark.parametrize("layer_type", ["continuous", "discontinuous", "polynomial", "fourier"])
def test_sum_neuron_adds_link_functions(layer_type: str) -> None:
    layer = make(layer_type, in_features=4, out_features=3, dtype=torch.float64)
    x = uniform(7, 4)
    assert_close(layer(x), layer.link_functions(x).sum(-1))


@pytest.mark.parametrize("layer_type", ["continuous_prod", "discontinuous_prod", "polynomial_prod", "product"])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_product_layers_match_a_naive_loop(layer_type: str, alpha: float) -> None:
    layer = make(layer_type, in_features=4, out_features=3, alpha=alpha, dtype=torch.float64)
    if layer.bias is not None:
        torch.nn.init.normal_(layer.bias)
    x = uniform(5, 4)
    links = layer.link_functions(x)  # (B, O, I)
    expected = torch.empty(5, 3, dtype=torch.float64)
    for b in range(5):
        for o in range(3):
            product, total = 1.0, 0.0
            for i in range(4):
                product *= 1 + links[b, o, i]
                total += links[b, o, i]
            expected[b, o] = -1 + product - (1 - alpha) * total
            if layer.bias is not None:
                expected[b, o] += layer.bias[o]
    assert_close(layer(x), expected)


def test_product_alpha_zero_leaves_only_cross_terms() -> None:
    layer = make("polynomial_prod", in_features=2, out_features=1, alpha=0.0, dtype=torch.float64)
    x = uniform(9, 2)
    f = layer.link_functions(x)[:, 0, :]
    assert_close(layer(x)[:, 0], f[:, 0] * f[:, 1])


def test_product_layer_links_are_plain_weights() -> None:
    layer = Product(3, 2, dtype=torch.float64)
    x = uniform(4, 3)
    assert_close(layer.link_functions(x), layer.weight[None, :, :, 0] * x[:, None, :])


def test_fourier_with_no_frequencies_is_a_constant() -> None:
    layer = FourierSeries(2, 3, n=0, dtype=torch.float64)
    x = uniform(5, 2)
    assert_close(layer(x), layer.weight[..., 0].sum(-1).expand(5, 3))


def test_fourier_layer_equals_closed_form() -> None:
    layer = FourierSeries(1, 1, n=3, length=1.5, dtype=torch.float64)
    x = torch.linspace(-1, 1, 41, dtype=torch.float64)
    w = layer.weight[0, 0]
    expected = w[0] + sum(
        w[k] * torch.cos(k * math.pi * x / 1.5) + w[3 + k] * torch.sin(k * math.pi * x / 1.5) for k in range(1, 4)
    )
    assert_close(layer(x[:, None])[:, 0], expected)


@pytest.mark.parametrize("continuous", [True, False])
@pytest.mark.parametrize(("n", "segments"), [(2, 5), (4, 3), (5, 16)])
def test_exactly_n_weights_per_link_get_gradient(continuous: bool, n: int, segments: int) -> None:
    cls = PiecewisePolynomial if continuous else PiecewiseDiscontinuousPolynomial
    layer = cls(3, 2, n=n, segments=segments, dtype=torch.float64)
    x = torch.tensor([[-0.83, 0.11, 0.52]], dtype=torch.float64)  # away from every joint
    layer(x).sum().backward()
    nonzero = (layer.weight.grad != 0).sum(-1)
    assert torch.equal(nonzero, torch.full((2, 3), n))
    expected_weights = segments * (n - 1) + 1 if continuous else segments * n
    assert layer.weight.shape == (2, 3, expected_weights)


# --------------------------------------------------------------------------- out of range


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_clamp_policy_is_constant_outside(layer_type: str) -> None:
    layer = make(layer_type, out_of_range="clamp", dtype=torch.float64)
    edge = torch.ones(1, 3, dtype=torch.float64)
    assert_close(layer(edge * 5), layer(edge))
    assert_close(layer(-edge * math.inf), layer(-edge))


def test_extrapolate_policy_continues_the_end_polynomials() -> None:
    layer = Polynomial(1, 1, n=3, out_of_range="extrapolate", dtype=torch.float64)
    with torch.no_grad():
        layer.weight[0, 0] = layer.basis.nodes**2  # f(x) = x^2
    assert_close(layer(torch.tensor([[3.0]], dtype=torch.float64)), torch.tensor([[9.0]]).double())
    piecewise = PiecewisePolynomial(1, 1, n=2, segments=2, out_of_range="extrapolate", dtype=torch.float64)
    with torch.no_grad():
        piecewise.weight[0, 0] = torch.tensor([0.0, 0.0, 1.0])  # 0 on [-1, 0], then slope 1
    x = torch.tensor([[-2.0], [2.0]], dtype=torch.float64)
    assert_close(piecewise(x)[:, 0], torch.tensor([0.0, 2.0], dtype=torch.float64))


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_mirror_policy_reflects_at_the_ends(layer_type: str) -> None:
    layer = make(layer_type, out_of_range="mirror", dtype=torch.float64)
    x = uniform(5, 3) * 0.9
    assert_close(layer(2 - x), layer(x))
    assert_close(layer(x + 4), layer(x))


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_error_policy_raises_outside(layer_type: str) -> None:
    layer = make(layer_type, out_of_range="error")
    layer(torch.tensor([[-1.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="outside"):
        layer(torch.tensor([[0.0, 1.01, 0.0]]))


def test_periodicity_folds_before_the_policy() -> None:
    layer = Polynomial(1, 1, n=4, periodicity=1.0, out_of_range="error", dtype=torch.float64)
    x = torch.tensor([[0.3]], dtype=torch.float64)
    assert_close(layer(x + 2.0), layer(x))  # period 2 * periodicity
    assert_close(layer(torch.tensor([[0.75]], dtype=torch.float64)), layer(torch.tensor([[0.25]], dtype=torch.float64)))


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
@pytest.mark.parametrize("policy", ["clamp", "mirror"])
def test_finite_input_never_gives_nan(layer_type: str, policy: str) -> None:
    layer = make(layer_type, out_of_range=policy, in_features=3, n=6, segments=5)
    x = torch.tensor([[-1e30, 0.0, 1e30], [-1.0, 1.0, 0.999999], [1e-30, -1e-30, 3.3]])
    assert torch.isfinite(layer(x)).all()


@pytest.mark.parametrize("layer_type", ["continuous", "discontinuous", "polynomial", "fourier"])
def test_nan_input_propagates_only_to_its_sample(layer_type: str) -> None:
    layer = make(layer_type)
    x = torch.zeros(2, 3)
    x[0, 1] = math.nan
    y = layer(x)
    assert torch.isnan(y[0]).all() and torch.isfinite(y[1]).all()


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 0}, ValueError, "n must be an int >= 1, got 0"),
        ({"segments": 0}, ValueError, "segments must be an int >= 1, got 0"),
        ({"n": 2.5}, TypeError, "n must be an int"),
        ({"in_features": 0}, ValueError, "in_features must be an int >= 1"),
        ({"out_of_range": "wrap"}, ValueError, "out_of_range must be one of"),
        ({"periodicity": -1.0}, ValueError, "periodicity must be a positive finite number"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, error: type, message: str) -> None:
    base = {"layer_type": "continuous", "n": 3, "in_features": 2, "out_features": 2, "segments": 2}
    with pytest.raises(error, match=message):
        high_order_fc_layers(**{**base, **kwargs})


def test_unknown_layer_type_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown layer_type 'relu'; valid names: continuous, continuous_prod"):
        high_order_fc_layers("relu", n=3, in_features=2, out_features=2)


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        high_order_fc_layers("continuous", n=3, in_features=2, out_features=2, segmnets=4)  # type: ignore[call-arg]


def test_fourier_length_and_alpha_validated() -> None:
    with pytest.raises(ValueError, match="length must be a positive finite number"):
        high_order_fc_layers("fourier", n=3, in_features=2, out_features=2, length=0.0)
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        high_order_fc_layers("continuous_prod", n=3, in_features=2, out_features=2, alpha=math.nan)


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_wrong_input_width_raises(layer_type: str) -> None:
    layer = make(layer_type)
    with pytest.raises(ValueError, match=r"expected input of shape \(\*, in_features=3\), got \(4, 5\)"):
        layer(torch.zeros(4, 5))
    with pytest.raises(TypeError, match="floating-point"):
        layer(torch.zeros(4, 3, dtype=torch.long))
    with pytest.raises(TypeError, match=r"input dtype torch.float64 differs from the layer's torch.float32"):
        layer(torch.zeros(4, 3, dtype=torch.float64))


def test_helper_ignores_keywords_a_type_does_not_use() -> None:
    layer = high_order_fc_layers("polynomial", n=3, in_features=2, out_features=2, segments=9, alpha=0.1, length=3.0)
    assert isinstance(layer, Polynomial) and layer.segments == 1
    product = high_order_fc_layers("product", n=9, in_features=2, out_features=2, segments=4)
    assert isinstance(product, Product) and product.weight.shape == (2, 2, 1)


# --------------------------------------------------------------------------- properties


@settings(deadline=None, max_examples=30)
@given(
    layer_type=st.sampled_from(LAYER_TYPES),
    in_features=st.integers(1, 6),
    out_features=st.integers(1, 5),
    n=st.integers(1, 6),
    segments=st.integers(1, 6),
    batch=st.integers(1, 7),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_random_configs_give_finite_outputs_of_the_right_shape(
    layer_type: str, in_features: int, out_features: int, n: int, segments: int, batch: int, dtype: torch.dtype
) -> None:
    layer = make(layer_type, in_features=in_features, out_features=out_features, n=n, segments=segments, dtype=dtype)
    x = torch.rand(batch, in_features, dtype=dtype) * 2 - 1
    y = layer(x)
    assert y.shape == (batch, out_features) and y.dtype == dtype and torch.isfinite(y).all()


@settings(deadline=None, max_examples=20)
@given(continuous=st.booleans(), n=st.integers(2, 6), segments=st.integers(1, 8))
def test_piecewise_matches_an_independent_evaluation(continuous: bool, n: int, segments: int) -> None:
    cls = PiecewisePolynomial if continuous else PiecewiseDiscontinuousPolynomial
    layer = cls(1, 1, n=n, segments=segments, dtype=torch.float64)
    x = torch.rand(33, dtype=torch.float64) * 2 - 1
    nodes = layer.basis.nodes.tolist()
    weights = layer.weight[0, 0].tolist()
    stride = n - 1 if continuous else n
    expected = []
    for value in x.tolist():
        piece = min(int((value + 1) / 2 * segments), segments - 1)
        t = (value + 1) * segments / 2 - piece
        t = 2 * t - 1
        total = 0.0
        for k in range(n):
            basis = math.prod((t - nodes[j]) / (nodes[k] - nodes[j]) for j in range(n) if j != k)
            total += weights[piece * stride + k] * basis
        expected.append(total)
    assert_close(layer(x[:, None])[:, 0], torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
@pytest.mark.parametrize("segments", [1, 4])
def test_bfloat16_autocast_runs_and_stays_close(layer_type: str, segments: int) -> None:
    layer = make(layer_type, in_features=6, out_features=3, segments=segments)
    x = torch.rand(5, 6) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    y.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
    torch.testing.assert_close(y.float(), layer(x), rtol=0, atol=0.1)


@pytest.mark.parametrize(
    ("layer_type", "segments"), [("continuous", 4), ("discontinuous", 64), ("polynomial", 1), ("fourier", 1)]
)
def test_empty_batch_gives_empty_output_and_gradient(layer_type, segments) -> None:
    layer = high_order_fc_layers(layer_type, n=3, in_features=5, out_features=4, segments=segments)
    x = torch.rand(0, 5, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert y.shape == (0, 4) and x.grad.shape == (0, 5)
