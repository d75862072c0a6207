"""Every layer type on a CUDA GPU against the same layer on the CPU.

Skipped without a GPU. On one (``scripts/gpu_check.sh`` runs this file), each layer is built on the
CPU in float64, copied to the GPU, and its output and gradients (input and every parameter) are
compared with the CPU's, with tolerances scaled to the magnitude of the compared values: the two
devices evaluate the same formulas in different orders (the Triton gather, cuBLAS, the CPU
kernels or their twins), so only round-off may differ. Deterministic mode must give bit-identical
repeats, and bf16 autocast must run and stay close to float32.
"""

from __future__ import annotations

import pytest
import torch

from high_order_layers_torch.layers import (
    high_order_convolution_layers,
    high_order_convolution_transpose_layers,
    high_order_fc_layers,
)
from high_order_layers_torch.networks import HighOrderMLP

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

FC_CASES = [
    ("continuous", 1),
    ("continuous", 4),
    ("continuous", 64),
    ("discontinuous", 1),
    ("discontinuous", 4),
    ("discontinuous", 64),
    ("polynomial", 1),
    ("fourier", 1),
    ("continuous_prod", 2),
    ("discontinuous_prod", 2),
    ("polynomial_prod", 1),
    ("product", 1),
    ("chebyshev", 1),
]


def assert_close_scaled(actual: torch.Tensor, expected: torch.Tensor, ulps: float) -> None:
    """``actual`` equals ``expected`` to ``ulps`` units of round-off at the scale of ``expected``."""
    actual = actual.detach().cpu().to(expected.dtype)
    scale = expected.detach().abs().max().clamp_min(1.0)
    eps = torch.finfo(expected.dtype).eps
    torch.testing.assert_close(actual, expected.detach(), rtol=ulps * eps, atol=ulps * eps * scale)


def outputs_and_grads(module: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Output, input gradient and every parameter's gradient of ``module(x)`` against a fixed
    pseudo-random output gradient."""
    x = x.detach().clone().requires_grad_()
    y = module(x)
    grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype).to(y.device)
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(y, [x, *params], grad)
    return [y, *grads]


def compare_devices(module: torch.nn.Module, x: torch.Tensor, ulps: float) -> None:
    expected = outputs_and_grads(module, x)
    on_gpu = outputs_and_grads(module.cuda(), x.cuda())
    for got, want in zip(on_gpu, expected, strict=True):
        assert_close_scaled(got, want, ulps)


@pytest.mark.parametrize(("layer_type", "segments"), FC_CASES)
@pytest.mark.parametrize("contraction", ["auto", "dense", "gather"])
def test_fc_layer_matches_cpu(layer_type, segments, contraction):
    layer = high_order_fc_layers(layer_type, n=5, in_features=37, out_features=70, segments=segments)
    layer = layer.double()
    layer.contraction = contraction
    x = (torch.rand(300, 37, dtype=torch.float64) - 0.5) * 2.4  # some inputs beyond [-1, 1]
    compare_devices(layer, x, ulps=1e5)  # float64: about 2e-11 relative


@pytest.mark.parametrize("segments", [1, 64])
def test_fc_float32_matches_cpu(segments):
    layer = high_order_fc_layers("continuous", n=5, in_features=64, out_features=32, segments=segments)
    x = torch.rand(512, 64) * 2 - 1
    compare_devices(layer, x, ulps=2e3)  # float32: about 2e-4 relative, sums over 64 inputs


@pytest.mark.parametrize("layer_type", ["continuous2d", "discontinuous2d", "polynomial2d", "fourier2d", "chebyshev2d"])
def test_conv_layers_match_cpu(layer_type):
    conv = high_order_convolution_layers(
        layer_type, n=3, in_channels=3, out_channels=4, kernel_size=3, segments=4, padding=1
    ).double()
    compare_devices(conv, torch.rand(2, 3, 9, 9, dtype=torch.float64) * 2 - 1, ulps=1e5)


@pytest.mark.parametrize("layer_type", ["continuous1d", "discontinuous3d", "chebyshev1d"])
def test_conv_transpose_layers_match_cpu(layer_type):
    dims = 1 if layer_type.endswith("1d") else 3
    conv = high_order_convolution_transpose_layers(
        layer_type, n=3, in_channels=2, out_channels=3, kernel_size=3, segments=2, stride=2
    ).double()
    compare_devices(conv, torch.rand(2, 2, *([5] * dims), dtype=torch.float64) * 2 - 1, ulps=1e5)


def test_deterministic_mode_repeats_bit_for_bit():
    layer = high_order_fc_layers("continuous", n=5, in_features=64, out_features=32, segments=64).cuda()
    x = torch.rand(1024, 64, device="cuda") * 2 - 1
    torch.use_deterministic_algorithms(True)
    try:
        first, second = outputs_and_grads(layer, x), outputs_and_grads(layer, x)
    finally:
        torch.use_deterministic_algorithms(False)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    for got, want in zip(first, outputs_and_grads(layer, x), strict=True):  # the Triton path
        assert_close_scaled(got, want.cpu(), ulps=2e3)


@pytest.mark.parametrize("layer_type", ["continuous", "polynomial", "fourier", "continuous_prod", "chebyshev"])
def test_bf16_autocast_trains_close_to_float32(layer_type):
    net = HighOrderMLP(layer_type, n=4, in_width=16, out_width=4, hidden_layers=1, hidden_width=32, segments=8).cuda()
    x = torch.rand(256, 16, device="cuda") * 2 - 1
    reference = net(x)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = net(x)
    y.float().square().mean().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in net.parameters())
    # bf16 keeps 8 bits: a sum neuron's output is off by about 2^-8 of its terms' scale, while a
    # product neuron multiplies in_features rounded factors, whose relative errors add up (seen on
    # an H200: 0.25 of the output's range for one of 1024 outputs of 32 factors).
    tolerance = 0.15 if layer_type.endswith("_prod") else 0.05
    scale = reference.abs().max().item()
    torch.testing.assert_close(y.float(), reference, rtol=tolerance, atol=tolerance * scale)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("contraction", ["dense", "gather"])
def test_gather_convolutions_match_cpu(transposed, contraction):
    """On CUDA a gather convolution runs the fully-connected Triton gather over every input
    position's links (:func:`~high_order_layers_torch.kernels._functions.conv_gather_by_links`)."""
    build = high_order_convolution_transpose_layers if transposed else high_order_convolution_layers
    options = dict(stride=2, padding=1, output_padding=1) if transposed else dict(padding=1, groups=2)
    conv = build("continuous2d", n=3, in_channels=4, out_channels=6, kernel_size=3, segments=16, **options).double()
    conv.contraction = contraction
    compare_devices(conv, (torch.rand(2, 4, 9, 9, dtype=torch.float64) - 0.5) * 2.4, ulps=1e5)
