"""Contracts every layer keeps with its caller: state dicts refuse link functions of another
configuration, inputs of the wrong dtype or shape and non-bool flags are refused with the same
messages everywhere, and a constant link still gives the input a (zero) gradient."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import high_order_layers_torch.layers._linear as linear_module
from helpers import switch_kernels_off
from high_order_layers_torch import layers
from high_order_layers_torch.layers import (
    CONV_LAYERS,
    CONV_TRANSPOSE_LAYERS,
    FC_LAYERS,
    FourierSeries,
    PiecewiseDiscontinuousPolynomial,
    PiecewisePolynomial,
    PiecewisePolynomialBasis,
    PiecewisePolynomialProd,
    Polynomial,
    high_order_convolution_layers,
    high_order_convolution_transpose_layers,
    high_order_fc_layers,
)
from high_order_layers_torch.refine import Refine, refine_

F64 = torch.float64


def uniform(*shape: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.rand(*shape, dtype=dtype) * 2 - 1


def spatial_dims(layer_type: str) -> int:
    return int(layer_type[-2])


def conv(layer_type: str, n: int = 3, **options: object) -> nn.Module:
    return high_order_convolution_layers(layer_type, n=n, in_channels=2, out_channels=2, kernel_size=2, **options)


def conv_t(layer_type: str, n: int = 3, **options: object) -> nn.Module:
    return high_order_convolution_transpose_layers(
        layer_type, n=n, in_channels=2, out_channels=2, kernel_size=2, **options
    )


# ------------------------------------------------------------------ state dicts and configurations

# (source, target): the same number of weights per link, different link functions.
MISMATCHED: list[tuple[str, Callable[[], nn.Module], Callable[[], nn.Module]]] = [
    (
        "n and segments",
        lambda: PiecewisePolynomial(4, 5, n=4, segments=2),
        lambda: PiecewisePolynomial(4, 5, n=3, segments=3),
    ),
    ("fourier into polynomial", lambda: FourierSeries(4, 5, n=3), lambda: Polynomial(4, 5, n=7)),
    (
        "continuity",
        lambda: PiecewisePolynomial(4, 5, n=4, segments=3),
        lambda: PiecewiseDiscontinuousPolynomial(4, 5, n=5, segments=2),
    ),
    (
        "neuron",
        lambda: PiecewisePolynomial(4, 5, n=3, segments=2),
        lambda: PiecewisePolynomialProd(4, 5, n=3, segments=2),
    ),
    ("fourier length", lambda: FourierSeries(4, 5, n=2, length=2.0), lambda: FourierSeries(4, 5, n=2, length=1.0)),
    (
        "conv n and segments",
        lambda: conv("continuous2d", n=4, segments=2),
        lambda: conv("continuous2d", n=3, segments=3),
    ),
    ("conv fourier into polynomial", lambda: conv("fourier1d", n=3), lambda: conv("polynomial1d", n=7)),
    (
        "conv transpose n and segments",
        lambda: conv_t("continuous1d", n=4, segments=2),
        lambda: conv_t("continuous1d", n=3, segments=3),
    ),
    ("conv transpose fourier into polynomial", lambda: conv_t("fourier3d", n=3), lambda: conv_t("polynomial3d", n=7)),
]


@pytest.mark.parametrize(("source", "target"), [case[1:] for case in MISMATCHED], ids=[case[0] for case in MISMATCHED])
def test_load_state_dict_refuses_link_functions_of_another_configuration(source, target) -> None:
    source, target = source(), target()
    assert source.weight.shape == target.weight.shape  # the shapes alone cannot tell them apart
    before = target.weight.detach().clone()
    with pytest.raises(RuntimeError) as error:
        target.load_state_dict(source.state_dict())
    message = str(error.value)
    assert repr_of(source) in message and repr_of(target) in message
    assert torch.equal(target.weight, before)  # the other layer's weights were not copied in


def repr_of(layer: nn.Module) -> str:
    """How the error names a layer's link functions, built here from the basis' attributes."""
    basis = layer.basis
    if isinstance(basis, layers.FourierBasis):
        return f"FourierBasis(n={basis.n}, length={basis.length})"
    return f"PiecewisePolynomialBasis(n={basis.n}, segments={basis.segments}, continuous={basis.continuous})"


def test_refusal_is_reported_for_the_nested_layer_that_differs() -> None:
    source = nn.Sequential(PiecewisePolynomial(2, 3, n=3, segments=2), FourierSeries(3, 1, n=3))
    target = nn.Sequential(PiecewisePolynomial(2, 3, n=3, segments=2), Polynomial(3, 1, n=7))
    with pytest.raises(RuntimeError, match=r"1: .*FourierBasis\(n=3, length=2.0\).*PiecewisePolynomialBasis\(n=7"):
        target.load_state_dict(source.state_dict())


@pytest.mark.parametrize(
    "build",
    [
        lambda: PiecewisePolynomial(3, 2, n=3, segments=2, dtype=F64),
        lambda: layers.Product(3, 2, dtype=F64),
        lambda: conv("fourier2d", dtype=F64),
        lambda: conv_t("discontinuous1d", dtype=F64),
    ],
)
def test_matching_state_survives_weights_only_save_and_load(build) -> None:
    source, target = build(), build()
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    buffer.seek(0)
    target.load_state_dict(torch.load(buffer, weights_only=True))
    assert all(torch.equal(a, b) for a, b in zip(source.parameters(), target.parameters(), strict=True))


def test_state_dict_keys_are_the_parameters_and_the_record_is_plain_python() -> None:
    layer = PiecewisePolynomial(3, 2, n=3, segments=2)
    state = layer.state_dict()
    assert set(state) == {"weight"}
    plain = (str, int, float, bool, type(None))
    assert all(isinstance(value, plain) for entry in state._metadata.values() for value in flat_values(entry))


def flat_values(entry: dict) -> list[object]:
    return [w for v in entry.values() for w in (flat_values(v) if isinstance(v, dict) else [v])]


def test_a_state_dict_without_the_record_loads_unchecked() -> None:
    source, target = PiecewisePolynomial(4, 5, n=4, segments=2), PiecewisePolynomial(4, 5, n=3, segments=3)
    target.load_state_dict(dict(source.state_dict()))  # a plain dict: no metadata, as in old checkpoints
    assert torch.equal(target.weight, source.weight)


def test_refined_layers_save_their_new_configuration() -> None:
    layer = PiecewisePolynomial(2, 3, n=3, segments=2, dtype=F64)
    refine_(layer, Refine(n=4, segments=3))
    fresh = PiecewisePolynomial(2, 3, n=4, segments=3, dtype=F64)
    fresh.load_state_dict(layer.state_dict())
    x = uniform(5, 2)
    torch.testing.assert_close(fresh(x), layer(x), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="segments=2"):
        PiecewisePolynomial(2, 3, n=3, segments=2, dtype=F64).load_state_dict(fresh.state_dict())


def test_deepcopy_and_functional_call_are_unaffected() -> None:
    import copy

    layer = PiecewisePolynomial(2, 3, n=3, segments=2, dtype=F64)
    clone = copy.deepcopy(layer)
    clone.load_state_dict(layer.state_dict())
    x = uniform(4, 2)
    params = {name: p * 2 for name, p in layer.named_parameters()}
    torch.testing.assert_close(torch.func.functional_call(layer, params, (x,)), clone(x) * 2)


# (layer_type, n, segments, length) for the fully-connected helper
FC_CONFIGS = st.tuples(
    st.sampled_from(sorted(FC_LAYERS)),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from([1.0, 2.0]),
)


def meaning(layer_type: str, n: int, segments: int, length: float) -> tuple:
    """What a configuration's weights mean, written out independently of the library: equal
    meanings are the configurations whose state dicts must load into each other."""
    neuron = "product" if layer_type.endswith("prod") or layer_type == "product" else "sum"
    if layer_type == "product":
        return ("linear", neuron)
    if layer_type == "fourier":
        return ("fourier", n, length, neuron)
    if layer_type.startswith("polynomial"):
        segments = 1
    continuous = not layer_type.startswith("discontinuous") or segments == 1  # one piece is continuous
    if continuous and n == 1:
        segments = 1  # one constant shared by every piece
    return ("piecewise", n, segments, continuous, neuron)


def fc(config: tuple) -> nn.Module:
    layer_type, n, segments, length = config
    return high_order_fc_layers(layer_type, n, 2, 2, segments, length=length, dtype=F64)


@settings(deadline=None, max_examples=200)
@given(config=FC_CONFIGS, seed=st.integers(0, 2**16))
def test_state_dict_round_trip_between_identical_configurations(config: tuple, seed: int) -> None:
    torch.manual_seed(seed)
    source, target = fc(config), fc(config)
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    buffer.seek(0)
    target.load_state_dict(torch.load(buffer, weights_only=True))
    x = uniform(3, 2)
    torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


def neighbour(config: tuple, field: int, value: object) -> tuple:
    """``config`` with one field replaced: close pairs, where equal meanings are frequent."""
    return (*config[:field], value, *config[field + 1 :])


@settings(deadline=None, max_examples=200)
@given(source_config=FC_CONFIGS, data=st.data())
def test_state_dict_loads_exactly_between_configurations_of_the_same_meaning(source_config, data) -> None:
    other = FC_CONFIGS.map(lambda config: config)
    close = st.tuples(st.integers(0, 3), FC_CONFIGS).map(
        lambda pick: neighbour(source_config, pick[0], pick[1][pick[0]])
    )
    target_config = data.draw(st.one_of(other, close), label="target_config")
    source, target = fc(source_config), fc(target_config)
    if meaning(*source_config) == meaning(*target_config):
        target.load_state_dict(source.state_dict())
        assert torch.equal(target.weight, source.weight)
        x = uniform(4, 2)
        torch.testing.assert_close(target(x), source(x))
    else:
        with pytest.raises(RuntimeError, match="loading state_dict"):
            target.load_state_dict(source.state_dict())


# ------------------------------------------------------------------ input dtype and shape

FC_DTYPE_ERROR = "differs from the layer's"
FLOAT_ERROR = "must be a floating-point tensor"

CONV_CASES = [(name, conv) for name in sorted(CONV_LAYERS)] + [(name, conv_t) for name in sorted(CONV_TRANSPOSE_LAYERS)]


@pytest.mark.parametrize(("layer_type", "build"), CONV_CASES, ids=[f"{b.__name__}-{t}" for t, b in CONV_CASES])
def test_convolutions_refuse_inputs_as_the_fully_connected_layers_do(layer_type: str, build) -> None:
    layer = build(layer_type, n=2, dtype=torch.float32)
    shape = (1, 2, *[3] * spatial_dims(layer_type))
    reference = FourierSeries(2, 2, n=2)
    for bad in [
        torch.rand(shape, dtype=F64),
        torch.randint(0, 2, shape),
        torch.randint(0, 2, shape, dtype=torch.int32),
        torch.rand(shape) > 0.5,
    ]:
        with pytest.raises(TypeError) as error:
            layer(bad)
        with pytest.raises(TypeError) as expected:
            reference(bad.movedim(1, -1))
        assert str(error.value) == str(expected.value)
    assert layer(torch.rand(shape)).dtype == torch.float32


def test_the_dtype_messages_name_both_dtypes() -> None:
    with pytest.raises(TypeError, match=re.escape("input dtype torch.float64 differs from the layer's torch.float32")):
        conv("continuous2d")(torch.rand(1, 2, 3, 3, dtype=F64))
    with pytest.raises(TypeError, match=re.escape("floating-point tensor, got dtype torch.bool")):
        conv("fourier2d")(torch.rand(1, 2, 3, 3) > 0.5)


@pytest.mark.parametrize("build", [lambda: conv("continuous1d"), lambda: conv_t("fourier1d")])
def test_convolutions_accept_other_dtypes_under_autocast(build) -> None:
    layer = build()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(torch.rand(1, 2, 4, dtype=torch.bfloat16))
    assert y.shape[:2] == (1, 2)


@settings(deadline=None, max_examples=200)
@given(
    layer_type=st.sampled_from(sorted(FC_LAYERS)),
    in_features=st.integers(1, 4),
    batch=st.lists(st.integers(0, 3), max_size=2),
    wrong=st.integers(0, 6),
    bad_dtype=st.sampled_from([torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64]),
    other_float=st.sampled_from([torch.float16, torch.bfloat16, torch.float32]),
)
def test_every_fc_layer_refuses_wrong_shapes_and_dtypes(
    layer_type, in_features, batch, wrong, bad_dtype, other_float
) -> None:
    layer = high_order_fc_layers(layer_type, 2, in_features, 2, 2, dtype=F64)
    if wrong != in_features:
        with pytest.raises(ValueError, match=rf"in_features={in_features}\), got {re.escape(str((*batch, wrong)))}"):
            layer(torch.zeros(*batch, wrong, dtype=F64))
    with pytest.raises(ValueError, match="expected input of shape"):
        layer(torch.zeros((), dtype=F64))
    with pytest.raises(TypeError, match=re.escape(f"{FLOAT_ERROR}, got dtype {bad_dtype}")):
        layer(torch.zeros(*batch, in_features, dtype=bad_dtype))
    with pytest.raises(TypeError, match=re.escape(f"input dtype {other_float} {FC_DTYPE_ERROR} torch.float64")):
        layer(torch.zeros(*batch, in_features, dtype=other_float))
    with pytest.raises(TypeError, match="must be a Tensor"):
        layer([0.0] * in_features)
    assert layer(torch.zeros(*batch, in_features, dtype=F64)).shape == (*batch, 2)


# ------------------------------------------------------------------ boolean flags

BOOL_FLAGS = {
    **{cls: ("rescale_output",) for cls in (PiecewisePolynomial, PiecewiseDiscontinuousPolynomial, Polynomial)},
    FourierSeries: ("rescale_output",),
    layers.Product: ("bias",),
    **{cls: ("bias", "rescale_output") for cls in [*CONV_LAYERS.values(), *CONV_TRANSPOSE_LAYERS.values()]},
}


def required_args(cls: type) -> tuple:
    if cls in CONV_LAYERS.values() or cls in CONV_TRANSPOSE_LAYERS.values():
        return (2, 2, 2, 3)  # in, out, kernel_size, n
    return (2, 2) if cls is layers.Product else (2, 2, 3)


FLAG_CASES = [(cls, flag) for cls, flags in BOOL_FLAGS.items() for flag in flags]


@pytest.mark.parametrize(("cls", "flag"), FLAG_CASES, ids=[f"{c.__name__}-{f}" for c, f in FLAG_CASES])
@pytest.mark.parametrize("value", ["no", 0, 1, None, 1.0])
def test_boolean_flags_must_be_bools(cls: type, flag: str, value: object) -> None:
    message = rf"{flag} must be a bool, got {re.escape(repr(value))} \({type(value).__name__}\)"
    with pytest.raises(TypeError, match=message):
        cls(*required_args(cls), **{flag: value})
    cls(*required_args(cls), **{flag: True})


@pytest.mark.parametrize("value", ["no", 1])
def test_builder_functions_check_flags_even_where_the_type_ignores_them(value: object) -> None:
    with pytest.raises(TypeError, match="rescale_output must be a bool"):
        high_order_fc_layers("product", 3, 2, 2, rescale_output=value)
    with pytest.raises(TypeError, match="bias must be a bool"):
        high_order_convolution_layers("continuous2d", 3, 2, 2, 3, bias=value)
    with pytest.raises(TypeError, match="rescale_output must be a bool"):
        high_order_convolution_transpose_layers("fourier1d", 3, 2, 2, 3, rescale_output=value)


def test_basis_continuity_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"continuous must be a bool, got 'no' \(str\)"):
        PiecewisePolynomialBasis(3, 2, continuous="no")
    assert not PiecewisePolynomialBasis(3, 2, continuous=False).continuous


# ------------------------------------------------------------------ constant links


@pytest.fixture
def pure_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the C++ kernels off, so layers take their pure-torch paths."""
    switch_kernels_off(monkeypatch)


CONSTANT_LINKS = [
    lambda: Polynomial(3, 2, n=1, dtype=F64),
    lambda: PiecewisePolynomial(3, 2, n=1, segments=2, dtype=F64),
    lambda: PiecewiseDiscontinuousPolynomial(3, 2, n=1, segments=2, dtype=F64),
    lambda: FourierSeries(3, 2, n=0, dtype=F64),
    lambda: layers.PolynomialProd(3, 2, n=1, dtype=F64),
    lambda: conv("polynomial1d", n=1, dtype=F64),
    lambda: conv("fourier1d", n=0, dtype=F64),
    lambda: conv_t("polynomial1d", n=1, dtype=F64),
    lambda: conv_t("fourier1d", n=0, dtype=F64),
]


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "pure-torch"])
@pytest.mark.parametrize("build", CONSTANT_LINKS)
def test_constant_links_give_the_input_a_zero_gradient(build, kernels: bool, request: pytest.FixtureRequest) -> None:
    if not kernels:
        request.getfixturevalue("pure_torch")
    layer = build()
    fully_connected = isinstance(layer, linear_module.HighOrderLinear)
    x = uniform(5, 3) if fully_connected else uniform(2, 2, 4)
    x.requires_grad_()
    calls = [layer]
    if fully_connected:
        calls.append(layer.link_functions)
    for contraction in ("dense", "gather") if fully_connected else ("auto",):
        if fully_connected:
            layer.contraction = contraction
        for call in calls:
            x.grad = None
            call(x).sum().backward()
            assert x.grad is not None and torch.equal(x.grad, torch.zeros_like(x)), (contraction, call)


def test_constant_links_keep_their_values_for_infinite_inputs(pure_torch: None) -> None:
    layer = FourierSeries(2, 2, n=0, dtype=F64)
    x = torch.tensor([[float("inf"), 0.0]], dtype=F64, requires_grad=True)
    y = layer(x)
    assert torch.isfinite(y).all()
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_layers_build_under_a_meta_default_device():
    """``with torch.device("meta")`` builds a model without memory (skip_init-style construction)."""
    from high_order_layers_torch.layers import (
        CONV_LAYERS,
        FC_LAYERS,
        high_order_convolution_layers,
        high_order_convolution_transpose_layers,
        high_order_fc_layers,
    )
    from high_order_layers_torch.networks import HighOrderMLP

    with torch.device("meta"):
        net = HighOrderMLP("continuous", n=3, in_width=2, out_width=1, hidden_layers=1, hidden_width=4, segments=3)
        layers = [high_order_fc_layers(name, n=3, in_features=2, out_features=3, segments=2) for name in FC_LAYERS]
        for name in CONV_LAYERS:
            for build in (high_order_convolution_layers, high_order_convolution_transpose_layers):
                layers.append(build(name, n=3, in_channels=2, out_channels=3, kernel_size=3, segments=2))
    assert all(p.is_meta for module in (net, *layers) for p in module.parameters())
    net.to_empty(device="cpu")
    for layer in net.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    assert net(torch.rand(5, 2) * 2 - 1).isfinite().all()


def test_refining_a_meta_model_says_how_to_materialise_it():
    from high_order_layers_torch.refine import Refine, refine_

    layer = PiecewisePolynomial(4, 5, n=3, segments=2).to("meta")
    with pytest.raises(ValueError, match=r"meta device.*to_empty"):
        refine_(layer, Refine(n=5))
    assert layer.basis.n == 3  # nothing changed
