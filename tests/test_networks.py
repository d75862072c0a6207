"""HighOrderMLP / high_order_mlp arguments, the residual wrapper and the conv network builders."""

from __future__ import annotations

import functools
import pickle

import pytest
import torch
from torch import nn

from high_order_layers_torch import layers
from high_order_layers_torch.layers import FC_LAYERS, MaxAbsNormalization
from high_order_layers_torch.networks import (
    HighOrderMLP,
    Residual,
    high_order_conv_decoder,
    high_order_conv_encoder,
    high_order_mlp,
)

F64 = torch.float64


def weights_per_link(layer_type: str, n: int, segments: int) -> int:
    """M computed from the definitions, independently of the layers' code."""
    return {
        "continuous": segments * (n - 1) + 1,
        "continuous_prod": segments * (n - 1) + 1,
        "discontinuous": segments * n,
        "discontinuous_prod": segments * n,
        "polynomial": n,
        "polynomial_prod": n,
        "fourier": 2 * n + 1,
        "product": 1,
    }[layer_type]


def high_order_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(getattr(m, "basis", None), layers.Basis)]


SIZES = dict(in_width=3, out_width=2, hidden_layers=2, hidden_width=4)


@pytest.mark.parametrize("layer_type", sorted(FC_LAYERS))
def test_per_layer_n_and_segments_set_parameter_counts(layer_type: str) -> None:
    net = HighOrderMLP(
        layer_type, 3, **SIZES, n_in=2, n_hidden=4, n_out=5, in_segments=1, hidden_segments=3, out_segments=2, dtype=F64
    )
    found = high_order_layers(net)
    assert len(found) == SIZES["hidden_layers"] + 2
    plan = [(3, 4, 2, 1), (4, 4, 4, 3), (4, 4, 4, 3), (4, 2, 5, 2)]  # (in, out, n, segments) per layer
    for layer, (width_in, width_out, n, segments) in zip(found, plan, strict=True):
        assert isinstance(layer, FC_LAYERS[layer_type])
        bias = width_out if layer_type == "product" else 0
        assert layer.weight.numel() == width_out * width_in * weights_per_link(layer_type, n, segments)
        assert sum(p.numel() for p in layer.parameters()) == layer.weight.numel() + bias
    total = sum(p.numel() for p in net.parameters())
    assert total == sum(sum(p.numel() for p in layer.parameters()) for layer in found)


def test_n_and_segments_defaults_apply_to_every_layer() -> None:
    net = high_order_mlp("discontinuous", 4, **SIZES, segments=3)
    assert [(m.n, m.segments) for m in high_order_layers(net)] == [(4, 3)] * 4
    assert list(dict(net.named_children())) == ["input", "hidden_0", "hidden_1", "output"]


def test_no_hidden_layers_gives_input_and_output_layers() -> None:
    net = high_order_mlp("polynomial", 3, in_width=2, out_width=1, hidden_layers=0, hidden_width=5)
    found = high_order_layers(net)
    assert [(m.in_features, m.out_features) for m in found] == [(2, 5), (5, 1)]


def test_class_and_builder_build_the_same_network() -> None:
    torch.manual_seed(1)
    a = HighOrderMLP("continuous", 3, **SIZES, dtype=F64)
    torch.manual_seed(1)
    b = high_order_mlp("continuous", 3, **SIZES, dtype=F64)
    x = torch.rand(6, 3, dtype=F64) * 2 - 1
    assert torch.equal(a(x), b(x))
    assert a.model.state_dict().keys() == b.state_dict().keys()


def test_resnet_is_an_honest_residual_and_registers_every_layer() -> None:
    plain = high_order_mlp("continuous", 3, **SIZES, dtype=F64)
    net = HighOrderMLP("continuous", 3, **SIZES, resnet=True, normalization=MaxAbsNormalization, dtype=F64)
    residuals = [m for m in net.modules() if isinstance(m, Residual)]
    assert len(residuals) == SIZES["hidden_layers"]
    # every layer's parameters are registered: same count as without the residuals
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in plain.parameters())
    assert len(list(net.parameters())) == SIZES["hidden_layers"] + 2
    x = torch.rand(5, 4, dtype=F64) * 2 - 1
    block = net.model.hidden_0
    torch.testing.assert_close(block(x), x + block.block(x), rtol=0, atol=0)
    # and they all train
    loss = net(torch.rand(8, 3, dtype=F64) * 2 - 1).pow(2).sum()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_residual_rejects_shape_changes() -> None:
    with pytest.raises(ValueError, match="keep the shape"):
        Residual(nn.Linear(3, 2))(torch.zeros(1, 3))
    with pytest.raises(TypeError, match="nn.Module"):
        Residual(lambda x: x)  # type: ignore[arg-type]


def test_dropout_modules_present_and_active_only_in_training() -> None:
    net = HighOrderMLP("continuous", 3, **SIZES, dropout=0.5, dtype=F64)
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == SIZES["hidden_layers"] + 1 and all(d.p == 0.5 for d in drops)
    assert not any(isinstance(m, nn.Dropout) for m in HighOrderMLP("continuous", 3, **SIZES).modules())
    x = torch.rand(16, 3, dtype=F64) * 2 - 1
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


def test_normalization_and_non_linearity_modules_present() -> None:
    net = HighOrderMLP(
        "continuous",
        3,
        **SIZES,
        normalization=functools.partial(nn.LayerNorm, SIZES["hidden_width"]),
        non_linearity=nn.Tanh,
        dtype=F64,
    )
    norms = [m for m in net.modules() if isinstance(m, nn.LayerNorm)]
    acts = [m for m in net.modules() if isinstance(m, nn.Tanh)]
    assert len(norms) == len(acts) == SIZES["hidden_layers"] + 1
    assert all(m.weight.dtype == F64 for m in norms)
    order = [type(m) for m in net.model.output.children()]
    assert order == [nn.LayerNorm, nn.Tanh, FC_LAYERS["continuous"]]


def test_module_instances_are_copied_not_shared() -> None:
    net = HighOrderMLP("continuous", 3, **SIZES, non_linearity=nn.PReLU())
    prelus = [m for m in net.modules() if isinstance(m, nn.PReLU)]
    assert len(prelus) == 3 and len({id(m) for m in prelus}) == 3


@pytest.mark.parametrize(
    ("option", "value", "attribute"),
    [
        ("periodicity", 3.0, "periodicity"),
        ("out_of_range", "mirror", "out_of_range"),
        ("rescale_output", True, "rescale_output"),
    ],
)
def test_layer_options_reach_every_layer(option: str, value: object, attribute: str) -> None:
    net = HighOrderMLP("continuous", 3, **SIZES, **{option: value})
    assert all(getattr(m, attribute) == value for m in high_order_layers(net))


def test_alpha_reaches_product_layers() -> None:
    net = HighOrderMLP("continuous_prod", 3, **SIZES, alpha=0.25)
    assert all(m.alpha == 0.25 and m.neuron == "product" for m in high_order_layers(net))


def test_dtype_and_meta_device() -> None:
    net = HighOrderMLP("fourier", 2, **SIZES, normalization=MaxAbsNormalization, dtype=F64)
    assert all(p.dtype == F64 for p in net.parameters())
    meta = HighOrderMLP("discontinuous", 3, **SIZES, device="meta")
    assert all(p.is_meta for p in meta.parameters())


def test_pickle_round_trip() -> None:
    net = HighOrderMLP("discontinuous", 3, **SIZES, resnet=True, normalization=MaxAbsNormalization, dtype=F64)
    x = torch.rand(4, 3, dtype=F64) * 2 - 1
    assert torch.equal(pickle.loads(pickle.dumps(net))(x), net(x))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"layer_type": "spline"}, ValueError, "unknown layer_type 'spline'; valid names: continuous"),
        ({"hidden_layers": -1}, ValueError, "hidden_layers must be an int >= 0"),
        ({"in_width": 0}, ValueError, "in_width must be an int >= 1"),
        ({"hidden_width": 2.5}, TypeError, "hidden_width must be an int"),
        ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\)"),
        ({"dropout": "high"}, TypeError, "dropout must be a number"),
        ({"resnet": 1}, TypeError, "resnet must be a bool"),
        ({"normalization": 3}, TypeError, "normalization must be a module class"),
        ({"non_linearity": lambda: torch.tanh}, TypeError, "non_linearity must produce an nn.Module"),
        ({"n_hidden": 0}, ValueError, "n must be an int >= 1"),
        ({"out_of_range": "wrap"}, ValueError, "out_of_range must be one of"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, error: type[Exception], message: str) -> None:
    arguments = {"layer_type": "continuous", "n": 3, **SIZES, **kwargs}
    with pytest.raises(error, match=message):
        HighOrderMLP(**arguments)


# ----------------------------------------------------------------------------- convolutional


def test_conv_encoder_shapes_and_structure() -> None:
    net = high_order_conv_encoder(
        "continuous2d",
        3,
        [3, 4, 6],
        [3, (3, 5)],
        segments=[2, 4],
        stride=[1, 2],
        padding=[1, 0],
        pooling=["max", None],
        normalization=nn.BatchNorm2d,
        non_linearity=nn.ReLU,
        dropout=0.1,
        dtype=F64,
    )
    x = torch.rand(2, 3, 16, 16, dtype=F64) * 2 - 1
    assert net(x).shape == (2, 6)
    assert isinstance(net.stage_0.pool, nn.MaxPool2d) and not hasattr(net.stage_1, "pool")
    assert net.stage_1.norm.num_features == 4 and isinstance(net.stage_1.act, nn.ReLU)
    assert list(dict(net.stage_0.named_children())) == ["conv", "pool"]
    assert net.stage_1.conv.kernel_size == (3, 5) and net.stage_1.conv.segments == 4
    features = high_order_conv_encoder("discontinuous1d", 2, [1, 2], 3, global_pool=None, pooling="avg")
    assert features(torch.rand(5, 1, 12) * 2 - 1).shape == (5, 2, 5)


def test_conv_decoder_shapes_and_structure() -> None:
    net = high_order_conv_decoder(
        "continuous2d",
        3,
        [5, 4, 2],
        4,
        stride=2,
        padding=1,
        normalization=nn.BatchNorm2d,
        non_linearity=nn.ReLU,
        dtype=F64,
    )
    assert net(torch.rand(3, 5, 4, 4, dtype=F64) * 2 - 1).shape == (3, 2, 16, 16)
    assert list(dict(net.stage_1.named_children())) == ["norm", "act", "conv"]
    grown = high_order_conv_decoder("polynomial1d", 3, [2, 1], 3, stride=2, output_padding=1)
    assert grown(torch.rand(1, 2, 5) * 2 - 1).shape == (1, 1, 12)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"channels": [3]}, ValueError, "channels needs at least 2 entries"),
        ({"channels": 3}, TypeError, "channels must be a sequence"),
        ({"kernel_size": [3, 3, 3]}, ValueError, "kernel_size must be a single value or a sequence of 2"),
        ({"pooling": "min"}, ValueError, "pooling must be one of 'max', 'avg' or None"),
        ({"global_pool": "sum"}, ValueError, "global_pool must be one of"),
        ({"layer_type": ["continuous2d", "continuous1d"]}, ValueError, "same spatial dimensions"),
        ({"layer_type": "continuous"}, ValueError, "unknown layer_type 'continuous'"),
        ({"dropout": -0.1}, ValueError, "dropout must be in"),
        ({"normalization": MaxAbsNormalization}, TypeError, "positional argument"),
    ],
)
def test_conv_builders_reject_bad_arguments(kwargs: dict, error: type[Exception], message: str) -> None:
    arguments = {"layer_type": "continuous2d", "n": 3, "channels": [3, 4, 5], "kernel_size": 3, **kwargs}
    with pytest.raises(error, match=message):
        high_order_conv_encoder(**arguments)
