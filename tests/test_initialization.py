"""The ``initialization=`` schemes: on every layer type, through the helpers and the network
builders; what each scheme's initial functions are; the default's weights unchanged."""

from __future__ import annotations

import math

import pytest
import torch

from high_order_layers_torch.layers import (
    CONV_LAYERS,
    CONV_TRANSPOSE_LAYERS,
    DEFAULT_INITIALIZATION,
    FC_LAYERS,
    INITIALIZATIONS,
    HighOrderLinear,
    LinearBasis,
    PiecewisePolynomial,
    PiecewisePolynomialBasis,
    PiecewisePolynomialConvolution2d,
    PiecewisePolynomialConvolutionTranspose1d,
    high_order_convolution_layers,
    high_order_convolution_transpose_layers,
    high_order_fc_layers,
)
from high_order_layers_torch.layers._conv import _HighOrderConvBase
from high_order_layers_torch.networks import (
    HighOrderFullyConvolutionalNetwork,
    HighOrderFullyDeconvolutionalNetwork,
    HighOrderMLP,
    high_order_conv_decoder,
    high_order_conv_encoder,
    high_order_mlp,
)

FC_TYPES = sorted(FC_LAYERS)
CONV_TYPES = sorted(CONV_LAYERS)
CONV_TRANSPOSE_TYPES = sorted(CONV_TRANSPOSE_LAYERS)
IN, OUT, KERNEL = 3, 2, 2  # sizes of every layer built here; the convolutions have stride 1, groups 1


def make_fc(layer_type: str, **kw: object) -> torch.nn.Module:
    return high_order_fc_layers(layer_type, n=3, in_features=IN, out_features=OUT, segments=2, **kw)


def make_conv(layer_type: str, transposed: bool, **kw: object) -> torch.nn.Module:
    helper = high_order_convolution_transpose_layers if transposed else high_order_convolution_layers
    return helper(layer_type, n=3, in_channels=IN, out_channels=OUT, kernel_size=KERNEL, segments=2, **kw)


def conv_fan_in(layer: _HighOrderConvBase) -> int:
    """Links feeding an output at stride 1 and groups 1, written out: ``in * prod(kernel)``."""
    return IN * KERNEL**layer.num_spatial_dims


def bound(fan_in: float) -> float:
    return math.sqrt(3.0 / fan_in)


def check_weights(weight: torch.Tensor, basis, scheme: str, fan_in: float) -> None:
    """``weight`` (basis axis last) holds links of the scheme's kind (see ``initialize_links_``)."""
    a = bound(fan_in)
    tiny = 1e-6 * a
    if scheme == "constant_random":
        constant = basis.constant_coefficients().to(weight)
        c = weight[..., constant.abs().argmax()] / constant[constant.abs().argmax()]  # one number per link
        torch.testing.assert_close(weight, c.unsqueeze(-1) * constant, rtol=0, atol=1e-7)
        assert (c >= 0).all() and (c < 1.0 / fan_in).all()
    elif scheme == "random":
        assert (weight.abs() <= a / math.sqrt(basis.num_active) + tiny).all()
        assert weight.std() > 0.1 * a / math.sqrt(basis.num_active)
        if basis.num_weights >= 5:  # independent weights: far from every "c + s x" link
            design = torch.stack([basis.constant_coefficients(), basis.linear_coefficients()], -1).to(weight)
            flat = weight.reshape(-1, basis.num_weights).T  # (M, links)
            fit = design @ torch.linalg.lstsq(design, flat).solution
            assert (flat - fit).abs().max() > 0.5 * a / math.sqrt(basis.num_active)
    else:  # "linear" / "small_linear": s * linear_coefficients plus noise of at most 0.1 * scale * a
        scale = 1.0 if scheme == "linear" else 0.1
        noise = 0.1 * scale * a
        line = basis.linear_coefficients().to(weight)
        peak = line.abs().argmax()
        slope = weight[..., peak] / line[peak]  # within noise / |line[peak]| of the true slope
        spread = noise / line[peak].abs()
        assert (slope.abs() <= scale * a + spread + tiny).all()
        assert slope.abs().max() > 0.5 * scale * a  # the slopes span their range, not only the noise's
        residual = weight - slope.unsqueeze(-1) * line
        assert (residual.abs() <= noise + spread * line.abs() + tiny).all()


def check_fc_links(layer: HighOrderLinear, scheme: str) -> None:
    """The links as functions: constant for ``"constant_random"``, close to lines for the linear
    schemes (piecewise bases, whose end nodes sit at -1 and 1)."""
    a = bound(layer.in_features)
    x = torch.rand(7, layer.in_features, dtype=layer.weight.dtype) * 2 - 1
    if scheme == "constant_random" and not isinstance(layer.basis, LinearBasis):  # there c is the slope
        links = layer.link_functions(x)  # (7, out, in)
        torch.testing.assert_close(links, links[:1].expand_as(links), rtol=0, atol=1e-7)
        assert (links >= 0).all() and (links < 1.0 / layer.in_features).all()
    if scheme in ("linear", "small_linear") and isinstance(layer.basis, PiecewisePolynomialBasis):
        scale = 1.0 if scheme == "linear" else 0.1
        noise = 0.1 * scale * a
        left = layer.link_functions(-torch.ones(1, layer.in_features, dtype=layer.weight.dtype))[0]
        right = layer.link_functions(torch.ones(1, layer.in_features, dtype=layer.weight.dtype))[0]
        slope = (right - left) / 2  # f(+-1) = +-s + noise
        assert ((right + left).abs() <= 2 * noise + 1e-6).all()
        assert (slope.abs() <= scale * a + noise + 1e-6).all()
        line = layer.basis.linear_coefficients().to(layer.weight)
        assert ((layer.weight - slope.unsqueeze(-1) * line).abs() <= 2 * noise + 1e-6).all()


# --------------------------------------------------------------------------- every layer type


@pytest.mark.parametrize("scheme", INITIALIZATIONS)
@pytest.mark.parametrize("layer_type", FC_TYPES)
def test_every_scheme_on_every_fc_type(layer_type: str, scheme: str) -> None:
    layer = make_fc(layer_type, initialization=scheme, dtype=torch.float64)
    assert isinstance(layer, FC_LAYERS[layer_type]) and layer.initialization == scheme
    check_weights(layer.weight.detach(), layer.basis, scheme, fan_in=IN)
    check_fc_links(layer, scheme)
    assert layer(torch.rand(5, IN, dtype=torch.float64) * 2 - 1).isfinite().all()


@pytest.mark.parametrize("scheme", INITIALIZATIONS)
@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transpose"])
@pytest.mark.parametrize("layer_type", CONV_TYPES)
def test_every_scheme_on_every_conv_type(layer_type: str, transposed: bool, scheme: str) -> None:
    assert CONV_TYPES == CONV_TRANSPOSE_TYPES
    layer = make_conv(layer_type, transposed, initialization=scheme)
    registry = CONV_TRANSPOSE_LAYERS if transposed else CONV_LAYERS
    assert isinstance(layer, registry[layer_type]) and layer.initialization == scheme
    weight = layer.weight.detach().movedim(layer.basis_dim, -1)
    check_weights(weight, layer.basis, scheme, fan_in=conv_fan_in(layer))
    x = torch.rand(1, IN, *[4] * layer.num_spatial_dims) * 2 - 1
    assert layer(x).isfinite().all()


@pytest.mark.parametrize("scheme", INITIALIZATIONS)
def test_every_scheme_on_high_order_mlp(scheme: str) -> None:
    for layer_type in ["continuous", "fourier", "product"]:
        net = HighOrderMLP(
            layer_type, n=3, in_width=2, out_width=1, hidden_layers=1, hidden_width=4, initialization=scheme
        )
        layers = [module for module in net.modules() if isinstance(module, HighOrderLinear)]
        assert len(layers) == 3
        for layer in layers:
            assert layer.initialization == scheme
            check_weights(layer.weight.detach(), layer.basis, scheme, fan_in=layer.in_features)
    net = high_order_mlp("continuous", 3, 2, 1, 1, 4, initialization=scheme)
    assert {module.initialization for module in net.modules() if isinstance(module, HighOrderLinear)} == {scheme}
    baseline = high_order_mlp("baseline", 3, 2, 1, 1, 4, initialization=scheme)  # no links: accepted, unused
    assert baseline(torch.rand(5, 2)).shape == (5, 1)


@pytest.mark.parametrize("scheme", INITIALIZATIONS)
def test_every_scheme_on_conv_networks(scheme: str) -> None:
    networks = [
        high_order_conv_encoder("continuous1d", 3, [2, 3, 4], 2, initialization=scheme),
        high_order_conv_decoder("polynomial1d", 3, [2, 3, 4], 2, initialization=scheme),
        HighOrderFullyConvolutionalNetwork("fourier1d", 2, [2, 3], 2, 2, pooling="1d", initialization=scheme),
        HighOrderFullyDeconvolutionalNetwork("discontinuous1d", 3, [2, 3], 2, 2, initialization=scheme),
    ]
    for net in networks:
        convs = [module for module in net.modules() if isinstance(module, _HighOrderConvBase)]
        assert convs and {conv.initialization for conv in convs} == {scheme}


@pytest.mark.parametrize("scheme", ["constant_random", "random"])
def test_named_classes_take_the_keyword(scheme: str) -> None:
    fc = PiecewisePolynomial(IN, OUT, n=3, initialization=scheme)
    conv = PiecewisePolynomialConvolution2d(IN, OUT, KERNEL, n=3, initialization=scheme)
    transposed = PiecewisePolynomialConvolutionTranspose1d(IN, OUT, KERNEL, n=3, initialization=scheme)
    for layer in (fc, conv, transposed):
        assert layer.initialization == scheme


# --------------------------------------------------------------------------- the default is unchanged


def old_linear_init(shape: tuple[int, ...], line: torch.Tensor, basis_dim: int, fan_in: float) -> torch.Tensor:
    """The initialisation before ``initialization=`` existed, in its RNG order: one slope per
    link, then noise on every weight."""
    a = math.sqrt(3.0 / fan_in)
    per_link = list(shape)
    per_link[basis_dim] = 1
    along_basis = [1] * len(shape)
    along_basis[basis_dim] = -1
    slope = torch.empty(per_link).uniform_(-a, a)
    weight = slope * line.view(along_basis)
    return weight + torch.empty_like(weight).uniform_(-0.1 * a, 0.1 * a)


@pytest.mark.parametrize("layer_type", FC_TYPES)
def test_linear_fc_weights_bit_identical(layer_type: str) -> None:
    torch.manual_seed(0)
    layer = make_fc(layer_type, initialization="linear")
    torch.manual_seed(0)
    expected = old_linear_init(tuple(layer.weight.shape), layer.basis.linear_coefficients(), 2, IN)
    assert torch.equal(layer.weight.detach(), expected)


@pytest.mark.parametrize("layer_type", FC_TYPES)
def test_fc_defaults_are_the_measured_ones(layer_type: str) -> None:
    """Sum layers start as random constants (the accuracy suite's choice); product layers, which
    the suite did not measure, keep the straight lines."""
    layer = make_fc(layer_type)
    product = layer.neuron == "product"
    assert layer.initialization == ("linear" if product else DEFAULT_INITIALIZATION) == layer.default_initialization
    assert DEFAULT_INITIALIZATION == "constant_random"


@pytest.mark.parametrize("neuron", ["sum", "product"])
def test_general_layer_default_follows_the_neuron(neuron: str) -> None:
    """The default belongs to the neuron, not to a named class: ``HighOrderLinear`` built directly
    agrees with the named classes."""
    layer = HighOrderLinear(IN, OUT, PiecewisePolynomialBasis(3, 2), neuron=neuron)
    assert layer.initialization == ("linear" if neuron == "product" else "constant_random")


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transpose"])
@pytest.mark.parametrize("layer_type", CONV_TYPES)
def test_default_conv_weights_bit_identical(layer_type: str, transposed: bool) -> None:
    """Convolutions keep the straight-line start as their default (not measured for accuracy)."""
    torch.manual_seed(0)
    layer = make_conv(layer_type, transposed)
    torch.manual_seed(0)
    expected = old_linear_init(
        tuple(layer.weight.shape), layer.basis.linear_coefficients(), layer.basis_dim, conv_fan_in(layer)
    )
    assert torch.equal(layer.weight.detach(), expected)


def test_default_transposed_fan_in_with_stride() -> None:
    """The transposed fan-in ``in / groups * max(1, prod(kernel) / prod(stride))`` reaches the base."""
    torch.manual_seed(0)
    layer = PiecewisePolynomialConvolutionTranspose1d(4, 2, 6, n=3, stride=2, groups=2)
    torch.manual_seed(0)
    expected = old_linear_init(tuple(layer.weight.shape), layer.basis.linear_coefficients(), 1, 4 / 2 * 6 / 2)
    assert torch.equal(layer.weight.detach(), expected)


# --------------------------------------------------------------------------- errors, reset, repr


def check_message(error: pytest.ExceptionInfo) -> None:
    message = str(error.value)
    assert "'linaer'" in message and all(repr(name) in message for name in INITIALIZATIONS)


def test_misspelt_name_raises_everywhere() -> None:
    builders = [
        lambda: HighOrderLinear(IN, OUT, PiecewisePolynomialBasis(3, 2), initialization="linaer"),
        lambda: PiecewisePolynomial(IN, OUT, n=3, initialization="linaer"),
        lambda: PiecewisePolynomialConvolution2d(IN, OUT, KERNEL, n=3, initialization="linaer"),
        lambda: PiecewisePolynomialConvolutionTranspose1d(IN, OUT, KERNEL, n=3, initialization="linaer"),
        lambda: make_fc("continuous", initialization="linaer"),
        lambda: make_fc("baseline", initialization="linaer"),  # checked even where it is unused
        lambda: make_conv("continuous2d", False, initialization="linaer"),
        lambda: make_conv("continuous2d", True, initialization="linaer"),
        lambda: HighOrderMLP("continuous", 3, 2, 1, 1, 4, initialization="linaer"),
        lambda: high_order_conv_encoder("continuous1d", 3, [2, 3], 2, initialization="linaer"),
        lambda: high_order_conv_decoder("continuous1d", 3, [2, 3], 2, initialization="linaer"),
    ]
    for build in builders:
        with pytest.raises(ValueError, match="initialization must be one of") as error:
            build()
        check_message(error)


@pytest.mark.parametrize("kind", ["fc", "conv", "transpose"])
def test_reset_parameters_follows_the_attribute(kind: str) -> None:
    build = make_fc if kind == "fc" else lambda name, **kw: make_conv(name + "2d", kind == "transpose", **kw)
    layer = build("continuous", initialization="linear")
    fan_in = IN if kind == "fc" else conv_fan_in(layer)
    layer.initialization = "constant_random"
    layer.reset_parameters()
    check_weights(layer.weight.detach().movedim(layer.basis_dim, -1), layer.basis, "constant_random", fan_in)
    if kind == "fc":
        check_fc_links(layer, "constant_random")
    layer.initialization = "small_linear"
    layer.reset_parameters()
    check_weights(layer.weight.detach().movedim(layer.basis_dim, -1), layer.basis, "small_linear", fan_in)
    layer.initialization = "linaer"
    with pytest.raises(ValueError) as error:
        layer.reset_parameters()
    check_message(error)


def test_gradcheck_under_random_init() -> None:
    fc = make_fc("continuous", initialization="random", dtype=torch.float64)
    x = (torch.rand(4, IN, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, *p: fc(x), (x, *fc.parameters()))
    conv = make_conv("continuous2d", False, initialization="random", dtype=torch.float64)
    x = (torch.rand(1, IN, 3, 3, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, *p: conv(x), (x, *conv.parameters()))


def test_extra_repr_shows_only_a_non_default() -> None:
    layers = {
        "fc": lambda **kw: make_fc("continuous", **kw),
        "conv": lambda **kw: make_conv("continuous2d", False, **kw),
        "transpose": lambda **kw: make_conv("continuous2d", True, **kw),
    }
    for build in layers.values():
        assert "initialization" not in repr(build())
        default = build().default_initialization
        assert "initialization" not in repr(build(initialization=default))
        assert "initialization='small_linear'" in repr(build(initialization="small_linear"))
