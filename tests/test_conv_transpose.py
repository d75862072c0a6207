"""High-order transposed convolutions: the module contract and their mathematical invariants."""

from __future__ import annotations

import itertools
import math
import pickle

import pytest
import torch
from torch import Tensor, nn

from high_order_layers_torch.layers import (
    CONV_TRANSPOSE_LAYERS,
    FourierBasis,
    HighOrderConvTranspose1d,
    HighOrderConvTranspose2d,
    HighOrderConvTranspose3d,
    HighOrderConvTransposeNd,
    HighOrderLinear,
    PiecewisePolynomialBasis,
    high_order_convolution_transpose_layers,
)

FAMILIES = ("continuous", "discontinuous", "polynomial", "fourier")
LAYER_TYPES = sorted(CONV_TRANSPOSE_LAYERS)
GENERIC = {1: HighOrderConvTranspose1d, 2: HighOrderConvTranspose2d, 3: HighOrderConvTranspose3d}
TORCH_CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def make(layer_type: str, in_channels: int = 2, out_channels: int = 4, kernel_size=3, n: int = 3, **kw) -> nn.Module:
    kw.setdefault("segments", 3)
    return high_order_convolution_transpose_layers(
        layer_type, n=n, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, **kw
    )


def uniform(*shape: int, dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.rand(*shape, dtype=dtype) * 2 - 1


def dims_of(layer_type: str) -> int:
    return int(layer_type[-2])


def as_fc(layer: HighOrderConvTransposeNd, tap: tuple[int, ...]) -> HighOrderLinear:
    """The fully-connected layer of one kernel tap: weight ``(out, in, M)``, groups spelled out
    as zero links (a zero-weight link is the zero function)."""
    in_channels, out_channels, groups = layer.in_channels, layer.out_channels, layer.groups
    fc = HighOrderLinear(in_channels, out_channels, layer.basis, out_of_range=layer.out_of_range, dtype=torch.float64)
    weight = torch.zeros_like(fc.weight)
    per_in, per_out = in_channels // groups, out_channels // groups
    for g in range(groups):
        block = layer.weight[(slice(g * per_in, (g + 1) * per_in), slice(None), slice(None), *tap)]  # (in/g, M, out/g)
        weight[g * per_out : (g + 1) * per_out, g * per_in : (g + 1) * per_in] = block.permute(2, 0, 1)
    with torch.no_grad():
        fc.weight.copy_(weight)
    return fc


def reference_conv_transpose(layer: HighOrderConvTransposeNd, x: Tensor) -> tuple[Tensor, Tensor]:
    """Every input position sends its link values to ``p * stride + j * dilation - padding``;
    also counts the links that land on each output position."""
    dims = layer.num_spatial_dims
    size = layer.output_size(x.shape[2:])
    out = x.new_zeros(x.shape[0], layer.out_channels, *size)
    count = x.new_zeros(*size)
    for tap in itertools.product(*(range(k) for k in layer.kernel_size)):
        values = as_fc(layer, tap)(x.movedim(1, -1)).movedim(-1, 1)  # (B, O, *S_in)
        for position in itertools.product(*(range(s) for s in x.shape[2:])):
            target = tuple(
                p * layer.stride[d] + tap[d] * layer.dilation[d] - layer.padding[d] for d, p in enumerate(position)
            )
            if all(0 <= t < size[d] for d, t in enumerate(target)):
                out[(slice(None), slice(None), *target)] += values[(slice(None), slice(None), *position)]
                count[target] += layer.in_channels // layer.groups
    assert dims == len(size)
    return out, count


# --------------------------------------------------------------------------- registry


def test_registry_names() -> None:
    assert set(CONV_TRANSPOSE_LAYERS) == {f"{family}{d}d" for family in FAMILIES for d in (1, 2, 3)}


@pytest.mark.parametrize("name", ["continuous", "fourier0d", "transpose2d"])
def test_unknown_layer_type_lists_valid_names(name: str) -> None:
    with pytest.raises(ValueError, match="valid names: continuous1d"):
        make(name)


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_helper_builds_the_registered_class(layer_type: str) -> None:
    layer = make(layer_type, stride=2, padding=1, output_padding=1, groups=2, length=3.0)
    assert type(layer) is CONV_TRANSPOSE_LAYERS[layer_type]
    assert isinstance(layer, HighOrderConvTransposeNd)
    assert layer.num_spatial_dims == dims_of(layer_type)
    assert layer.basis_dim == 1
    assert layer.weight.shape == (2, layer.basis.num_weights, 2, *([3] * dims_of(layer_type)))


# --------------------------------------------------------------------------- shapes


TRANSPOSE_GRID = [
    dict(),
    dict(stride=2),
    dict(stride=2, output_padding=1),
    dict(stride=(3, 2, 1), padding=(1, 0, 2), output_padding=(2, 1, 0)),
    dict(dilation=2, padding=1),
    dict(dilation=3, output_padding=2),
    dict(groups=2, stride=2),
    dict(groups=4, padding=2, dilation=(1, 2, 1)),
]


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("options", TRANSPOSE_GRID, ids=str)
def test_output_size_matches_torch_conv_transpose(dims: int, options: dict) -> None:
    options = {k: (v[:dims] if isinstance(v, tuple) else v) for k, v in options.items()}
    reference = TORCH_CONV_TRANSPOSE[dims](4, 8, 3, **options)
    layer = GENERIC[dims](4, 8, 3, PiecewisePolynomialBasis(2, 2), **options)
    x = uniform(2, 4, *([5, 4, 3][:dims]), dtype=torch.float32)
    assert layer(x).shape == reference(x).shape
    assert layer(x[0]).shape == reference(x[0]).shape  # unbatched input
    assert layer.output_size(x.shape[2:]) == reference(x).shape[2:]


@pytest.mark.parametrize("wanted", [(9, 9), (10, 10), (9, 10)])
def test_output_size_argument_picks_output_padding(wanted: tuple[int, int]) -> None:
    reference = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    layer = HighOrderConvTranspose2d(2, 3, 3, FourierBasis(1), stride=2, padding=1)
    x = uniform(1, 2, 5, 5, dtype=torch.float32)
    assert layer(x, output_size=wanted).shape == reference(x, output_size=wanted).shape
    with pytest.raises(ValueError, match="cannot be reached"):
        layer(x, output_size=(12, 9))


# --------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_one_by_one_transposed_conv_is_the_fc_layer_at_every_position(layer_type: str) -> None:
    dims = dims_of(layer_type)
    layer = make(layer_type, in_channels=3, out_channels=5, kernel_size=1, dtype=torch.float64)
    fc = as_fc(layer, (0,) * dims)
    x = 1.2 * uniform(2, 3, *([4, 3, 2][:dims]))
    torch.testing.assert_close(layer(x), fc(x.movedim(1, -1)).movedim(-1, 1))


@pytest.mark.parametrize(
    ("dims", "options"),
    [
        (1, dict(kernel_size=3, stride=2, padding=1, output_padding=1)),
        (1, dict(kernel_size=2, stride=3, dilation=2, groups=2)),
        (2, dict(kernel_size=(2, 3), stride=(2, 1), padding=(0, 1), groups=2)),
        (2, dict(kernel_size=2, dilation=2, output_padding=1, stride=2)),
    ],
)
@pytest.mark.parametrize("family", FAMILIES)
def test_equals_explicit_scatter_of_link_functions(family: str, dims: int, options: dict) -> None:
    layer = make(f"{family}{dims}d", in_channels=2, out_channels=4, dtype=torch.float64, **options)
    x = uniform(2, 2, *([5, 4][:dims]))
    expected, _ = reference_conv_transpose(layer, x)
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize(
    ("dims", "options"),
    [
        (1, dict(kernel_size=3, stride=2, padding=1, output_padding=1)),
        (1, dict(kernel_size=2, stride=3)),  # some outputs are fed by no link
        (2, dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), groups=2, dilation=(1, 2))),
    ],
)
def test_rescale_output_divides_by_the_links_feeding_each_output(dims: int, options: dict) -> None:
    plain = make(f"continuous{dims}d", dtype=torch.float64, bias=True, **options)
    scaled = make(f"continuous{dims}d", dtype=torch.float64, bias=True, rescale_output=True, **options)
    with torch.no_grad():
        plain.bias.uniform_()
    scaled.load_state_dict(plain.state_dict())
    x = uniform(2, 2, *([5, 4][:dims]))
    _, count = reference_conv_transpose(plain, x)
    torch.testing.assert_close(scaled.link_counts(x.shape[2:])[0], count)
    bias = plain.bias.view(-1, *([1] * dims))
    torch.testing.assert_close(scaled(x) - bias, (plain(x) - bias) / count.clamp(min=1))


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("continuous", [True, False])
def test_one_segment_piecewise_is_the_polynomial(dims: int, continuous: bool) -> None:
    name = "continuous" if continuous else "discontinuous"
    piecewise = make(f"{name}{dims}d", segments=1, kernel_size=2, stride=2, dtype=torch.float64)
    polynomial = make(f"polynomial{dims}d", kernel_size=2, stride=2, dtype=torch.float64)
    polynomial.load_state_dict(piecewise.state_dict())
    x = uniform(2, 2, *([4, 3, 2][:dims]))
    torch.testing.assert_close(piecewise(x), polynomial(x))


def test_out_of_range_policy_and_periodicity_act_on_the_input() -> None:
    clamp = make("continuous2d", stride=2, dtype=torch.float64)
    periodic = make("continuous2d", stride=2, periodicity=1.0, dtype=torch.float64)
    periodic.load_state_dict(clamp.state_dict())
    x = 1.4 * uniform(1, 2, 3, 3)
    torch.testing.assert_close(clamp(x), clamp(x.clamp(-1, 1)))
    folded = torch.where(x > 0.5, 1 - x, torch.where(x < -0.5, -1 - x, x))
    torch.testing.assert_close(periodic(x), clamp(folded))
    with pytest.raises(ValueError, match="outside"):
        make("continuous2d", out_of_range="error", dtype=torch.float64)(x)


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_gradcheck_float64(layer_type: str) -> None:
    dims = dims_of(layer_type)
    channels = 2 if dims < 3 else 1  # float64 conv3d is slow on CPU: keep the 3-d case tiny
    layer = make(layer_type, channels, 2, kernel_size=2, n=2, segments=3, stride=2, bias=True, dtype=torch.float64)
    names = [name for name, _ in layer.named_parameters()]

    def call(inputs: Tensor, *params: Tensor) -> Tensor:
        return torch.func.functional_call(layer, dict(zip(names, params, strict=True)), (inputs,))

    x = (0.9 * uniform(1, channels, *([3, 2, 2][:dims]))).requires_grad_()
    assert torch.autograd.gradcheck(call, (x, *layer.parameters()))


def test_gradcheck_rescaled() -> None:
    layer = make("fourier1d", kernel_size=3, stride=2, rescale_output=True, dtype=torch.float64)
    x = uniform(1, 2, 4).requires_grad_()
    assert torch.autograd.gradcheck(layer, (x,))


# --------------------------------------------------------------------------- module contract


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_placement(layer_type: str, dtype: torch.dtype) -> None:
    layer = make(layer_type, dtype=dtype, bias=True, rescale_output=True)
    assert all(t.dtype == dtype for t in [*layer.parameters(), *layer.buffers()] if t.is_floating_point())
    assert layer(uniform(1, 2, *([3] * dims_of(layer_type)), dtype=dtype)).dtype == dtype


def test_to_and_meta_device() -> None:
    layer = make("discontinuous2d").to(torch.float64)
    assert all(t.dtype == torch.float64 for t in [*layer.parameters(), *layer.buffers()] if t.is_floating_point())
    meta = make("continuous2d", device="meta", stride=2)
    assert meta.weight.is_meta
    assert meta(torch.empty(1, 2, 4, 4, device="meta")).shape == (1, 4, 9, 9)


@pytest.mark.parametrize("layer_type", ["continuous1d", "polynomial2d", "fourier3d", "discontinuous2d"])
def test_state_dict_and_pickle_round_trip(layer_type: str) -> None:
    source = make(layer_type, bias=True, stride=2)
    target = make(layer_type, bias=True, stride=2)
    target.load_state_dict(source.state_dict())
    assert set(source.state_dict()) == {"weight", "bias"}
    x = uniform(1, 2, *([3] * dims_of(layer_type)), dtype=torch.float32)
    torch.testing.assert_close(target(x), source(x))
    torch.testing.assert_close(pickle.loads(pickle.dumps(source))(x), source(x))


def test_repr_shows_the_hyper_parameters() -> None:
    text = repr(make("fourier2d", stride=2, padding=1, output_padding=1, groups=2, dilation=2, out_of_range="clamp"))
    for part in [
        "FourierConvolutionTranspose2d(",
        "2, 4, kernel_size=(3, 3)",
        "stride=(2, 2)",
        "padding=(1, 1)",
        "output_padding=(1, 1)",
        "dilation=(2, 2)",
        "groups=2",
        "out_of_range='clamp'",
        "FourierBasis(n=3",
    ]:
        assert part in text


def test_initial_slopes_follow_the_fan_in() -> None:
    layer = make("continuous2d", in_channels=4, kernel_size=3, stride=1, dtype=torch.float64)
    bound = math.sqrt(3 / (4 * 9))
    coefficients = layer.basis.linear_coefficients().view(1, -1, 1, 1, 1)
    slope = (layer.weight * coefficients).sum(1, keepdim=True) / (coefficients**2).sum()
    assert slope.abs().max() <= 1.1 * bound
    assert (layer.weight - slope * coefficients).abs().max() <= 0.15 * bound


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (dict(in_channels=-1), ValueError, "in_channels"),
        (dict(kernel_size=(2,)), ValueError, "kernel_size must have 2 entries"),
        (dict(stride=1.5), TypeError, "stride"),
        (dict(padding="same"), ValueError, "padding must be an int"),
        (dict(padding=-1), ValueError, "padding"),
        (dict(output_padding=1), ValueError, "output_padding must be smaller"),
        (dict(output_padding=2, stride=2), ValueError, "output_padding must be smaller"),
        (dict(groups=3), ValueError, "divisible by groups"),
        (dict(out_of_range="wrap"), ValueError, "out_of_range must be one of"),
        (dict(periodicity=-1.0), ValueError, "periodicity"),
        (dict(n=0), ValueError, "n must be"),
    ],
)
def test_bad_arguments_raise(options: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make("continuous2d", **options)


def test_only_zero_padding_mode() -> None:
    with pytest.raises(ValueError, match="padding_mode must be one of 'zeros'"):
        HighOrderConvTranspose2d(2, 3, 3, FourierBasis(1), padding_mode="reflect")
    with pytest.raises(TypeError, match="abstract"):
        HighOrderConvTransposeNd(2, 3, 3, FourierBasis(1))


@pytest.mark.parametrize(("x", "error"), [(torch.rand(1, 3, 4, 4), ValueError), ("x", TypeError)])
def test_bad_inputs_raise(x: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="input"):
        make("continuous2d")(x)
    with pytest.raises(ValueError, match="output_size must give 2"):
        make("continuous2d")(torch.rand(1, 2, 4, 4), output_size=(5,))
