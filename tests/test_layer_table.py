"""The table of layer types: named classes keep their signatures, unknown keywords raise, and
every basis family is reachable by name through the helpers without a layer class of its own."""

from __future__ import annotations

import inspect
import io
import pickle

import pytest
import torch

from high_order_layers_torch import bases, layers
from high_order_layers_torch.layers import (
    BASELINE_FC_LAYERS,
    CONV_LAYERS,
    CONV_TRANSPOSE_LAYERS,
    FAMILY_CONV_LAYERS,
    FAMILY_CONV_TRANSPOSE_LAYERS,
    FAMILY_FC_LAYERS,
    FC_LAYERS,
    ChebyshevBasis,
    ChebyshevConvolution2d,
    ChebyshevLinear,
    HighOrderConvNd,
    HighOrderConvTransposeNd,
    HighOrderLinear,
    _named,
    high_order_convolution_layers,
    high_order_convolution_transpose_layers,
    high_order_fc_layers,
)
from high_order_layers_torch.layers._registry import build_from_registry
from high_order_layers_torch.networks import HighOrderFullyConvolutionalNetwork, high_order_mlp

F64 = torch.float64
P, K = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
REQUIRED = inspect.Parameter.empty
FACTORY = [("device", K, None), ("dtype", K, None)]
POLICY = [("out_of_range", K, "clamp"), ("periodicity", K, None), ("initialization", K, None)]
CONV_OPTIONS = [("stride", K, 1), ("padding", K, 0), ("dilation", K, 1), ("groups", K, 1), ("bias", K, False)]
CONV_OPTIONS += [("padding_mode", K, "zeros"), ("rescale_output", K, False)]

#: The signatures users rely on, written out: (name, kind, default) per parameter, in order.
SIGNATURES = {
    layers.PiecewisePolynomial: [
        ("in_features", P, REQUIRED),
        ("out_features", P, REQUIRED),
        ("n", P, REQUIRED),
        ("segments", P, 2),
        ("rescale_output", K, False),
        *POLICY,
        *FACTORY,
    ],
    layers.FourierSeries: [
        ("in_features", P, REQUIRED),
        ("out_features", P, REQUIRED),
        ("n", P, REQUIRED),
        ("length", K, 2.0),
        ("rescale_output", K, False),
        ("out_of_range", K, "extrapolate"),
        *POLICY[1:],
        *FACTORY,
    ],
    layers.PolynomialProd: [
        ("in_features", P, REQUIRED),
        ("out_features", P, REQUIRED),
        ("n", P, REQUIRED),
        ("alpha", K, 1.0),
        *POLICY,
        *FACTORY,
    ],
    layers.Product: [
        ("in_features", P, REQUIRED),
        ("out_features", P, REQUIRED),
        ("alpha", K, 1.0),
        ("bias", K, True),
        *POLICY,
        *FACTORY,
    ],
    layers.PiecewiseDiscontinuousPolynomialConvolution3d: [
        ("in_channels", P, REQUIRED),
        ("out_channels", P, REQUIRED),
        ("kernel_size", P, REQUIRED),
        ("n", P, REQUIRED),
        ("segments", P, 2),
        *CONV_OPTIONS,
        ("out_of_range", K, "clamp"),
        ("periodicity", K, None),
        ("contraction", K, "auto"),
        ("initialization", K, None),
        *FACTORY,
    ],
    layers.FourierConvolution2d: [
        ("in_channels", P, REQUIRED),
        ("out_channels", P, REQUIRED),
        ("kernel_size", P, REQUIRED),
        ("n", P, REQUIRED),
        ("length", K, 2.0),
        *CONV_OPTIONS,
        ("out_of_range", K, "extrapolate"),
        *POLICY[1:],
        *FACTORY,
    ],
    layers.PolynomialConvolutionTranspose1d: [
        ("in_channels", P, REQUIRED),
        ("out_channels", P, REQUIRED),
        ("kernel_size", P, REQUIRED),
        ("n", P, REQUIRED),
        ("stride", K, 1),
        ("padding", K, 0),
        ("output_padding", K, 0),
        ("groups", K, 1),
        ("bias", K, False),
        ("dilation", K, 1),
        ("padding_mode", K, "zeros"),
        ("rescale_output", K, False),
        *POLICY,
        *FACTORY,
    ],
}

HELPERS = {
    "fc": (lambda layer_type, **kw: high_order_fc_layers(layer_type, n=3, in_features=2, out_features=3, **kw)),
    "conv": (
        lambda layer_type, **kw: high_order_convolution_layers(
            layer_type, n=3, in_channels=2, out_channels=3, kernel_size=2, **kw
        )
    ),
    "conv_transpose": (
        lambda layer_type, **kw: high_order_convolution_transpose_layers(
            layer_type, n=3, in_channels=2, out_channels=3, kernel_size=2, **kw
        )
    ),
}
NAMED = {"fc": FC_LAYERS, "conv": CONV_LAYERS, "conv_transpose": CONV_TRANSPOSE_LAYERS}
GENERATED = {"fc": FAMILY_FC_LAYERS, "conv": FAMILY_CONV_LAYERS, "conv_transpose": FAMILY_CONV_TRANSPOSE_LAYERS}
GENERIC = {"fc": HighOrderLinear, "conv": HighOrderConvNd, "conv_transpose": HighOrderConvTransposeNd}
CHEBYSHEV = [("fc", "chebyshev")] + [(kind, f"chebyshev{d}d") for kind in ("conv", "conv_transpose") for d in (1, 2, 3)]


def uniform(*shape: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.rand(*shape, dtype=dtype) * 2 - 1


def sample_input(kind: str, layer_type: str, dtype: torch.dtype = F64) -> torch.Tensor:
    if kind == "fc":
        return uniform(4, 2, dtype=dtype)
    return uniform(2, 2, *([4] * int(layer_type[-2])), dtype=dtype)


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("cls", list(SIGNATURES), ids=lambda cls: cls.__name__)
def test_named_signatures_are_unchanged(cls: type) -> None:
    parameters = inspect.signature(cls).parameters.values()
    assert [(p.name, p.kind, p.default) for p in parameters] == SIGNATURES[cls]


@pytest.mark.parametrize("kind", list(NAMED))
def test_every_named_type_takes_its_family_arguments_positionally(kind: str) -> None:
    for name, cls in NAMED[kind].items():
        parameters = inspect.signature(cls).parameters
        assert "basis" not in parameters and "neuron" not in parameters, name
        if cls is not layers.Product:
            assert list(parameters).index("n") == (2 if kind == "fc" else 3), name
        assert list(parameters)[-2:] == ["device", "dtype"], name


def test_documented_calls_still_work() -> None:
    fc = layers.PiecewisePolynomial(3, 2, n=4, segments=2, rescale_output=True)
    assert fc.basis.num_weights == 7 and fc.rescale_output and fc.neuron == "sum"
    conv = layers.FourierConvolution2d(3, 8, 3, n=2, length=2.0, padding="same")
    assert conv.padding == "same" and conv.out_of_range == "extrapolate" and conv.num_spatial_dims == 2
    product = layers.Product(3, 2)
    assert product.bias is not None and product.n == 1 and product.neuron == "product"
    assert layers.PiecewisePolynomialProd(2, 2, 3, 4).segments == 4  # n and segments by position


# --------------------------------------------------------------------------- unknown keywords


@pytest.mark.parametrize("kind", list(HELPERS))
def test_a_misspelt_keyword_raises_in_every_helper(kind: str) -> None:
    layer_type = "fourier" if kind == "fc" else "fourier2d"
    with pytest.raises(TypeError, match="segmnets"):
        HELPERS[kind](layer_type, segmnets=4)
    with pytest.raises(TypeError, match="lenght"):
        HELPERS[kind](layer_type, lenght=3.0)


@pytest.mark.parametrize("kind", list(HELPERS))
def test_keywords_of_other_types_are_still_dropped(kind: str) -> None:
    piecewise = "continuous" if kind == "fc" else "continuous1d"
    assert HELPERS[kind](piecewise, length=5.0).segments == 2  # length is Fourier's
    fourier = "fourier" if kind == "fc" else "fourier1d"
    assert HELPERS[kind](fourier, segments=5, length=3.0).basis.length == 3.0  # segments is piecewise'


@pytest.mark.parametrize("kind", list(NAMED))
def test_build_from_registry_names_unknown_and_accepted_keywords(kind: str) -> None:
    registry = NAMED[kind]
    name = sorted(registry)[0]
    sizes = {"in_features": 2, "out_features": 2} if kind == "fc" else {"in_channels": 2, "out_channels": 2}
    if kind != "fc":
        sizes["kernel_size"] = 2
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) colour, segmnets.*accepted: .*segments"):
        build_from_registry(registry, name, n=3, segmnets=3, colour="red", **sizes)
    build_from_registry(registry, name, n=3, length=2.0, **sizes)  # known to the Fourier types


def test_a_misspelt_keyword_raises_in_every_named_class() -> None:
    for cls in [*FC_LAYERS.values(), *CONV_LAYERS.values(), *CONV_TRANSPOSE_LAYERS.values()]:
        required = [2 for p in inspect.signature(cls).parameters.values() if p.default is REQUIRED]
        with pytest.raises(TypeError, match=rf"{cls.__name__}: got an unexpected keyword argument 'segmnets'"):
            cls(*required, segmnets=3)
    with pytest.raises(TypeError, match="missing a required argument: 'n'"):
        layers.PiecewisePolynomial(2, 3)


def test_unknown_layer_type_lists_named_then_generated_names() -> None:
    with pytest.raises(ValueError, match="valid names: continuous, .*; bspline, chebyshev; baseline, baseline_relu"):
        high_order_fc_layers("spline", n=3, in_features=2, out_features=2)
    with pytest.raises(ValueError, match="valid names: continuous1d, .*fourier3d.*; bspline1d, .*chebyshev1d"):
        HELPERS["conv_transpose"]("spline2d")


# --------------------------------------------------------------------------- generated families


def test_every_basis_family_is_reachable_in_every_kind() -> None:
    for kind in NAMED:
        registry = {**NAMED[kind], **GENERATED[kind]}
        reached = {cls.spec.family for cls in registry.values()}
        missing = set(bases.BASIS_FAMILIES.values()) - reached - ({bases.LinearBasis} if kind != "fc" else set())
        assert not missing, (kind, missing)
        assert not set(NAMED[kind]) & set(GENERATED[kind])
    assert not set(FAMILY_FC_LAYERS) & set(BASELINE_FC_LAYERS)
    assert "linear" not in FAMILY_FC_LAYERS and "piecewise" not in FAMILY_FC_LAYERS  # named as other types


@pytest.mark.parametrize("kind", list(GENERATED))
def test_generated_types_are_named_importable_classes(kind: str) -> None:
    for name, cls in GENERATED[kind].items():
        assert inspect.isclass(cls) and issubclass(cls, GENERIC[kind])
        assert cls.__module__ == "high_order_layers_torch.layers._named" and cls.__qualname__ == cls.__name__
        assert getattr(layers, cls.__name__) is cls and cls.__name__ in layers.__all__
        assert name in (cls.__doc__ or "")
    assert FAMILY_FC_LAYERS["chebyshev"] is ChebyshevLinear
    assert FAMILY_CONV_LAYERS["chebyshev2d"] is ChebyshevConvolution2d


class SplineBasis(bases.PiecewisePolynomialBasis):
    """Stands in for a family added to ``BASIS_FAMILIES`` without layer classes of its own."""

    description = "a spline"


def test_a_family_without_layer_classes_gets_generated_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bases.BASIS_FAMILIES, "spline", SplineBasis)
    for name in ("SplineLinear", "SplineConvolutionTranspose2d"):
        monkeypatch.setattr(_named, name, None, raising=False)  # undone: the generated classes are unbound again
    fc = _named._family_layers(ChebyshevLinear)["spline"]
    transposed = _named._family_layers(layers.ChebyshevConvolutionTranspose2d)["spline2d"]
    assert fc is _named.SplineLinear and 'layer_type="spline"' in (fc.__doc__ or "")
    assert list(inspect.signature(fc).parameters)[:5] == ["in_features", "out_features", "n", "segments", "continuous"]
    assert "contraction" in inspect.signature(transposed).parameters  # the options of the Chebyshev model
    cases = [
        (fc, layers.PiecewiseDiscontinuousPolynomial, (2, 3), uniform(4, 2)),
        (transposed, layers.PiecewiseDiscontinuousPolynomialConvolutionTranspose2d, (2, 3, 2), uniform(1, 2, 4, 4)),
    ]
    for cls, named, sizes, x in cases:
        layer, reference = cls(*sizes, 3, 2, continuous=False, dtype=F64), named(*sizes, 3, 2, dtype=F64)
        with torch.no_grad():
            reference.weight.copy_(layer.weight)
        torch.testing.assert_close(layer(x), reference(x))
        with pytest.raises(TypeError, match=rf"{cls.__name__}: got an unexpected keyword argument 'alpha'"):
            cls(*sizes, 3, alpha=0.5)
    assert type(pickle.loads(pickle.dumps(fc(2, 3, 3)))) is fc


@pytest.mark.parametrize(("kind", "layer_type"), CHEBYSHEV)
def test_chebyshev_through_the_helpers_forward_and_backward(kind: str, layer_type: str) -> None:
    only_others_take = {"alpha": 0.5} if kind == "fc" else {"output_padding": 0} if kind == "conv_transpose" else {}
    layer = HELPERS[kind](layer_type, segments=4, length=3.0, dtype=F64, **only_others_take)
    assert type(layer) is GENERATED[kind][layer_type]
    assert isinstance(layer.basis, ChebyshevBasis) and layer.basis.n == 3 and layer.basis.num_weights == 3
    x = sample_input(kind, layer_type).requires_grad_()
    y = layer(x)
    if kind == "fc":
        assert y.shape == (4, 3)
    else:
        size = 3 if kind == "conv" else 5  # 4 - 2 + 1, (4 - 1) + 2
        assert y.shape == (2, 3, *([size] * int(layer_type[-2])))
    y.square().sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("kind", "layer_type"), [c for c in CHEBYSHEV if c[1][-2] != "3"])
def test_chebyshev_gradcheck_float64(kind: str, layer_type: str) -> None:
    layer = HELPERS[kind](layer_type, dtype=F64)
    x = (sample_input(kind, layer_type)[:1] * 0.9).requires_grad_()
    names = [name for name, _ in layer.named_parameters()]

    def call(x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, dict(zip(names, params, strict=True)), (x,))

    assert torch.autograd.gradcheck(call, (x, *layer.parameters()))


@pytest.mark.parametrize(("kind", "layer_type"), CHEBYSHEV)
def test_chebyshev_state_dict_pickle_and_meta(kind: str, layer_type: str) -> None:
    layer, other = HELPERS[kind](layer_type), HELPERS[kind](layer_type)
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    x = sample_input(kind, layer_type, dtype=torch.float32)
    torch.testing.assert_close(other(x), layer(x))
    clone = pickle.loads(pickle.dumps(layer))
    assert type(clone) is type(layer)
    torch.testing.assert_close(clone(x), layer(x))
    assert all(p.is_meta for p in HELPERS[kind](layer_type, device="meta").parameters())


def test_chebyshev_class_and_repr() -> None:
    layer = ChebyshevLinear(3, 2, 4, out_of_range="extrapolate")
    assert list(inspect.signature(ChebyshevLinear).parameters)[:3] == ["in_features", "out_features", "n"]
    assert "out_of_range='extrapolate'" in repr(layer) and "ChebyshevBasis(n=4)" in repr(layer)
    assert "out_of_range" not in repr(ChebyshevConvolution2d(2, 2, 3, 4))


def test_networks_build_chebyshev_layers() -> None:
    mlp = high_order_mlp("chebyshev", n=3, in_width=2, out_width=1, hidden_layers=1, hidden_width=4)
    assert sum(isinstance(m, ChebyshevLinear) for m in mlp.modules()) == 3
    assert mlp(uniform(5, 2, dtype=torch.float32)).shape == (5, 1)
    net = HighOrderFullyConvolutionalNetwork("chebyshev2d", n=3, channels=[2, 4, 3], segments=2, kernel_size=[3, 3])
    assert net(uniform(2, 2, 8, 8, dtype=torch.float32)).shape == (2, 3)


# --------------------------------------------------------------------------- generic N-d layers


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_generic_nd_layers_build_directly(dims: int) -> None:
    conv = HighOrderConvNd(2, 3, 2, ChebyshevBasis(3), num_spatial_dims=dims, dtype=F64)
    assert conv.num_spatial_dims == dims and conv(uniform(1, 2, *([4] * dims))).shape == (1, 3, *([3] * dims))
    transposed = HighOrderConvTransposeNd(2, 3, 2, ChebyshevBasis(3), num_spatial_dims=dims, dtype=F64)
    assert transposed(uniform(1, 2, *([4] * dims))).shape == (1, 3, *([5] * dims))
