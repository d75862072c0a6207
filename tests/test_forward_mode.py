"""Forward-mode derivatives on every layer type and path: ``torch.func.jvp``, ``jacfwd``,
``hessian`` and ``torch.autograd.forward_ad`` agree with reverse mode and with finite
differences, with the kernels on and off, gathered and dense.

Reverse mode is the oracle: it is tested against finite differences and ``gradcheck``
elsewhere. Forward and reverse mode are two code paths (the kernels run in one, the reference's
directional derivative in the other), so they agree to round-off, not bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.autograd import forward_ad
from torch.func import functional_call, hessian, jacfwd, jacrev, jvp

from helpers import assert_close_ulps, record_cpu_kernels, switch_kernels_off
from high_order_layers_torch.layers import (
    CONV_LAYERS,
    CONV_TRANSPOSE_LAYERS,
    FC_LAYERS,
    MaxAbsNormalization,
    high_order_convolution_layers,
    high_order_convolution_transpose_layers,
    high_order_fc_layers,
)
from high_order_layers_torch.layers._named import FAMILY_CONV_LAYERS, FAMILY_FC_LAYERS
from high_order_layers_torch.networks import HighOrderMLP

F64 = torch.float64
FC_TYPES = sorted({*FC_LAYERS, *FAMILY_FC_LAYERS})
CONV_TYPES = sorted(name for name in {*CONV_LAYERS, *FAMILY_CONV_LAYERS} if name.endswith("1d"))
TRANSPOSE_TYPES = sorted(name for name in CONV_TRANSPOSE_LAYERS if name.endswith("1d"))
#: the kernels on and off, and (with several segments) gathered and dense
PATHS = [("kernels", "auto"), ("kernels", "dense"), ("kernels", "gather"), ("pure-torch", "auto")]


@pytest.fixture(params=PATHS, ids=[f"{k}-{c}" for k, c in PATHS])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    kernels, contraction = request.param
    if kernels == "pure-torch":
        switch_kernels_off(monkeypatch)
    return contraction


def uniform(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=F64) * 1.9 - 0.95


def fc(layer_type: str, contraction: str, segments: int = 3) -> nn.Module:
    torch.manual_seed(0)
    layer = high_order_fc_layers(layer_type, n=3, in_features=3, out_features=2, segments=segments, dtype=F64)
    if hasattr(layer, "contraction"):
        layer.contraction = contraction
    with torch.no_grad():  # links away from the initial straight lines, so curvature shows
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return layer


def directional(f, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The reverse-mode Jacobian of ``f`` at ``x`` applied to ``v``."""
    jacobian = jacrev(f)(x)  # (*out, *in)
    return (jacobian.flatten(f(x).dim()) @ v.flatten()).reshape(f(x).shape)


@pytest.mark.parametrize("segments", [1, 3])
@pytest.mark.parametrize("layer_type", FC_TYPES)
def test_fc_layers_jvp_jacfwd_and_forward_ad_match_reverse_mode(layer_type: str, segments: int, path: str) -> None:
    layer = fc(layer_type, path, segments)
    x, v = uniform(4, 3), uniform(4, 3)
    expected = directional(layer, x, v)
    output, tangent = jvp(layer, (x,), (v,))
    assert_close_ulps(output, layer(x))
    assert_close_ulps(tangent, expected, ulps=64)
    assert_close_ulps(jacfwd(layer)(x), jacrev(layer)(x), ulps=64)
    for grad_mode in (torch.enable_grad, torch.no_grad):  # no grad: the bare-operator path
        with grad_mode(), forward_ad.dual_level():
            dual = layer(forward_ad.make_dual(x, v))
            assert_close_ulps(forward_ad.unpack_dual(dual).tangent, expected, ulps=64)


def test_forward_mode_runs_the_kernels_for_the_primal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The output of ``jvp`` comes from the kernels; only the tangent takes the reference's form."""
    names = record_cpu_kernels(monkeypatch)
    layer = fc("continuous", "gather", segments=8)
    x, v = uniform(4, 3), uniform(4, 3)
    with forward_ad.dual_level():
        tangent = forward_ad.unpack_dual(layer(forward_ad.make_dual(x, v))).tangent
    assert "gather_forward" in names
    assert_close_ulps(tangent, directional(layer, x, v), ulps=64)


@pytest.mark.parametrize("layer_type", FC_TYPES)
def test_jvp_in_the_weights_matches_reverse_mode(layer_type: str, path: str) -> None:
    layer = fc(layer_type, path)
    name, weight = next(iter(layer.named_parameters()))
    x, dw = uniform(5, 3), torch.randn_like(weight)

    def of_weight(w: torch.Tensor) -> torch.Tensor:
        return functional_call(layer, {name: w}, (x,))

    _, tangent = jvp(of_weight, (weight.detach(),), (dw,))
    assert_close_ulps(tangent, directional(of_weight, weight.detach(), dw), ulps=64)


@pytest.mark.parametrize("layer_type", FC_TYPES)
def test_hessian_of_a_high_order_mlp_on_every_layer_type(layer_type: str, path: str) -> None:
    torch.manual_seed(1)
    net = HighOrderMLP(
        layer_type, n=3, in_width=2, out_width=1, hidden_layers=1, hidden_width=3, segments=2,
        normalization=MaxAbsNormalization, dtype=F64,
    )  # fmt: skip
    for module in net.modules():
        if hasattr(module, "contraction"):
            module.contraction = path
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    x = uniform(2)

    def u(point: torch.Tensor) -> torch.Tensor:
        return net(point.unsqueeze(0)).squeeze()

    forward_over_reverse = hessian(u)(x)
    reverse_over_reverse = jacrev(jacrev(u))(x)
    assert_close_ulps(forward_over_reverse, reverse_over_reverse, ulps=256)
    assert_close_ulps(forward_over_reverse, forward_over_reverse.t(), ulps=256)
    # and against finite differences of the (reverse-mode) gradient
    step = 1e-5
    gradient = torch.func.grad(u)
    columns = [(gradient(x + step * e) - gradient(x - step * e)) / (2 * step) for e in torch.eye(2, dtype=F64)]
    torch.testing.assert_close(forward_over_reverse, torch.stack(columns, 1), rtol=1e-6, atol=1e-6)


def test_laplacian_by_forward_mode_in_a_physics_loss() -> None:
    """The torch.func idiom for a PDE residual: a Laplacian from ``jacfwd(jacrev)``, vmapped over
    collocation points, differentiated once more for the weights' gradient."""
    torch.manual_seed(2)
    net = HighOrderMLP(
        "continuous", n=4, in_width=2, out_width=1, hidden_layers=1, hidden_width=4, segments=3, dtype=F64
    )
    params = {name: p.detach() + 0.3 * torch.randn_like(p) for name, p in net.named_parameters()}
    points = uniform(6, 2)

    def u(p: dict, point: torch.Tensor) -> torch.Tensor:
        return functional_call(net, p, (point.unsqueeze(0),)).squeeze()

    def laplacian(p: dict, point: torch.Tensor) -> torch.Tensor:
        return torch.func.hessian(u, argnums=1)(p, point).diagonal().sum()

    def loss(p: dict) -> torch.Tensor:
        return torch.func.vmap(laplacian, in_dims=(None, 0))(p, points).square().mean()

    by_forward_mode = torch.func.grad(loss)(params)

    def laplacian_reverse(p: dict, point: torch.Tensor) -> torch.Tensor:
        return jacrev(jacrev(u, argnums=1), argnums=1)(p, point).diagonal().sum()

    def loss_reverse(p: dict) -> torch.Tensor:
        return torch.stack([laplacian_reverse(p, point) for point in points]).square().mean()

    by_reverse_mode = torch.func.grad(loss_reverse)(params)
    for name in params:
        assert_close_ulps(by_forward_mode[name], by_reverse_mode[name], ulps=512)


def conv(layer_type: str, contraction: str, transposed: bool) -> nn.Module:
    torch.manual_seed(3)
    build = high_order_convolution_transpose_layers if transposed else high_order_convolution_layers
    layer = build(layer_type, n=3, in_channels=2, out_channels=2, kernel_size=2, segments=3, dtype=F64)
    if hasattr(layer, "contraction"):
        layer.contraction = contraction
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return layer


CONV_CASES = [(name, False) for name in CONV_TYPES] + [(name, True) for name in TRANSPOSE_TYPES]


@pytest.mark.parametrize(("layer_type", "transposed"), CONV_CASES, ids=[f"{t}-{tr}" for t, tr in CONV_CASES])
def test_convolutions_jvp_and_jacfwd_match_reverse_mode(layer_type: str, transposed: bool, path: str) -> None:
    layer = conv(layer_type, path, transposed)
    x, v = uniform(2, 2, 5), uniform(2, 2, 5)
    _, tangent = jvp(layer, (x,), (v,))
    assert_close_ulps(tangent, directional(layer, x, v), ulps=64)
    with forward_ad.dual_level():
        dual = layer(forward_ad.make_dual(x, v))
        assert_close_ulps(forward_ad.unpack_dual(dual).tangent, tangent, ulps=64)
    assert_close_ulps(jacfwd(layer)(x[:1]), jacrev(layer)(x[:1]), ulps=64)
