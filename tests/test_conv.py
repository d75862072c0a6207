"""High-order convolutions: the module contract and their mathematical invariants."""

from __future__ import annotations

import io
import math
import pickle
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from high_order_layers_torch.layers import (
    CONV_LAYERS,
    Basis,
    FourierBasis,
    HighOrderConv1d,
    HighOrderConv2d,
    HighOrderConv3d,
    HighOrderConvNd,
    HighOrderLinear,
    PiecewisePolynomialBasis,
    PiecewisePolynomialConvolution2d,
    high_order_convolution_layers,
)

FAMILIES = ("continuous", "discontinuous", "polynomial", "fourier")
LAYER_TYPES = sorted(CONV_LAYERS)
GENERIC = {1: HighOrderConv1d, 2: HighOrderConv2d, 3: HighOrderConv3d}
TORCH_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def make(layer_type: str, in_channels: int = 2, out_channels: int = 4, kernel_size=3, n: int = 3, **kw) -> nn.Module:
    kw.setdefault("segments", 3)
    return high_order_convolution_layers(
        layer_type, n=n, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, **kw
    )


def uniform(*shape: int, dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.rand(*shape, dtype=dtype) * 2 - 1


def dims_of(layer_type: str) -> int:
    return int(layer_type[-2])


def reference_link(x: Tensor, weights: Tensor, basis: Basis) -> Tensor:
    """One link's function at ``x`` by direct evaluation, independent of the layer code: the
    textbook Lagrange product through the piece's global node positions, or the Fourier sum."""
    if isinstance(basis, FourierBasis):
        k = torch.arange(1, basis.n + 1, dtype=x.dtype)
        angle = math.pi * k * x.unsqueeze(-1) / basis.length
        return (
            weights[0]
            + (weights[1 : basis.n + 1] * angle.cos()).sum(-1)
            + (weights[basis.n + 1 :] * angle.sin()).sum(-1)
        )
    n, segments = basis.n, basis.segments
    step = n - 1 if basis.continuous else n
    positions = basis.node_positions().to(x.dtype)
    piece = ((x + 1) / 2 * segments).floor().clamp(0, segments - 1).long()
    result = torch.zeros_like(x)
    for k in range(n):
        term = weights[piece * step + k]
        for j in range(n):
            if j != k:
                xj, xk = positions[piece * step + j], positions[piece * step + k]
                term = term * (x - xj) / (xk - xj)
        result = result + term
    return result


def reference_conv2d(layer: HighOrderConvNd, x: Tensor, padding: tuple[int, int]) -> Tensor:
    """Unfold the zero-padded input into patches and sum the link functions over each patch."""
    (kh, kw), groups = layer.kernel_size, layer.groups
    padded = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    patches = F.unfold(padded, (kh, kw), dilation=layer.dilation, stride=layer.stride)  # (B, C*kh*kw, L)
    batch, _, length = patches.shape
    patches = patches.view(batch, layer.in_channels, kh * kw, length)
    in_per_group, out_per_group = layer.in_channels // groups, layer.out_channels // groups
    out = x.new_zeros(batch, layer.out_channels, length)
    for o in range(layer.out_channels):
        for ci in range(in_per_group):
            c = o // out_per_group * in_per_group + ci
            for j in range(kh * kw):
                out[:, o] += reference_link(patches[:, c, j], layer.weight[o, ci, :, j // kw, j % kw], layer.basis)
    height = (padded.shape[2] - layer.dilation[0] * (kh - 1) - 1) // layer.stride[0] + 1
    return out.view(batch, layer.out_channels, height, -1)


# --------------------------------------------------------------------------- registry


def test_registry_names() -> None:
    assert set(CONV_LAYERS) == {f"{family}{d}d" for family in FAMILIES for d in (1, 2, 3)}


@pytest.mark.parametrize("name", ["continuous", "continuous4d", "Continuous2d", "product2d", None])
def test_unknown_layer_type_lists_valid_names(name: object) -> None:
    with pytest.raises(ValueError, match="continuous2d.*fourier1d|fourier1d.*continuous2d"):
        make(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_helper_builds_the_registered_class(layer_type: str) -> None:
    layer = make(layer_type, kernel_size=2, stride=1, padding=1, dilation=1, groups=2, length=3.0, periodicity=2.0)
    assert type(layer) is CONV_LAYERS[layer_type]
    assert isinstance(layer, HighOrderConvNd)
    assert layer.num_spatial_dims == dims_of(layer_type)
    assert layer.groups == 2 and layer.periodicity == 2.0


def test_helper_segments_reach_piecewise_and_are_ignored_elsewhere() -> None:
    assert make("continuous2d", segments=5).segments == 5
    assert make("discontinuous2d", segments=5).basis.num_weights == 15
    assert make("polynomial2d", segments=5).basis.num_weights == 3
    assert make("fourier2d", segments=5).basis.num_weights == 7
    assert make("fourier2d", length=3.0).basis.length == 3.0


# --------------------------------------------------------------------------- shapes


CONV_GRID = [
    dict(),
    dict(stride=2),
    dict(padding=1),
    dict(padding=(2, 0, 1)),
    dict(padding="same"),
    dict(padding="same", kernel_size=2, dilation=2),
    dict(padding="valid", stride=(1, 2, 3)),
    dict(dilation=2, padding=2, stride=2),
    dict(groups=2),
    dict(groups=4, padding=1, padding_mode="reflect"),
    dict(padding=1, padding_mode="circular", stride=3),
    dict(padding=2, padding_mode="replicate", dilation=(1, 2, 1)),
]


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("options", CONV_GRID, ids=str)
def test_output_size_matches_torch_conv(dims: int, options: dict) -> None:
    options = {k: (v[:dims] if isinstance(v, tuple) else v) for k, v in options.items()}
    kernel = options.pop("kernel_size", 3)
    reference = TORCH_CONV[dims](4, 8, kernel, **options)
    layer = GENERIC[dims](4, 8, kernel, PiecewisePolynomialBasis(2, 2), **options)
    x = uniform(2, 4, *([7, 6, 5][:dims]), dtype=torch.float32)
    assert layer(x).shape == reference(x).shape
    assert layer(x[0]).shape == reference(x[0]).shape  # unbatched input


@pytest.mark.parametrize(("kernel_size", "dilation"), [(2, 1), (4, 1), (2, 3), (4, 3)])
def test_torch_same_padding_puts_the_odd_element_after(kernel_size: int, dilation: int) -> None:
    """PyTorch's own convention, which the layers follow: total = dilation * (kernel - 1), and
    the extra element of an odd total goes after (right/bottom)."""
    x, weight = uniform(1, 1, 9), uniform(1, 1, kernel_size)
    total = dilation * (kernel_size - 1)
    explicit = F.conv1d(F.pad(x, (total // 2, total - total // 2)), weight, dilation=dilation)
    with warnings.catch_warnings():  # "may require a zero-padded copy": that copy is the point
        warnings.simplefilter("ignore", UserWarning)
        builtin = F.conv1d(x, weight, padding="same", dilation=dilation)
    torch.testing.assert_close(builtin, explicit)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "circular"])
@pytest.mark.parametrize(("kernel_size", "dilation"), [((2,), (1,)), ((4,), (3,)), ((2, 4), (3, 1)), ((3, 2), (1, 3))])
def test_same_padding_equals_explicit_padding_then_valid(kernel_size, dilation, padding_mode: str) -> None:
    """Odd totals (even kernels): the extra element goes after, as in PyTorch (test above)."""
    dims = len(kernel_size)
    options = dict(kernel_size=kernel_size, dilation=dilation, padding_mode=padding_mode, dtype=torch.float64)
    same = make(f"continuous{dims}d", padding="same", **options)
    valid = make(f"continuous{dims}d", padding="valid", **options)
    valid.load_state_dict(same.state_dict())
    x = uniform(2, 2, *[9, 8][:dims])
    pad: list[int] = []
    for k, d in reversed(list(zip(kernel_size, dilation, strict=True))):  # F.pad: last dimension first
        total = d * (k - 1)
        pad += [total // 2, total - total // 2]
    mode = {"zeros": "constant"}.get(padding_mode, padding_mode)
    y = same(x)
    assert y.shape == (2, 4, *x.shape[2:])
    torch.testing.assert_close(y, valid(F.pad(x, pad, mode=mode)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_weight_layout(layer_type: str) -> None:
    layer = make(layer_type, in_channels=4, out_channels=6, kernel_size=2, groups=2)
    dims = dims_of(layer_type)
    assert layer.basis_dim == 2 == HighOrderLinear.basis_dim
    assert layer.weight.shape == (6, 2, layer.basis.num_weights, *([2] * dims))


# --------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_one_by_one_conv_is_the_fc_layer_at_every_position(layer_type: str) -> None:
    dims = dims_of(layer_type)
    conv = make(layer_type, in_channels=3, out_channels=5, kernel_size=1, dtype=torch.float64)
    fc = HighOrderLinear(3, 5, conv.basis, out_of_range=conv.out_of_range, dtype=torch.float64)
    with torch.no_grad():
        fc.weight.copy_(conv.weight.reshape(5, 3, -1))
    x = 1.2 * uniform(2, 3, *([4, 3, 2][:dims]))  # some values beyond +-1 exercise the range policy
    expected = fc(x.movedim(1, -1)).movedim(-1, 1)
    torch.testing.assert_close(conv(x), expected)


@pytest.mark.parametrize(
    "options",
    [dict(), dict(stride=2, padding=1), dict(dilation=2, padding=(2, 1)), dict(groups=2, stride=(2, 1), padding=1)],
    ids=str,
)
@pytest.mark.parametrize("family", FAMILIES)
def test_conv2d_equals_unfold_and_sum_of_link_functions(family: str, options: dict) -> None:
    layer = make(f"{family}2d", in_channels=2, out_channels=4, kernel_size=(3, 2), dtype=torch.float64, **options)
    x = uniform(2, 2, 6, 5)
    padding = layer.padding if isinstance(layer.padding, tuple) else (0, 0)
    torch.testing.assert_close(layer(x), reference_conv2d(layer, x, padding))


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("continuous", [True, False])
def test_one_segment_piecewise_is_the_polynomial(dims: int, continuous: bool) -> None:
    name = "continuous" if continuous else "discontinuous"
    piecewise = make(f"{name}{dims}d", segments=1, kernel_size=2, padding=1, dtype=torch.float64)
    polynomial = make(f"polynomial{dims}d", kernel_size=2, padding=1, dtype=torch.float64)
    polynomial.load_state_dict(piecewise.state_dict())
    x = uniform(2, 2, *([5, 4, 3][:dims]))
    torch.testing.assert_close(piecewise(x), polynomial(x))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "zeros"])
def test_padding_mode_equals_padding_the_input(mode: str) -> None:
    padded = make("continuous2d", padding=(2, 1), padding_mode=mode, dtype=torch.float64)
    plain = make("continuous2d", dtype=torch.float64)
    plain.load_state_dict(padded.state_dict())
    x = uniform(2, 2, 6, 5)
    manual = F.pad(x, (1, 1, 2, 2), mode="constant" if mode == "zeros" else mode)
    torch.testing.assert_close(padded(x), plain(manual))


def test_zero_padding_is_a_zero_input_through_the_link_functions() -> None:
    layer = make("fourier1d", kernel_size=1, padding=1, dtype=torch.float64)
    x = uniform(1, 2, 3)
    y = layer(x)
    at_zero = layer(torch.zeros(1, 2, 1, dtype=torch.float64))[..., 0]  # f(0) summed over the links
    assert not torch.allclose(at_zero, torch.zeros_like(at_zero))
    torch.testing.assert_close(y[..., 0], at_zero)
    torch.testing.assert_close(y[..., -1], at_zero)


@pytest.mark.parametrize("layer_type", ["continuous1d", "polynomial2d", "fourier3d"])
@pytest.mark.parametrize("groups", [1, 2])
def test_rescale_output_divides_by_links_per_output(layer_type: str, groups: int) -> None:
    dims = dims_of(layer_type)
    plain = make(layer_type, in_channels=4, kernel_size=(3, 2, 2)[:dims], groups=groups, padding=1, bias=True)
    scaled = make(
        layer_type,
        in_channels=4,
        kernel_size=(3, 2, 2)[:dims],
        groups=groups,
        padding=1,
        bias=True,
        rescale_output=True,
    )
    with torch.no_grad():
        plain.bias.uniform_()
    scaled.load_state_dict(plain.state_dict())
    count = 4 // groups * math.prod((3, 2, 2)[:dims])
    assert scaled.links_per_output == count
    x = uniform(2, 4, *([5, 4, 3][:dims]), dtype=torch.float32)
    bias = plain.bias.view(-1, *([1] * dims))
    torch.testing.assert_close(scaled(x) - bias, (plain(x) - bias) / count)


def test_bias_is_added_per_output_channel() -> None:
    with_bias = make("continuous2d", bias=True)
    without = make("continuous2d")
    without.load_state_dict({k: v for k, v in with_bias.state_dict().items() if k != "bias"})
    with torch.no_grad():
        with_bias.bias.copy_(torch.arange(4.0))
    x = uniform(2, 2, 5, 5, dtype=torch.float32)
    torch.testing.assert_close(with_bias(x), without(x) + torch.arange(4.0).view(-1, 1, 1))


def test_out_of_range_policies_and_periodicity_act_on_the_input() -> None:
    clamp = make("continuous2d", padding=1, dtype=torch.float64)

    def same_weights(**options: object) -> nn.Module:
        layer = make("continuous2d", padding=1, dtype=torch.float64, **options)
        layer.load_state_dict(clamp.state_dict())
        return layer

    x = 2.5 * uniform(2, 2, 5, 5)
    torch.testing.assert_close(clamp(x), clamp(x.clamp(-1, 1)))
    inside = uniform(2, 2, 5, 5)
    torch.testing.assert_close(same_weights(out_of_range="extrapolate")(inside), clamp(inside))
    assert not torch.allclose(same_weights(out_of_range="extrapolate")(x), clamp(x))
    folded = torch.where(x > 1, 2 - x, torch.where(x < -1, -2 - x, x))  # |x| < 3: a single reflection
    torch.testing.assert_close(same_weights(out_of_range="mirror")(x), clamp(folded))
    y = 1.4 * uniform(2, 2, 5, 5)
    folded = torch.where(y > 0.5, 1 - y, torch.where(y < -0.5, -1 - y, y))  # fold at +-0.5
    torch.testing.assert_close(same_weights(periodicity=1.0)(y), clamp(folded))
    error = same_weights(out_of_range="error")
    error(inside)
    with pytest.raises(ValueError, match="outside"):
        error(x)


# --------------------------------------------------------------------------- gradients


def _gradcheck(layer: nn.Module, x: Tensor) -> bool:
    names = [name for name, _ in layer.named_parameters()]

    def call(inputs: Tensor, *params: Tensor) -> Tensor:
        return torch.func.functional_call(layer, dict(zip(names, params, strict=True)), (inputs,))

    return torch.autograd.gradcheck(call, (x.requires_grad_(), *layer.parameters()))


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_gradcheck_float64(layer_type: str) -> None:
    dims = dims_of(layer_type)
    channels = 2 if dims < 3 else 1  # float64 conv3d is slow on CPU: keep the 3-d case tiny
    layer = make(layer_type, channels, 2, kernel_size=2, n=2, segments=3, padding=1, bias=True, dtype=torch.float64)
    assert _gradcheck(layer, 0.9 * uniform(1, channels, *([4, 3, 2][:dims])))


# --------------------------------------------------------------------------- module contract


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_placement(layer_type: str, dtype: torch.dtype) -> None:
    layer = make(layer_type, dtype=dtype, bias=True)
    assert all(t.dtype == dtype for t in [*layer.parameters(), *layer.buffers()] if t.is_floating_point())
    assert layer(uniform(1, 2, *([5] * dims_of(layer_type)), dtype=dtype)).dtype == dtype


def test_to_moves_buffers_and_parameters() -> None:
    layer = make("continuous2d").to(torch.float64)
    assert all(t.dtype == torch.float64 for t in [*layer.parameters(), *layer.buffers()] if t.is_floating_point())
    assert layer(uniform(1, 2, 5, 5)).dtype == torch.float64


def test_meta_device_construction() -> None:
    layer = make("continuous2d", device="meta")
    assert layer.weight.is_meta and layer.basis.nodes.is_meta
    assert layer(torch.empty(1, 2, 5, 5, device="meta")).shape == (1, 4, 3, 3)


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_state_dict_round_trip(layer_type: str) -> None:
    source = make(layer_type, bias=True)
    target = make(layer_type, bias=True)
    target.load_state_dict(source.state_dict())
    assert set(source.state_dict()) == {"weight", "bias"}  # nodes/frequencies are not persistent
    x = uniform(1, 2, *([5] * dims_of(layer_type)), dtype=torch.float32)
    torch.testing.assert_close(target(x), source(x))
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    buffer.seek(0)
    target.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(target(x), source(x))


@pytest.mark.parametrize("layer_type", ["continuous2d", "fourier1d", "discontinuous3d"])
def test_pickle_round_trip(layer_type: str) -> None:
    layer = make(layer_type, padding=1, rescale_output=True)
    clone = pickle.loads(pickle.dumps(layer))
    x = uniform(1, 2, *([4] * dims_of(layer_type)), dtype=torch.float32)
    torch.testing.assert_close(clone(x), layer(x))


def test_repr_shows_the_hyper_parameters() -> None:
    text = repr(
        make(
            "continuous2d",
            stride=2,
            padding=1,
            padding_mode="reflect",
            groups=2,
            rescale_output=True,
            out_of_range="mirror",
            periodicity=3.0,
        )
    )
    for part in [
        "PiecewisePolynomialConvolution2d(",
        "2, 4, kernel_size=(3, 3)",
        "stride=(2, 2)",
        "padding=(1, 1)",
        "groups=2",
        "padding_mode='reflect'",
        "rescale_output=True",
        "out_of_range='mirror'",
        "periodicity=3.0",
        "n=3, segments=3, continuous=True",
    ]:
        assert part in text
    plain = repr(make("fourier1d"))
    assert "out_of_range" not in plain and "padding" not in plain and "FourierBasis(n=3" in plain


def test_reset_parameters_gives_near_linear_link_functions() -> None:
    layer = make("continuous2d", in_channels=3, kernel_size=3, n=4, segments=2, dtype=torch.float64)
    bound = math.sqrt(3 / (3 * 9))
    coefficients = layer.basis.linear_coefficients().view(1, 1, -1, 1, 1)
    slope = (layer.weight * coefficients).sum(2, keepdim=True) / (coefficients**2).sum()
    assert slope.abs().max() <= 1.1 * bound
    assert (layer.weight - slope * coefficients).abs().max() <= 0.1 * bound * 1.5
    before = layer.weight.detach().clone()
    layer.reset_parameters()
    assert not torch.equal(before, layer.weight)


def test_generic_layer_takes_any_basis_and_nd_base_is_abstract() -> None:
    layer = HighOrderConv1d(2, 3, 2, FourierBasis(2, length=4.0), padding="same", dilation=3)
    assert layer(uniform(2, 2, 9, dtype=torch.float32)).shape == (2, 3, 9)
    with pytest.raises(TypeError, match="abstract"):
        HighOrderConvNd(2, 3, 2, FourierBasis(2))
    subclass = PiecewisePolynomialConvolution2d(2, 3, (1, 3), n=2, segments=4, stride=(1, 2))
    assert subclass.weight.shape == (3, 2, 5, 1, 3)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (dict(in_channels=0), ValueError, "in_channels"),
        (dict(out_channels=2.0), TypeError, "out_channels"),
        (dict(kernel_size=0), ValueError, "kernel_size"),
        (dict(kernel_size=(3, 3, 3)), ValueError, "kernel_size must have 2 entries"),
        (dict(kernel_size="3"), TypeError, "kernel_size"),
        (dict(stride=0), ValueError, "stride"),
        (dict(dilation=(1, 0)), ValueError, "dilation"),
        (dict(padding=-1), ValueError, "padding"),
        (dict(padding="full"), ValueError, "padding must be one of"),
        (dict(padding="same", stride=2), ValueError, "same"),
        (dict(groups=3), ValueError, "divisible by groups"),
        (dict(groups=0), ValueError, "groups"),
        (dict(padding_mode="mirror"), ValueError, "padding_mode must be one of"),
        (dict(out_of_range="wrap"), ValueError, "out_of_range must be one of"),
        (dict(periodicity=0.0), ValueError, "periodicity"),
        (dict(n=0), ValueError, "n must be"),
        (dict(segments=0), ValueError, "segments"),
        (dict(bias=True, length=-1.0), None, None),
    ],
)
def test_bad_arguments_raise(options: dict, error: type[Exception] | None, match: str | None) -> None:
    if error is None:  # length is ignored by the piecewise family
        make("continuous2d", **options)
        with pytest.raises(ValueError, match="length"):
            make("fourier2d", **options)
        return
    with pytest.raises(error, match=match):
        make("continuous2d", **options)


def test_non_basis_rejected() -> None:
    with pytest.raises(TypeError, match="Basis"):
        HighOrderConv2d(2, 3, 3, nn.Identity())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "error"),
    [
        (torch.rand(1, 3, 5, 5), ValueError),  # wrong channel count
        (torch.rand(2, 5), ValueError),  # 1-d input to a 2-d layer
        (torch.rand(1, 1, 2, 5, 5), ValueError),  # 3-d input to a 2-d layer
        ([[0.0]], TypeError),
    ],
)
def test_bad_inputs_raise(x: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="input"):
        make("continuous2d")(x)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize(("layer_type", "segments"), [("continuous2d", 4), ("polynomial2d", 1), ("fourier2d", 1)])
def test_empty_batch_gives_empty_output_and_gradient(layer_type, segments, transposed) -> None:
    from high_order_layers_torch.layers import high_order_convolution_transpose_layers

    build = high_order_convolution_transpose_layers if transposed else high_order_convolution_layers
    layer = build(layer_type, n=3, in_channels=2, out_channels=3, kernel_size=3, segments=segments)
    x = torch.rand(0, 2, 6, 6, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert y.shape[:2] == (0, 3) and x.grad.shape == x.shape
