"""The reference project's names: LowOrderMLP, the fully-(de)convolutional network classes and the
``baseline`` fully-connected layer types."""

from __future__ import annotations

import functools
import pickle

import pytest
import torch
from torch import nn

from high_order_layers_torch.layers import (
    BASELINE_FC_LAYERS,
    CONV_LAYERS,
    CONV_TRANSPOSE_LAYERS,
    FC_LAYERS,
    LinearReLU,
    high_order_convolution_layers,
    high_order_fc_layers,
)
from high_order_layers_torch.networks import (
    HighOrderFullyConvolutionalNetwork,
    HighOrderFullyDeconvolutionalNetwork,
    HighOrderMLP,
    LowOrderMLP,
    high_order_conv_encoder,
    hp_refine_high_order_mlp,
)
from high_order_layers_torch.refine import Refine, refine_

F64 = torch.float64


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def uniform(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=F64) * 2 - 1


def assert_gradients_flow(net: nn.Module, y: torch.Tensor) -> None:
    y.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in net.parameters())


# --- baseline fully-connected layer types -------------------------------------------------------


def test_baselines_are_kept_out_of_the_high_order_registry() -> None:
    assert set(BASELINE_FC_LAYERS) == {"baseline", "baseline_relu"}
    assert not set(BASELINE_FC_LAYERS) & set(FC_LAYERS)


def test_baseline_is_a_linear_layer_ignoring_high_order_options() -> None:
    layer = high_order_fc_layers(
        layer_type="baseline", n=7, in_features=3, out_features=5, segments=4, periodicity=2.0, alpha=0.5
    )
    assert type(layer) is nn.Linear
    assert (layer.in_features, layer.out_features) == (3, 5)
    assert layer.bias is not None
    assert n_params(layer) == 3 * 5 + 5


def test_baseline_relu_is_linear_then_relu() -> None:
    layer = high_order_fc_layers(layer_type="baseline_relu", n=3, in_features=3, out_features=5, segments=2, dtype=F64)
    assert isinstance(layer, LinearReLU)
    assert (layer.in_features, layer.out_features) == (3, 5)
    x = torch.randn(4, 3, dtype=F64)
    torch.testing.assert_close(layer(x), torch.relu(x @ layer.linear.weight.T + layer.linear.bias))
    assert layer(torch.randn(3, dtype=F64)).shape == (5,)  # unbatched
    assert n_params(layer) == 3 * 5 + 5


@pytest.mark.parametrize("layer_type", sorted(BASELINE_FC_LAYERS))
def test_baseline_device_dtype_and_pickle(layer_type: str) -> None:
    layer = high_order_fc_layers(layer_type, n=3, in_features=2, out_features=3, device="cpu", dtype=F64)
    assert all(p.dtype == F64 for p in layer.parameters())
    clone = pickle.loads(pickle.dumps(layer))
    x = torch.randn(4, 2, dtype=F64)
    torch.testing.assert_close(clone(x), layer(x))


@pytest.mark.parametrize("layer_type", sorted(BASELINE_FC_LAYERS))
@pytest.mark.parametrize("bad", [0, -1])
def test_baseline_sizes_are_validated(layer_type: str, bad: int) -> None:
    with pytest.raises(ValueError, match="in_features must be an int >= 1"):
        high_order_fc_layers(layer_type, n=3, in_features=bad, out_features=3)
    with pytest.raises(ValueError, match="out_features must be an int >= 1"):
        high_order_fc_layers(layer_type, n=3, in_features=3, out_features=bad)


def test_linear_relu_validates_its_own_arguments() -> None:
    with pytest.raises(TypeError, match="in_features"):
        LinearReLU(2.0, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bias must be a bool"):
        LinearReLU(2, 3, bias=1)  # type: ignore[arg-type]
    assert LinearReLU(2, 3, bias=False).linear.bias is None


def test_unknown_fc_layer_type_lists_high_order_and_baseline_names() -> None:
    with pytest.raises(ValueError, match="unknown layer_type 'linear'") as info:
        high_order_fc_layers("linear", n=3, in_features=2, out_features=2)
    for name in [*FC_LAYERS, *BASELINE_FC_LAYERS]:
        assert name in str(info.value)


@pytest.mark.parametrize("layer_type", sorted(BASELINE_FC_LAYERS))
def test_high_order_mlp_with_a_baseline_layer_type(layer_type: str) -> None:
    net = HighOrderMLP(
        layer_type,
        n=3,
        in_width=3,
        out_width=2,
        hidden_layers=2,
        hidden_width=8,
        segments=4,
        normalization=functools.partial(nn.LayerNorm, 8),
        dtype=F64,
    )
    expected = [BASELINE_FC_LAYERS[layer_type]] * 4
    layers = [net.model.input] + [net.model[i].layer for i in range(1, 4)]
    assert [type(m) for m in layers] == expected
    assert n_params(net) == (3 * 8 + 8) + 2 * (8 * 8 + 8) + (8 * 2 + 2) + 3 * 2 * 8  # + 3 LayerNorms
    x = torch.randn(5, 3, dtype=F64)
    y = net(x)
    assert y.shape == (5, 2)
    assert_gradients_flow(net, y)


@pytest.mark.parametrize("layer_type", sorted(BASELINE_FC_LAYERS))
def test_refinement_skips_baseline_layers(layer_type: str) -> None:
    net = HighOrderMLP(layer_type, n=3, in_width=2, out_width=1, hidden_layers=1, hidden_width=4, dtype=F64)
    x = torch.randn(6, 2, dtype=F64)
    before = net(x)
    assert refine_(net, Refine(n=5, segments=4)) == {}
    torch.testing.assert_close(net(x), before)
    target = HighOrderMLP(layer_type, n=5, in_width=2, out_width=1, hidden_layers=1, hidden_width=4, dtype=F64)
    assert hp_refine_high_order_mlp(net, target) == {}  # no link functions, but every Linear copied
    torch.testing.assert_close(target(x), before)


# --- LowOrderMLP -------------------------------------------------------------------------------


def test_low_order_mlp_equals_a_manual_sequential() -> None:
    norm = functools.partial(nn.LayerNorm, 6, dtype=F64)
    net = LowOrderMLP(
        in_width=3, out_width=2, hidden_layers=2, hidden_width=6, non_linearity=nn.Tanh(), normalization=norm, dtype=F64
    )
    manual = nn.Sequential(
        nn.Linear(3, 6),
        norm(),
        nn.Tanh(),
        nn.Linear(6, 6),
        norm(),
        nn.Tanh(),
        nn.Linear(6, 6),
        norm(),
        nn.Tanh(),
        nn.Linear(6, 2),
    ).to(F64)
    assert n_params(net) == n_params(manual)
    with torch.no_grad():
        for p, q in zip(net.parameters(), manual.parameters(), strict=True):
            p.normal_()
            q.copy_(p)
    x = torch.randn(7, 3, dtype=F64)
    torch.testing.assert_close(net(x), manual(x))
    assert net(x[0]).shape == (2,)  # unbatched
    assert net(torch.randn(2, 4, 3, dtype=F64)).shape == (2, 4, 2)


def test_low_order_mlp_reference_call_patterns() -> None:
    positional = LowOrderMLP(2, 1, 3, 10, nn.ReLU())  # the reference's argument order
    assert [m for m in positional.modules() if isinstance(m, nn.Linear)][-1].out_features == 1
    assert sum(isinstance(m, nn.ReLU) for m in positional.modules()) == 4
    assert sum(isinstance(m, nn.Linear) for m in positional.modules()) == 5
    plain = LowOrderMLP(in_width=2, out_width=1, hidden_layers=0, hidden_width=4)
    assert sum(isinstance(m, nn.Linear) for m in plain.modules()) == 2
    assert n_params(plain) == (2 * 4 + 4) + (4 * 1 + 1)


def test_low_order_mlp_accepts_an_activation_class_or_instance() -> None:
    by_class = LowOrderMLP(2, 1, 1, 4, non_linearity=nn.PReLU, dtype=F64)
    by_instance = LowOrderMLP(2, 1, 1, 4, non_linearity=nn.PReLU(dtype=F64), dtype=F64)
    for net in (by_class, by_instance):
        activations = [m for m in net.modules() if isinstance(m, nn.PReLU)]
        assert len(activations) == 2
        assert activations[0].weight is not activations[1].weight  # each block its own copy


def test_low_order_mlp_gradients_flow() -> None:
    net = LowOrderMLP(3, 2, 2, 5, non_linearity=nn.Tanh(), dtype=F64)
    assert_gradients_flow(net, net(torch.randn(4, 3, dtype=F64)))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(in_width=0), ValueError, "in_width must be an int >= 1"),
        (dict(out_width=0), ValueError, "out_width must be an int >= 1"),
        (dict(hidden_width=0), ValueError, "hidden_width must be an int >= 1"),
        (dict(hidden_layers=-1), ValueError, "hidden_layers must be an int >= 0"),
        (dict(hidden_width=4.0), TypeError, "hidden_width must be an int"),
        (dict(non_linearity="relu"), TypeError, "non_linearity must be"),
        (dict(normalization=lambda: 3), TypeError, "normalization must produce an nn.Module"),
    ],
)
def test_low_order_mlp_validates_arguments(kwargs: dict, error: type[Exception], match: str) -> None:
    arguments = dict(in_width=2, out_width=1, hidden_layers=1, hidden_width=4) | kwargs
    with pytest.raises(error, match=match):
        LowOrderMLP(**arguments)


# --- HighOrderFullyConvolutionalNetwork ----------------------------------------------------------


def test_fcn_reference_call_with_lists() -> None:
    net = HighOrderFullyConvolutionalNetwork(
        layer_type=["continuous2d", "discontinuous2d", "polynomial2d"],
        n=[3, 2, 4],
        channels=[3, 4, 6, 8],
        segments=[2, 3, 1],
        kernel_size=[3, 3, 3],
        stride=[1, 2, 1],
        normalization=nn.BatchNorm2d,
        dtype=F64,
    )
    convs = [stage.conv for stage in list(net.model)[:3]]
    assert [type(c) for c in convs] == [CONV_LAYERS[k] for k in ("continuous2d", "discontinuous2d", "polynomial2d")]
    assert [c.stride for c in convs] == [(1, 1), (2, 2), (1, 1)]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [m.num_features for m in norms] == [4, 6, 8]  # one after every convolution
    assert net.output_size == 8
    x = uniform(2, 3, 16, 16)
    y = net(x)
    assert y.shape == (2, 8)
    assert_gradients_flow(net, y)


def test_fcn_equals_its_layers_composed() -> None:
    net = HighOrderFullyConvolutionalNetwork(
        "continuous2d", n=3, channels=[2, 4, 5], segments=2, kernel_size=[3, 2], normalization=nn.BatchNorm2d, dtype=F64
    )
    convs = [
        high_order_convolution_layers(
            layer_type="continuous2d", n=3, in_channels=a, out_channels=b, kernel_size=k, segments=2, dtype=F64
        )
        for a, b, k in [(2, 4, 3), (4, 5, 2)]
    ]
    manual = nn.Sequential(
        convs[0],
        nn.BatchNorm2d(4, dtype=F64),
        convs[1],
        nn.BatchNorm2d(5, dtype=F64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    assert n_params(net) == n_params(manual)
    with torch.no_grad():
        for p, q in zip(net.parameters(), manual.parameters(), strict=True):
            p.uniform_(-1, 1)
            q.copy_(p)
    x = uniform(3, 2, 9, 9)
    torch.testing.assert_close(net(x), manual(x))  # training mode: batch statistics
    net.eval(), manual.eval()
    torch.testing.assert_close(net(x), manual(x))


def test_fcn_scalars_broadcast_to_every_layer() -> None:
    net = HighOrderFullyConvolutionalNetwork(
        "fourier1d", n=2, channels=[1, 3, 4], segments=2, kernel_size=3, pooling="1d", dtype=F64
    )
    composed = high_order_conv_encoder("fourier1d", 2, [1, 3, 4], [3, 3], dtype=F64)
    assert n_params(net) == n_params(composed)
    assert [stage.conv.stride for stage in list(net.model)[:2]] == [(1,), (1,)]
    assert net(uniform(5, 1, 20)).shape == (5, 4)
    assert net(uniform(1, 20)).shape == (4,)  # unbatched
    with pytest.raises(ValueError, match="pooling='2d' does not match the layers, which are 1d"):
        HighOrderFullyConvolutionalNetwork("fourier1d", n=2, channels=[1, 3], segments=2, kernel_size=3)


def test_fcn_3d() -> None:
    net = HighOrderFullyConvolutionalNetwork(
        "polynomial3d", n=2, channels=[1, 2], segments=1, kernel_size=[2], pooling="3d", dtype=F64
    )
    assert net(uniform(2, 1, 4, 4, 4)).shape == (2, 2)


def test_fcn_without_pooling_flattens_the_feature_map() -> None:
    net = HighOrderFullyConvolutionalNetwork(
        "continuous2d", n=2, channels=[1, 3], segments=2, kernel_size=[3], pooling=None, padding=1, dtype=F64
    )
    assert net(uniform(4, 1, 5, 6)).shape == (4, 3 * 5 * 6)
    assert net(uniform(1, 5, 6)).shape == (3 * 5 * 6,)  # unbatched
    with pytest.raises(RuntimeError, match="depends on the input size"):
        net.output_size  # noqa: B018


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(kernel_size=[3, 3]), "3 layers and every per-layer list needs 3 entries; kernel_size has 2"),
        (dict(n=[3, 3, 3, 3]), "n has 4"),
        (dict(segments=[2]), "segments has 1"),
        (dict(layer_type=["continuous2d"] * 2), "layer_type has 2"),
        (dict(stride=[1, 1]), "stride has 2"),
        (dict(padding=[0, 0]), "padding has 2"),
        (dict(channels=[3]), "channels needs at least 2 entries"),
        (dict(pooling="4d"), "pooling must be one of '1d', '2d', '3d' or None"),
        (dict(layer_type="continuous"), "unknown layer_type 'continuous'"),
        (dict(layer_type=["continuous2d", "continuous1d", "continuous2d"]), "same spatial dimensions"),
    ],
)
def test_fcn_validation(kwargs: dict, match: str) -> None:
    arguments = dict(layer_type="continuous2d", n=3, channels=[3, 4, 5, 6], segments=2, kernel_size=[3, 3, 3])
    with pytest.raises(ValueError, match=match):
        HighOrderFullyConvolutionalNetwork(**(arguments | kwargs))


# --- HighOrderFullyDeconvolutionalNetwork --------------------------------------------------------


def test_fdn_reference_call_and_shapes() -> None:
    net = HighOrderFullyDeconvolutionalNetwork(
        layer_type="continuous2d",
        n=[3, 2],
        channels=[8, 4, 3],
        segments=2,
        kernel_size=[4, 4],
        stride=2,
        padding=1,
        normalization=nn.BatchNorm2d,
        dtype=F64,
    )
    assert net.in_channels == 8
    convs = [stage.conv for stage in net.model]
    assert all(type(c) is CONV_TRANSPOSE_LAYERS["continuous2d"] for c in convs)
    assert [m.num_features for m in net.modules() if isinstance(m, nn.BatchNorm2d)] == [4, 3]
    z = uniform(2, 8)
    y = net(z.view(-1, net.in_channels, 1, 1))  # the reference VAE's reshape
    assert y.shape == (2, 3, 4, 4)  # 1 -> 2 -> 4
    assert net(uniform(2, 8, 3, 3)).shape == (2, 3, 12, 12)
    assert_gradients_flow(net, y)


def test_fdn_unbatched_and_default_stride() -> None:
    net = HighOrderFullyDeconvolutionalNetwork(
        "discontinuous1d", n=2, channels=[2, 3], segments=2, kernel_size=[3], dtype=F64
    )
    assert net.model[0].conv.stride == (1,)
    assert net(uniform(2, 5)).shape == (3, 7)
    assert net(uniform(4, 2, 5)).shape == (4, 3, 7)


def test_fdn_validation() -> None:
    with pytest.raises(ValueError, match="needs 2 entries; n has 3, kernel_size has 2"):
        HighOrderFullyDeconvolutionalNetwork(
            "continuous2d", n=[3, 3, 3], channels=[4, 3, 2], segments=2, kernel_size=[3, 3]
        )
    with pytest.raises(ValueError, match="unknown layer_type"):
        HighOrderFullyDeconvolutionalNetwork("baseline", n=3, channels=[4, 3], segments=2, kernel_size=3)


def test_normalize_output_needs_a_normalization() -> None:
    with pytest.raises(ValueError, match="normalize_output=True needs a normalization"):
        high_order_conv_encoder("continuous2d", 3, [3, 4], 3, normalize_output=True)
    with pytest.raises(TypeError, match="normalize_output must be a bool"):
        high_order_conv_encoder("continuous2d", 3, [3, 4], 3, normalization=nn.BatchNorm2d, normalize_output=1)
