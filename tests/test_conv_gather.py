"""Gather convolutions (``contraction="gather"``): equal to the dense expansion + convolution to
round-off over the geometry grid, differentiable to second order, refinable, and the 1x1 case
equal to the fully-connected layer at every pixel."""

from __future__ import annotations

import itertools

import pytest
import torch

from helpers import assert_close_ulps, record_cpu_kernels
from high_order_layers_torch.functional import convolution_output_size, convolution_taps
from high_order_layers_torch.kernels import _ops, conv_contraction, fused_piecewise_conv, override
from high_order_layers_torch.layers import (
    HighOrderLinear,
    PiecewisePolynomialBasis,
    high_order_convolution_layers,
    high_order_convolution_transpose_layers,
)
from high_order_layers_torch.refine import Refine, refine_

F64 = torch.float64


@pytest.fixture(params=["kernels", "reference"])
def path(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Every test runs with the C++ kernels and with the pure-torch reference."""
    with override(cpu=request.param == "kernels"):
        yield request.param


def inputs(channels: int, dims: int, size: int = 5, batch: int = 2, dtype: torch.dtype = F64) -> torch.Tensor:
    """Values over [-1.2, 1.2]: some outside [-1, 1] (the range policy), the rest on every piece."""
    generator = torch.Generator().manual_seed(dims * 10 + channels)
    return torch.rand(batch, channels, *([size] * dims), dtype=dtype, generator=generator) * 2.4 - 1.2


def roughen(layer: torch.nn.Module) -> torch.nn.Module:
    """Random weights (not the near-linear initial ones), so every weight matters."""
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.normal_()
    return layer


def dense_and_gather(layer: torch.nn.Module, x: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """Output and gradients (input, every parameter) of ``layer`` under both contractions."""
    results = []
    for contraction in ("dense", "gather"):
        layer.contraction = contraction
        xg = x.clone().requires_grad_()
        y = layer(xg)
        inputs = (xg, *layer.parameters())
        grads = torch.autograd.grad(y.square().sum(), inputs, allow_unused=True)  # constants: no input grad
        results.append((y, *(torch.zeros_like(t) if g is None else g for g, t in zip(grads, inputs, strict=True))))
    return results


CONV_GEOMETRIES = [
    dict(padding=1),
    dict(padding=1, padding_mode="reflect"),
    dict(padding="same", padding_mode="circular", dilation=2),
    dict(padding=2, padding_mode="replicate", stride=2),
    dict(stride=(2, 1, 1), dilation=(1, 2, 1), groups=2, bias=True, rescale_output=True),
]
TRANSPOSED_GEOMETRIES = [
    dict(),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(3, 1, 2), dilation=(1, 2, 1), groups=2, bias=True, rescale_output=True),
]


def sized(option: dict, dims: int) -> dict:
    """``option`` with per-dimension tuples cut to ``dims`` entries."""
    return {key: value[:dims] if isinstance(value, tuple) else value for key, value in option.items()}


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("layer_type", ["continuous", "discontinuous"])
def test_gather_equals_dense_over_the_geometry_grid(path: str, layer_type: str, dims: int) -> None:
    for option in CONV_GEOMETRIES:
        layer = roughen(
            high_order_convolution_layers(
                f"{layer_type}{dims}d", 3, 4, 6, 3, segments=5, dtype=F64, **sized(option, dims)
            )
        )
        dense, gather = dense_and_gather(layer, inputs(4, dims))
        for actual, expected in zip(gather, dense, strict=True):
            assert_close_ulps(actual, expected, ulps=64)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("layer_type", ["continuous", "discontinuous"])
def test_transposed_gather_equals_dense_over_the_geometry_grid(path: str, layer_type: str, dims: int) -> None:
    for option in TRANSPOSED_GEOMETRIES:
        layer = roughen(
            high_order_convolution_transpose_layers(
                f"{layer_type}{dims}d", 3, 4, 6, 3, segments=5, dtype=F64, **sized(option, dims)
            )
        )
        dense, gather = dense_and_gather(layer, inputs(4, dims, size=4))
        for actual, expected in zip(gather, dense, strict=True):
            assert_close_ulps(actual, expected, ulps=64)


@pytest.mark.parametrize(
    ("n", "segments", "continuous", "out_of_range"),
    [(1, 4, False, "clamp"), (2, 3, True, "extrapolate"), (5, 7, False, "mirror"), (10, 3, True, "clamp")],
)
def test_gather_equals_dense_for_every_basis_size_and_range_policy(
    path: str, n: int, segments: int, continuous: bool, out_of_range: str
) -> None:
    """Constants (n = 1), the unrolled sizes and the generic one (n = 10); every input policy."""
    layer_type = "continuous2d" if continuous else "discontinuous2d"
    layer = roughen(
        high_order_convolution_layers(layer_type, n, 3, 5, 2, segments=segments, out_of_range=out_of_range, dtype=F64)
    )
    dense, gather = dense_and_gather(layer, inputs(3, 2))
    for actual, expected in zip(gather, dense, strict=True):
        assert_close_ulps(actual, expected, ulps=64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("channels", "outputs", "batch"), [(1, 70, 3), (5, 37, 1), (16, 3, 4)])
def test_gather_handles_wide_narrow_and_single_sample_shapes(dtype: torch.dtype, channels, outputs, batch) -> None:
    """Outputs over several vector registers with a remainder, fewer channels than threads, and a
    batch of one (the work is then split over output positions)."""
    layer = roughen(
        high_order_convolution_layers("continuous2d", 3, channels, outputs, 3, segments=6, padding=1, dtype=dtype)
    )
    x = inputs(channels, 2, size=7, batch=batch, dtype=dtype)
    dense, gather = dense_and_gather(layer, x)
    for actual, expected in zip(gather, dense, strict=True):
        assert_close_ulps(actual, expected, ulps=256)


def test_gather_runs_the_conv_kernel_on_the_cpu(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    names = record_cpu_kernels(monkeypatch)
    layer = high_order_convolution_layers("continuous2d", 3, 2, 4, 3, segments=8, contraction="gather")
    layer(inputs(2, 2, dtype=torch.float32).requires_grad_()).sum().backward()
    assert {"conv_gather_forward", "conv_gather_backward"} <= names
    assert "expand_forward" not in names  # no dense expansion is formed


@pytest.mark.parametrize("transposed", [False, True])
def test_gradcheck_and_gradgradcheck(path: str, transposed: bool) -> None:
    if transposed:
        layer = high_order_convolution_transpose_layers("discontinuous2d", 3, 2, 4, 2, segments=3, stride=2)
    else:
        layer = high_order_convolution_layers("continuous2d", 3, 2, 4, 2, segments=3, padding=1, groups=2)
    layer = roughen(layer.to(F64))
    layer.contraction = "gather"
    x = (inputs(2, 2, size=3, batch=1) * 0.8).requires_grad_()  # off the joints: the links are smooth there
    torch.autograd.gradcheck(lambda a, w: torch.func.functional_call(layer, {"weight": w}, (a,)), (x, layer.weight))
    torch.autograd.gradgradcheck(lambda a, w: torch.func.functional_call(layer, {"weight": w}, (a,)), (x, layer.weight))


@pytest.mark.parametrize("transposed", [False, True])
def test_refinement_of_gather_layers_is_exact(transposed: bool) -> None:
    build = high_order_convolution_transpose_layers if transposed else high_order_convolution_layers
    layer = roughen(build("continuous2d", 3, 2, 3, 3, segments=2, contraction="gather", dtype=F64))
    x = inputs(2, 2)
    before = layer(x)
    report = refine_(layer, Refine(n=5, segments=lambda s: 2 * s))
    assert all(r.exact for r in report.values())
    assert layer.contraction == "gather" and layer.segments == 4
    assert_close_ulps(layer(x), before, ulps=256)


@pytest.mark.parametrize("layer_type", ["continuous", "discontinuous"])
def test_one_by_one_gather_conv_is_the_fully_connected_layer_at_every_pixel(path: str, layer_type: str) -> None:
    conv = roughen(high_order_convolution_layers(f"{layer_type}2d", 4, 5, 7, 1, segments=6, dtype=F64))
    conv.contraction = "gather"
    basis = PiecewisePolynomialBasis(4, 6, continuous=layer_type == "continuous", dtype=F64)
    linear = HighOrderLinear(5, 7, basis, contraction="gather", dtype=F64)
    with torch.no_grad():
        linear.weight.copy_(conv.weight[..., 0, 0])
    x = inputs(5, 2, size=4)
    pixels = linear(x.movedim(1, -1)).movedim(-1, 1)
    assert_close_ulps(conv(x), pixels, ulps=64)


def test_compiled_gather_conv_equals_eager() -> None:
    layer = roughen(high_order_convolution_layers("continuous2d", 3, 3, 4, 3, segments=8, padding=1))
    layer.contraction = "gather"
    x = inputs(3, 2, dtype=torch.float32)
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    xe, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
    eager_out, compiled_out = layer(xe), compiled(xc)
    assert_close_ulps(compiled_out, eager_out)
    eager_out.sum().backward()
    eager_grad = layer.weight.grad.clone()
    layer.weight.grad = None
    compiled_out.sum().backward()
    assert_close_ulps(layer.weight.grad, eager_grad)
    assert_close_ulps(xc.grad, xe.grad)


def test_torch_func_grad_and_jacrev_through_the_gather(path: str) -> None:
    layer = roughen(high_order_convolution_layers("discontinuous1d", 3, 2, 3, 3, segments=4, dtype=F64))
    layer.contraction = "gather"
    x = inputs(2, 1)
    params = {"weight": layer.weight.detach()}
    grads = torch.func.grad(lambda p: torch.func.functional_call(layer, p, (x,)).square().sum())(params)
    layer(x).square().sum().backward()
    assert_close_ulps(grads["weight"], layer.weight.grad, ulps=64)
    jacobian = torch.func.jacrev(layer)(x[:1])
    xg = x[:1].clone().requires_grad_()
    (total,) = torch.autograd.grad(layer(xg).sum(), xg)
    assert_close_ulps(jacobian.sum(dim=(0, 1, 2)), total, ulps=64)


def test_empty_batch_gives_empty_output_and_gradients() -> None:
    layer = high_order_convolution_layers("continuous2d", 3, 2, 4, 3, segments=8, padding=1, contraction="gather")
    x = torch.zeros(0, 2, 5, 5, requires_grad=True)
    y = layer(x)
    assert y.shape == (0, 4, 5, 5)
    y.sum().backward()
    assert x.grad.shape == x.shape and torch.equal(layer.weight.grad, torch.zeros_like(layer.weight))


def test_auto_gathers_with_many_segments_and_stays_dense_with_one(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    names = record_cpu_kernels(monkeypatch)
    many = high_order_convolution_layers("continuous2d", 3, 2, 4, 3, segments=32, padding=1)
    many(inputs(2, 2, dtype=torch.float32))
    assert "conv_gather_forward" in names
    names.clear()
    one = high_order_convolution_layers("continuous2d", 3, 2, 4, 3, segments=1, padding=1)
    one(inputs(2, 2, dtype=torch.float32))
    assert "conv_gather_forward" not in names


def test_conv_contraction_policy() -> None:
    weight = torch.zeros(4, 2, 9, 3, 3)
    geometry = ((1, 1), (0, 0), (1, 1), False, (0, 0), 1)
    options = dict(input_shape=(2, 2, 5, 5), basis=(3, 4, True), geometry=geometry)
    assert conv_contraction(3, 3, "gather", weight, **options) == "dense"  # every weight active
    assert conv_contraction(9, 3, "dense", weight, **options) == "dense"
    assert conv_contraction(65, 3, "auto", weight, **options) == "gather"  # above the timed band
    with override(autotune=False):
        assert conv_contraction(9, 3, "auto", weight, **options) == "gather"  # 3 >= CONV_GATHER_MIN_RATIO
    with override(cpu=False):
        assert conv_contraction(65, 3, "auto", weight, **options) == "dense"  # no kernel: dense
    with torch.inference_mode():
        assert conv_contraction(9, 3, "auto", weight, **options) in ("dense", "gather")  # timed once


def test_conv_contraction_on_a_gpu_follows_the_measured_ratio(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Where the FC Triton gather runs (a GPU; stood in for by the meta device), auto gathers from
    CONV_TRITON_GATHER_MIN_RATIO weights per active one and stays dense below it."""
    from high_order_layers_torch.kernels import CONV_TRITON_GATHER_MIN_RATIO, _switches

    monkeypatch.setattr(_switches, "has_kernel", lambda operator, device, dtype: operator == "piecewise_gather")
    weight = torch.zeros(4, 2, 9, 3, 3, device="meta")
    geometry = ((1, 1), (0, 0), (1, 1), False, (0, 0), 1)
    options = dict(input_shape=(2, 2, 5, 5), basis=(3, 4, True), geometry=geometry)
    active = 3
    below, at = CONV_TRITON_GATHER_MIN_RATIO * active - 1, CONV_TRITON_GATHER_MIN_RATIO * active
    assert conv_contraction(below, active, "auto", weight, **options) == "dense"
    assert conv_contraction(at, active, "auto", weight, **options) == "gather"
    assert conv_contraction(below, active, "gather", weight, **options) == "gather"  # asked for


def test_misspelt_contraction_raises() -> None:
    with pytest.raises(ValueError, match="contraction"):
        high_order_convolution_layers("continuous2d", 3, 2, 4, 3, contraction="gathered")
    layer = high_order_convolution_transpose_layers("continuous2d", 3, 2, 4, 3)
    with pytest.raises(ValueError, match="contraction"):
        layer.contraction = "sparse"


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation", "transposed", "extra"),
    [
        ((5, 6), (3, 2), (1, 2), (1, 0), (1, 2), False, (0, 0)),
        ((7,), (3,), (2,), (1,), (1,), True, (1,)),
        ((3, 4, 2), (2, 2, 1), (1, 2, 1), (0, 1, 0), (1, 1, 1), True, (0, 1, 0)),
    ],
)
def test_tap_tables_reproduce_torch_convolutions(size, kernel, stride, padding, dilation, transposed, extra) -> None:
    """A convolution written with the tap table alone equals torch's, for one channel."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, *size, dtype=F64, generator=generator)
    w = torch.randn(1, 1, *kernel, dtype=F64, generator=generator)
    expected = torch.ops.aten.convolution(x, w, None, stride, padding, dilation, transposed, extra, 1)
    taps = convolution_taps(size, kernel, stride, padding, dilation, transposed, extra).long()
    values = torch.cat([x.flatten(), x.new_zeros(1)])[torch.where(taps >= 0, taps, x.numel())]
    assert taps.shape == (expected[0, 0].numel(), w.numel())
    assert convolution_output_size(size, kernel, stride, padding, dilation, transposed, extra) == expected.shape[2:]
    assert_close_ulps((values * w.flatten()).sum(1), expected.flatten())


def test_the_entry_point_matches_aten_convolution_of_the_expansion(path: str) -> None:
    x = inputs(4, 2)
    weight = torch.randn(6, 2, 9, 3, 3, dtype=F64)
    for stride, padding, dilation in itertools.product([(1, 1), (2, 1)], [(0, 0), (1, 2)], [(1, 1), (2, 1)]):
        args = dict(stride=stride, padding=padding, dilation=dilation, groups=2, clamp=True)
        expected = _ops.conv_gather_reference(x, weight, 3, 4, True, True, list(stride), list(padding),
                                              list(dilation), False, [0, 0], 2)  # fmt: skip
        assert_close_ulps(fused_piecewise_conv(x, weight, 3, 4, True, **args), expected, ulps=64)


@pytest.mark.parametrize("transposed", [False, True])
def test_gather_through_the_fully_connected_gather_equals_the_reference(transposed: bool) -> None:
    """The route of devices with only the fully-connected gather (CUDA), run here with the CPU's."""
    from high_order_layers_torch.kernels._functions import conv_gather_by_links

    for dims, groups, stride, padding, dilation in [(1, 1, 1, 0, 1), (2, 2, 2, 1, 1), (3, 1, 1, 1, 2)]:
        x = inputs(4, dims).requires_grad_()
        shape = (4, 9, 6 // groups, *([3] * dims)) if transposed else (6, 4 // groups, 9, *([3] * dims))
        weight = torch.randn(shape, dtype=F64, requires_grad=True)
        extra = [1 if transposed and stride > 1 else 0] * dims
        args = (3, 4, True, True, [stride] * dims, [padding] * dims, [dilation] * dims, transposed, extra, groups)
        actual, expected = conv_gather_by_links(x, weight, *args), _ops.conv_gather_reference(x, weight, *args)
        grad = torch.randn_like(expected)
        assert_close_ulps(actual, expected, ulps=64)
        for a, b in zip(
            torch.autograd.grad(actual, (x, weight), grad),
            torch.autograd.grad(expected, (x, weight), grad),
            strict=True,
        ):
            assert_close_ulps(a, b, ulps=64)


def test_nan_inputs_give_nan_where_the_dense_path_does() -> None:
    """A NaN input reaches the outputs whose links read it, under both contractions alike."""
    layer = roughen(high_order_convolution_layers("continuous2d", 3, 3, 4, 3, segments=4, padding=1))
    x = inputs(3, 2, dtype=torch.float32)
    x[0, 1, 2, 2] = float("nan")
    layer.contraction = "dense"
    dense = layer(x)
    layer.contraction = "gather"
    gather = layer(x)
    assert torch.equal(dense.isnan(), gather.isnan()) and dense.isnan().any()
    assert_close_ulps(gather[~gather.isnan()], dense[~dense.isnan()], ulps=64)


def test_auto_under_compile_with_the_timed_choice() -> None:
    """Where "auto" times both contractions, the choice is a constant of the compiled graph."""
    layer = high_order_convolution_layers("continuous2d", 3, 3, 4, 3, segments=4, padding=1)
    transposed = high_order_convolution_transpose_layers("discontinuous1d", 3, 3, 4, 3, segments=6, stride=2)
    for module, x in ((layer, inputs(3, 2, dtype=torch.float32)), (transposed, inputs(3, 1, dtype=torch.float32))):
        compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
        assert_close_ulps(compiled(x), module(x))
