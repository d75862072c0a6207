"""What refinement promises about everything but the link functions: ``refine_`` keeps every other
setting of a layer, and the network-to-network copies refuse a target whose layers would compute
another function with the same link functions (another neuron, input policy, geometry, ...)."""

from __future__ import annotations

import functools
import re
from collections import OrderedDict

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from high_order_layers_torch.layers import (
    FourierBasis,
    HighOrderConv1d,
    HighOrderConv2d,
    HighOrderConvTranspose1d,
    HighOrderConvTranspose2d,
    HighOrderLinear,
    MaxAbsNormalization,
    PiecewisePolynomialBasis,
)
from high_order_layers_torch.networks import HighOrderMLP
from high_order_layers_torch.refine import (
    Refine,
    copy_functions_,
    hp_refine_high_order_mlp,
    interpolate_high_order_mlp,
    refine_,
)

F64 = torch.float64
COPIES = [interpolate_high_order_mlp, hp_refine_high_order_mlp, copy_functions_]


def rough_(module: nn.Module, generator: torch.Generator | None = None, scale: float = 0.3) -> nn.Module:
    """Noise on every weight, so link functions are far from the near-linear initial ones."""
    with torch.no_grad():
        for parameter in module.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            parameter.add_(noise * scale)
    return module


def wrap(layer: nn.Module) -> nn.Sequential:
    """The layer as ``network.layer``, so errors can name it."""
    return nn.Sequential(OrderedDict(layer=layer))


def basis(family: str, n: int, segments: int = 2, length: float = 2.0) -> nn.Module:
    if family == "fourier":
        return FourierBasis(n, length)
    return PiecewisePolynomialBasis(n, segments, continuous=family == "continuous")


def fc(family: str = "continuous", n: int = 2, segments: int = 2, *, length: float = 2.0, **options) -> nn.Module:
    return HighOrderLinear(3, 2, basis(family, n, segments, length), dtype=F64, **options)


def conv2d(family: str = "continuous", n: int = 2, segments: int = 2, *, kernel_size: int = 3, **options) -> nn.Module:
    return HighOrderConv2d(2, 2, kernel_size, basis(family, n, segments), dtype=F64, **options)


def conv_t2d(family: str = "continuous", n: int = 2, segments: int = 2, **options) -> nn.Module:
    return HighOrderConvTranspose2d(2, 2, 3, basis(family, n, segments), dtype=F64, **options)


def conv1d(family: str = "continuous", n: int = 2, segments: int = 2, **options) -> nn.Module:
    return HighOrderConv1d(3, 2, 1, basis(family, n, segments), dtype=F64, **options)


def sample_input(layer: nn.Module, generator: torch.Generator | None = None, reach: float = 1.0) -> torch.Tensor:
    """Points in ``[-reach, reach]`` of the shape ``layer`` takes (a batch of 5)."""
    if isinstance(layer, HighOrderLinear):
        shape = (5, layer.in_features)
    else:
        shape = (5, layer.in_channels) + (7,) * layer.num_spatial_dims
    return (torch.rand(shape, generator=generator, dtype=F64) * 2 - 1) * reach


# ---------------------------------------------------------------- copies refuse other settings

# (source, target, attribute, value in the source, value in the target); every pair is
# otherwise nested (more nodes, twice the pieces), so without the check the copy reports exact.
MISMATCHES = [
    (fc(), fc(n=3, neuron="product"), "neuron", "'sum'", "'product'"),
    (fc(neuron="product"), fc(n=3, neuron="product", alpha=0.5), "alpha", "1.0", "0.5"),
    (fc(), fc(n=3, out_of_range="extrapolate"), "out_of_range", "'clamp'", "'extrapolate'"),
    (fc(), fc(n=3, periodicity=2.0), "periodicity", "None", "2.0"),
    (fc(periodicity=2.0), fc(n=3, periodicity=3.0), "periodicity", "2.0", "3.0"),
    (fc(), fc(n=3, rescale_output=True), "rescale_output", "False", "True"),
    (fc(bias=True), fc(n=3), "bias", "True", "False"),
    (fc("fourier"), fc("fourier", 3, length=3.0), "length", "2.0", "3.0"),
    (conv2d(), conv2d(n=3, stride=2), "stride", "(1, 1)", "(2, 2)"),
    (conv2d(), conv2d(n=3, padding=1), "padding", "(0, 0)", "(1, 1)"),
    (conv2d(), conv2d(n=3, padding="same"), "padding", "(0, 0)", "'same'"),
    (conv2d(), conv2d(n=3, dilation=2), "dilation", "(1, 1)", "(2, 2)"),
    (conv2d(), conv2d(n=3, groups=2), "groups", "1", "2"),
    (conv2d(), conv2d(n=3, kernel_size=2), "kernel_size", "(3, 3)", "(2, 2)"),
    (conv2d(padding=1), conv2d(n=3, padding=1, padding_mode="reflect"), "padding_mode", "'zeros'", "'reflect'"),
    (conv2d(), conv2d(n=3, rescale_output=True), "rescale_output", "False", "True"),
    (conv2d(), conv2d(n=3, out_of_range="mirror"), "out_of_range", "'clamp'", "'mirror'"),
    (conv2d(), conv2d(n=3, periodicity=1.5), "periodicity", "None", "1.5"),
    (conv2d(bias=True), conv2d(n=3), "bias", "True", "False"),
    (conv_t2d(), conv_t2d(n=3, stride=2), "stride", "(1, 1)", "(2, 2)"),
    (conv_t2d(stride=2), conv_t2d(n=3, stride=2, output_padding=1), "output_padding", "(0, 0)", "(1, 1)"),
    (conv_t2d(), conv_t2d(n=3, padding=1), "padding", "(0, 0)", "(1, 1)"),
    (conv_t2d(), conv_t2d(n=3, dilation=2), "dilation", "(1, 1)", "(2, 2)"),
    (conv_t2d(), conv_t2d(n=3, rescale_output=True), "rescale_output", "False", "True"),
    (conv_t2d(), conv_t2d(n=3, groups=2), "groups", "1", "2"),
    (conv1d(), fc(n=3), "kind", "'HighOrderConvNd'", "'HighOrderLinear'"),
]


@pytest.mark.parametrize("copy", COPIES)
@pytest.mark.parametrize(("source", "target", "attribute", "value_in", "value_out"), MISMATCHES)
def test_copies_refuse_a_layer_that_computes_another_function(
    copy, source: nn.Module, target: nn.Module, attribute: str, value_in: str, value_out: str
) -> None:
    network_in, network_out = wrap(rough_(source)), wrap(target)
    before = {key: value.clone() for key, value in network_out.state_dict().items()}
    message = rf"'layer'.*\b{attribute}\b.*{re.escape(value_in)}.*{re.escape(value_out)}"
    with pytest.raises(ValueError, match=message):
        copy(network_in, network_out)
    after = network_out.state_dict()
    assert all(torch.equal(after[key], value) for key, value in before.items())  # refused before any change


@pytest.mark.parametrize(
    ("options_in", "options_out", "attribute", "value_in", "value_out"),
    [
        ({}, {"layer_type": "continuous_prod"}, "neuron", "'sum'", "'product'"),
        ({}, {"out_of_range": "extrapolate"}, "out_of_range", "'clamp'", "'extrapolate'"),
        ({"alpha": 0.5, "layer_type": "continuous_prod"}, {"layer_type": "continuous_prod"}, "alpha", "0.5", "1.0"),
        ({}, {"periodicity": 2.0}, "periodicity", "None", "2.0"),
        ({"rescale_output": True}, {}, "rescale_output", "True", "False"),
    ],
)
def test_mlp_copies_refuse_other_neurons_and_input_policies(
    options_in: dict, options_out: dict, attribute: str, value_in: str, value_out: str
) -> None:
    def build(n: int, segments: int, layer_type: str = "continuous", **options: object) -> HighOrderMLP:
        return HighOrderMLP(layer_type, n, 2, 1, 1, 3, segments=segments, dtype=F64, **options)

    coarse, fine = rough_(build(2, 2, **options_in)), build(4, 4, **options_out)
    message = rf"'model\.input'.*\b{attribute}\b.*{re.escape(value_in)}.*{re.escape(value_out)}"
    with pytest.raises(ValueError, match=message):
        hp_refine_high_order_mlp(coarse, fine)


def mlp(**options: object) -> HighOrderMLP:
    kwargs = {"n": 2, "in_width": 2, "out_width": 1, "hidden_layers": 1, "hidden_width": 3, "dtype": F64}
    return HighOrderMLP("continuous", **(kwargs | options))


@pytest.mark.parametrize(
    ("options_in", "options_out", "message"),
    [
        ({"normalization": MaxAbsNormalization}, {}, "MaxAbsNormalization"),
        ({}, {"normalization": MaxAbsNormalization}, "MaxAbsNormalization"),
        (
            {"normalization": functools.partial(nn.LayerNorm, 3)},
            {"normalization": functools.partial(nn.LayerNorm, 3, eps=1e-3)},
            "eps=0.001",
        ),
        ({"normalization": MaxAbsNormalization}, {"normalization": functools.partial(nn.LayerNorm, 3)}, "LayerNorm"),
        ({"resnet": True}, {}, "Residual"),
        ({"non_linearity": nn.ReLU}, {"non_linearity": nn.Tanh}, "Tanh"),
    ],
)
def test_copies_refuse_networks_whose_other_modules_differ(options_in: dict, options_out: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hp_refine_high_order_mlp(rough_(mlp(**options_in)), mlp(n=4, **options_out))


# ------------------------------------------------------------- what may differ, and still works

ALLOWED = [
    # (source, target, exact): settings that do not change the function, and the documented
    # changes of basis (continuity, family) that are projections where not nested
    (fc(alpha=0.5), fc(n=3), True),  # alpha only acts in product neurons
    (fc(neuron="product", rescale_output=True), fc(n=3, neuron="product"), True),  # only sum neurons rescale
    (fc(contraction="gather"), fc(n=3, contraction="dense"), True),  # same result to round-off
    (conv2d(kernel_size=3, padding=1), conv2d(n=3, padding="same"), True),  # the same padding
    (fc(), fc("discontinuous", 3, 4), True),  # the discontinuous space contains the continuous one
    (fc("discontinuous"), fc("continuous", 3, 4), False),  # least-squares projection
    (fc("fourier"), fc("continuous", 4, 4), False),  # another family
    (conv_t2d("discontinuous"), conv_t2d("continuous", 3, 3), False),
]


@pytest.mark.parametrize(("source", "target", "exact"), ALLOWED)
def test_copies_accept_what_does_not_change_the_function(source: nn.Module, target: nn.Module, exact: bool) -> None:
    rough_(source)
    report = hp_refine_high_order_mlp(wrap(source), wrap(target))
    assert report["layer"].exact is exact
    if exact:
        x = sample_input(source)
        torch.testing.assert_close(target(x), source(x), rtol=0, atol=1e-12)


def test_copies_accept_another_dropout_probability() -> None:
    source, target = rough_(mlp(dropout=0.1)), mlp(n=4, dropout=0.3)
    report = interpolate_high_order_mlp(source, target)
    assert all(r.exact for r in report.values())
    x = torch.rand(9, 2, dtype=F64) * 2 - 1
    torch.testing.assert_close(target.eval()(x), source.eval()(x), rtol=0, atol=1e-12)


# ---------------------------------------------------------- refine_ keeps every other setting


LAYER_ATTRIBUTES = [
    *["neuron", "alpha", "rescale_output", "out_of_range", "periodicity"],
    *["kernel_size", "stride", "padding", "output_padding", "dilation", "groups", "padding_mode"],
    *["in_features", "out_features", "in_channels", "out_channels", "basis_dim", "num_spatial_dims"],
]


def layer_settings(layer: nn.Module) -> dict[str, object]:
    """Everything about a layer but its weights, basis ``n`` and ``segments``."""
    found = {name: getattr(layer, name) for name in LAYER_ATTRIBUTES if hasattr(layer, name)}
    found["type"] = type(layer)
    found["bias"] = None if layer.bias is None else layer.bias.detach().clone()
    found["basis"] = type(layer.basis)
    found["continuous"] = getattr(layer.basis, "continuous", None)
    found["length"] = getattr(layer.basis, "length", None)
    found["dtype"] = layer.weight.dtype
    return found


@pytest.mark.parametrize(
    "layer",
    [
        fc(neuron="product", alpha=0.3, out_of_range="extrapolate", periodicity=1.5, bias=True),
        fc("discontinuous", rescale_output=True, out_of_range="mirror", contraction="gather"),
        fc("fourier", length=3.0, rescale_output=True, bias=True),
        conv2d(stride=2, padding=1, dilation=2, groups=2, padding_mode="circular", rescale_output=True, bias=True),
        conv2d("discontinuous", kernel_size=2, padding="same", out_of_range="extrapolate", periodicity=2.0),
        conv_t2d(stride=2, padding=1, output_padding=1, groups=2, rescale_output=True, bias=True),
    ],
)
def test_refine_keeps_every_other_setting(layer: nn.Module) -> None:
    rough_(layer)
    snapshot = layer_settings(layer)
    x = sample_input(layer, reach=1.02)  # a little outside [-1, 1] exercises the input policy
    before = layer(x)
    fourier = isinstance(layer.basis, FourierBasis)
    report = refine_(layer, Refine(n=4) if fourier else Refine(n=4, segments=lambda s: 2 * s))
    assert report[""].exact
    after = layer_settings(layer)
    assert after.keys() == snapshot.keys()
    for key, value in snapshot.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(after[key], value), key
        else:
            assert after[key] == value, key
    torch.testing.assert_close(layer(x), before, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------- property: exact or refused

FC_OPTIONS = {
    "neuron": ["sum", "product"],
    "alpha": [1.0, 0.5],
    "rescale_output": [False, True],
    "out_of_range": ["clamp", "extrapolate", "mirror"],
    "periodicity": [None, 1.5, 2.0],
    "bias": [False, True],
}
CONV_OPTIONS = {
    "kernel_size": [1, 2, 3],
    "stride": [1, 2],
    "padding": [0, 1],
    "dilation": [1, 2],
    "groups": [1, 2],
    "padding_mode": ["zeros", "reflect", "circular"],
    "rescale_output": [False, True],
    "out_of_range": ["clamp", "extrapolate"],
    "periodicity": [None, 2.0],
    "bias": [False, True],
}
CONV_T_OPTIONS = {
    "kernel_size": [1, 2, 3],
    "stride": [1, 2],
    "padding": [0, 1],
    "output_padding": [0, 1],
    "dilation": [1, 2],
    "groups": [1, 2],
    "rescale_output": [False, True],
    "out_of_range": ["clamp", "mirror"],
    "bias": [False, True],
}
KINDS = {"fc": FC_OPTIONS, "conv": CONV_OPTIONS, "conv_t": CONV_T_OPTIONS}


def build(kind: str, family: str, n: int, segments: int, length: float, options: dict) -> nn.Module:
    """A tiny float64 layer: 2 -> 2 features or channels, 1-d convolutions."""
    options = dict(options)
    chosen = basis(family, n, segments, length)
    if kind == "fc":
        return HighOrderLinear(2, 2, chosen, dtype=F64, **options)
    kernel_size = options.pop("kernel_size")
    layer_class = HighOrderConv1d if kind == "conv" else HighOrderConvTranspose1d
    return layer_class(2, 2, kernel_size, chosen, dtype=F64, **options)


def changes_function(options: dict, attribute: str) -> bool:
    """Whether changing ``attribute`` changes the layer's function (alpha acts only in product
    neurons, rescaling only in sum neurons)."""
    neuron = options.get("neuron", "sum")
    ignored = (attribute == "alpha" and neuron == "sum") or (attribute == "rescale_output" and neuron == "product")
    return not ignored


@st.composite
def refinements(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(sorted(KINDS)))
    family = draw(st.sampled_from(["continuous", "discontinuous", "fourier"]))
    space = KINDS[kind]
    options = {key: draw(st.sampled_from(values)) for key, values in space.items()}
    if kind == "conv_t" and options["output_padding"] >= max(options["stride"], options["dilation"]):
        options["output_padding"] = 0  # PyTorch's rule: output_padding < stride or dilation
    n = draw(st.integers(0 if family == "fourier" else 1, 4))
    # at most one setting changed in the copy's target ("length": the Fourier period)
    attribute = draw(st.sampled_from([None, *space, "length"] if family == "fourier" else [None, *space]))
    changed = dict(options)
    if attribute in space:
        changed[attribute] = draw(st.sampled_from([v for v in space[attribute] if v != options[attribute]]))
        if kind == "conv_t" and changed["output_padding"] >= max(changed["stride"], changed["dilation"]):
            attribute, changed = None, dict(options)  # no valid layer has this change: copy an identical one
    return {
        "kind": kind,
        "family": family,
        "n": n,
        "segments": draw(st.integers(1, 3)),
        "more_nodes": draw(st.integers(0, 2)),
        "ratio": draw(st.integers(1, 3)),
        "options": options,
        "changed": changed,
        "attribute": attribute,
        "in_place": draw(st.booleans()),
        "to_discontinuous": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(deadline=None, max_examples=250)
@given(case=refinements())
def test_refinement_is_exact_or_refused(case: dict) -> None:
    kind, family, options = case["kind"], case["family"], case["options"]
    generator = torch.Generator().manual_seed(case["seed"])
    source = rough_(build(kind, family, case["n"], case["segments"], 2.0, options), generator)
    x = sample_input(source, generator, reach=1.02)  # a little outside [-1, 1]: the input policy acts
    expected = source(x)
    new_n, new_segments = case["n"] + case["more_nodes"], case["segments"] * case["ratio"]
    fourier = family == "fourier"
    if case["in_place"]:
        config = Refine(n=new_n) if fourier else Refine(n=new_n, segments=new_segments)
        report = refine_(source, config)
        result = source
    else:
        target_family = "discontinuous" if family == "continuous" and case["to_discontinuous"] else family
        length = 3.0 if case["attribute"] == "length" else 2.0
        result = build(kind, target_family, new_n, new_segments, length, case["changed"])
        attribute = case["attribute"]
        if attribute is not None and (attribute == "length" or changes_function(options, attribute)):
            with pytest.raises(ValueError, match=rf"'layer'.*\b{attribute}\b"):
                hp_refine_high_order_mlp(wrap(source), wrap(result))
            return
        report = hp_refine_high_order_mlp(wrap(source), wrap(result))
    assert all(r.exact for r in report.values())
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(result(x), expected, rtol=0, atol=1e-12 * scale)
