"""p- and h-refinement of whole models: exact where the new space contains the old one,
a reported least-squares projection elsewhere, and trainable afterwards."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from high_order_layers_torch import layers
from high_order_layers_torch.layers import MaxAbsNormalization
from high_order_layers_torch.networks import (
    HighOrderMLP,
    high_order_conv_decoder,
    high_order_conv_encoder,
    hp_refine_high_order_mlp,
    interpolate_high_order_mlp,
)
from high_order_layers_torch.refine import LayerRefinement, Refine, refine_, transfer_matrix

F64 = torch.float64
EXACT_ATOL = 1e-12


def roughen_(model: nn.Module, scale: float = 0.3) -> nn.Module:
    """Add noise to every weight so link functions are far from the (near-linear) initial ones."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * scale)
    return model


def mlp(layer_type: str, n: int = 3, segments: int = 2, **kwargs: object) -> HighOrderMLP:
    net = HighOrderMLP(
        layer_type,
        n,
        in_width=2,
        out_width=2,
        hidden_layers=1,
        hidden_width=3,
        segments=segments,
        normalization=MaxAbsNormalization,
        dtype=F64,
        **kwargs,
    )
    return roughen_(net)


def inputs(width: int = 2) -> torch.Tensor:
    """Random points in [-1, 1] plus points exactly on every joint of 2, 4 and 8 segments."""
    joints = torch.linspace(-1, 1, 17, dtype=F64)  # multiples of 1/8: exact in binary
    on_joints = torch.stack([joints, joints.flip(0)], dim=1)[:, :width]
    return torch.cat([torch.rand(64, width, dtype=F64) * 2 - 1, on_joints])


EXACT_CASES = [
    ("continuous", Refine(n=5)),
    ("continuous", Refine(segments=lambda s: 2 * s)),
    ("continuous", Refine(n=4, segments=8)),
    ("discontinuous", Refine(n=6)),
    ("discontinuous", Refine(segments=4)),
    ("discontinuous", Refine(n=4, segments=lambda s: 4 * s)),
    ("continuous_prod", Refine(n=4, segments=4)),
    ("discontinuous_prod", Refine(n=4, segments=4)),
    ("polynomial", Refine(n=7)),
    ("polynomial", Refine(segments=2)),
    ("polynomial_prod", Refine(n=5)),
    ("fourier", Refine(n=6)),
]


@pytest.mark.parametrize(("layer_type", "config"), EXACT_CASES)
def test_exact_refinement_preserves_mlp_outputs(layer_type: str, config: Refine) -> None:
    net = mlp(layer_type)
    x = inputs()
    before = net(x)
    report = refine_(net, config)
    assert set(report) == {"model.input", "model.hidden_0.layer", "model.output.layer"}
    assert all(r.exact and r.max_error < 1e-12 for r in report.values())
    torch.testing.assert_close(net(x), before, rtol=0, atol=EXACT_ATOL)
    target_n = config.n if isinstance(config.n, int) else 3
    assert all(m.n == target_n for m in net.modules() if isinstance(m, layers.HighOrderLinear))


def test_exact_h_refinement_by_three() -> None:
    """Non-power-of-two ratios are exact too (joints at thirds are not on the test inputs)."""
    for layer_type in ("continuous", "discontinuous"):
        net = mlp(layer_type, n=4)
        x = torch.rand(64, 2, dtype=F64) * 2 - 1
        before = net(x)
        assert all(r.exact for r in refine_(net, Refine(segments=lambda s: 3 * s)).values())
        assert net.model.input.segments == 6
        torch.testing.assert_close(net(x), before, rtol=0, atol=EXACT_ATOL)


def test_discontinuous_jump_on_an_old_joint_is_kept() -> None:
    layer = roughen_(layers.PiecewiseDiscontinuousPolynomial(1, 1, n=3, segments=2, dtype=F64), 1.0)
    x = torch.tensor([[-(2.0**-40)], [0.0], [2.0**-40]], dtype=F64)  # left of, on and right of the joint
    before = layer(x)
    assert (before[0] - before[1]).abs() > 1e-3 and (before[2] - before[1]).abs() < 1e-9  # a real jump
    refine_(layer, Refine(n=5, segments=8))
    torch.testing.assert_close(layer(x), before, rtol=0, atol=EXACT_ATOL)


def test_transfer_matrix_shapes_and_identity() -> None:
    basis = layers.PiecewisePolynomialBasis(4, 3)
    transfer, exact = transfer_matrix(basis, layers.PiecewisePolynomialBasis(4, 3))
    assert exact and torch.equal(transfer, torch.eye(basis.num_weights, dtype=F64))
    transfer, exact = transfer_matrix(layers.FourierBasis(2), layers.FourierBasis(4))
    assert exact and transfer.shape == (9, 5) and transfer.sum() == 5
    transfer, exact = transfer_matrix(basis, layers.PiecewisePolynomialBasis(3, 2, continuous=False))
    assert not exact and transfer.shape == (6, 10)


@pytest.mark.parametrize(
    ("layer_type", "config"),
    [
        ("continuous", Refine(n=3)),
        ("continuous", Refine(segments=3)),
        ("discontinuous", Refine(n=2, segments=1)),
        ("polynomial", Refine(n=3)),
        ("fourier", Refine(n=2)),
    ],
)
def test_least_squares_error_is_reported_and_matches_the_link_functions(layer_type: str, config: Refine) -> None:
    n = 4 if layer_type == "fourier" else 5
    layer = roughen_(layers.high_order_fc_layers(layer_type, n=n, in_features=2, out_features=3, dtype=F64), 1.0)
    old = layers.high_order_fc_layers(layer_type, n=n, in_features=2, out_features=3, dtype=F64)
    old.load_state_dict(layer.state_dict())
    report = refine_(layer, config)[""]
    assert isinstance(report, LayerRefinement) and not report.exact
    assert 1e-6 < report.max_error < 10
    # measured on a fine grid away from joints (where discontinuous functions jump)
    grid = (torch.arange(4000, dtype=F64) + 0.5) / 2000 - 1  # midpoints, never on a joint
    x = grid[:, None].expand(-1, 2)
    actual = (layer.link_functions(x) - old.link_functions(x)).abs().max().item()
    assert 0.7 * actual <= report.max_error <= 1.01 * actual


def test_least_squares_reproduces_functions_already_in_the_new_space() -> None:
    layer = roughen_(layers.PiecewiseDiscontinuousPolynomial(2, 2, n=3, segments=2, dtype=F64))
    original = layer.weight.detach().clone()
    refine_(layer, Refine(n=5, segments=6))
    report = refine_(layer, Refine(n=3, segments=2))[""]  # coarsening: least squares
    assert not report.exact and report.max_error < 1e-11
    torch.testing.assert_close(layer.weight, original, rtol=0, atol=1e-11)


def test_refined_model_trains_with_a_rebuilt_optimizer() -> None:
    net = mlp("discontinuous")
    old_parameters = list(net.parameters())
    refine_(net, Refine(n=4, segments=4))
    new_parameters = list(net.parameters())
    assert not any(p is q for p in old_parameters for q in new_parameters)  # new Parameter objects
    optimizer = torch.optim.SGD(new_parameters, lr=0.1)
    snapshot = [p.detach().clone() for p in new_parameters]
    x = torch.rand(32, 2, dtype=F64) * 2 - 1
    loss = (net(x) - x.sin()).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in new_parameters)
    optimizer.step()
    assert all(not torch.equal(p, s) for p, s in zip(new_parameters, snapshot, strict=True))
    assert (net(x) - x.sin()).pow(2).mean() < loss


def test_refined_model_trains_with_lion() -> None:
    lion = pytest.importorskip("lion_pytorch")
    net = mlp("continuous", n=2)
    refine_(net, Refine(n=4))
    optimizer = lion.Lion(net.parameters(), lr=1e-3)
    snapshot = [p.detach().clone() for p in net.parameters()]
    net(torch.rand(8, 2, dtype=F64)).sum().backward()
    optimizer.step()
    assert all(not torch.equal(p, s) for p, s in zip(net.parameters(), snapshot, strict=True))


def test_filter_fn_selects_layers() -> None:
    net = mlp("continuous")
    report = refine_(net, Refine(n=5), filter_fn=lambda module, name: name.startswith("model.output"))
    assert list(report) == ["model.output.layer"]
    assert net.model.output.layer.n == 5 and net.model.input.n == 3


def test_unchanged_and_unrefinable_layers_are_left_alone() -> None:
    net = HighOrderMLP("product", 1, in_width=2, out_width=1, hidden_layers=1, hidden_width=3)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    assert refine_(net, Refine(n=4)) == {}
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    same = mlp("continuous")
    weight = same.model.input.weight
    assert refine_(same, Refine(n=3, segments=2)) == {}
    assert same.model.input.weight is weight


def test_float32_layers_stay_float32() -> None:
    layer = layers.PiecewisePolynomial(3, 2, n=3, segments=2)
    x = torch.rand(16, 3) * 2 - 1
    before = layer(x)
    refine_(layer, Refine(n=5, segments=4))
    assert layer.weight.dtype == torch.float32 and layer.basis.nodes.dtype == torch.float32
    torch.testing.assert_close(layer(x), before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        (lambda: Refine(), ValueError, "Refine needs n, segments or both"),
        (lambda: Refine(n="4"), TypeError, "n must be an int, a callable"),
        (lambda: Refine(segments=2.0), TypeError, "segments must be an int"),
        (lambda: Refine(n=3, samples_per_piece=0), ValueError, "samples_per_piece must be an int >= 1"),
    ],
)
def test_bad_configs_raise(config, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        config()


def test_invalid_targets_raise_before_anything_changes() -> None:
    net = nn.Sequential(layers.PiecewisePolynomial(2, 2, n=3), layers.FourierSeries(2, 2, n=3))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match="layer '1' is a Fourier series, which has no segments"):
        refine_(net, Refine(segments=4))
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        refine_(net, Refine(n=0))
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    assert net[0].segments == 2
    with pytest.raises(TypeError, match="config must be a Refine"):
        refine_(net, {"n": 4})  # type: ignore[arg-type]


# ------------------------------------------------------------------ network to network (reference)


@pytest.mark.parametrize("function", [interpolate_high_order_mlp, hp_refine_high_order_mlp])
@pytest.mark.parametrize("layer_type", ["continuous", "discontinuous", "polynomial", "fourier"])
def test_reference_functions_copy_into_a_finer_network(function, layer_type: str) -> None:
    norm = functools.partial(nn.LayerNorm, 3)
    kwargs = dict(in_width=2, out_width=2, hidden_layers=1, hidden_width=3, normalization=norm, dtype=F64)
    coarse = roughen_(HighOrderMLP(layer_type, 2, segments=2, **kwargs))
    fine = HighOrderMLP(layer_type, 4, segments=1 if layer_type == "polynomial" else 4, **kwargs)
    x = inputs()
    report = function(coarse, fine)
    assert len(report) == 3 and all(r.exact for r in report.values())
    torch.testing.assert_close(fine(x), coarse(x), rtol=0, atol=EXACT_ATOL)


def test_reference_function_projects_and_reports_when_not_nested() -> None:
    kwargs = dict(in_width=2, out_width=1, hidden_layers=0, hidden_width=3, dtype=F64)
    source = roughen_(HighOrderMLP("discontinuous", 4, segments=2, **kwargs))
    target = HighOrderMLP("continuous", 3, segments=3, **kwargs)
    parameters = list(target.parameters())
    report = hp_refine_high_order_mlp(source, target)
    assert all(not r.exact and 0 < r.max_error < 10 for r in report.values())
    assert list(target.parameters()) == parameters  # copied in place: optimizers stay valid


def test_reference_functions_reject_different_architectures() -> None:
    a = HighOrderMLP("continuous", 3, in_width=2, out_width=1, hidden_layers=1, hidden_width=3)
    b = HighOrderMLP("continuous", 3, in_width=2, out_width=1, hidden_layers=2, hidden_width=3)
    c = HighOrderMLP("continuous", 3, in_width=2, out_width=1, hidden_layers=1, hidden_width=4)
    with pytest.raises(ValueError, match="network_in has 3 high-order layers but network_out has 4"):
        interpolate_high_order_mlp(a, b)
    with pytest.raises(ValueError, match="do not match: weight shapes"):
        hp_refine_high_order_mlp(a, c)


# ------------------------------------------------------------------------------ convolutional


def conv_encoder(layer_type: str, n: int = 3, segments: int = 2) -> nn.Module:
    net = high_order_conv_encoder(
        layer_type,
        n,
        [2, 3, 2],
        [3, 2],
        segments=segments,
        stride=[1, 2],
        padding=[1, 0],
        pooling=["avg", None],
        normalization=lambda channels: MaxAbsNormalization(),
        dtype=F64,
    )
    return roughen_(net)


def conv_decoder(layer_type: str, n: int = 3, segments: int = 2) -> nn.Module:
    net = high_order_conv_decoder(
        layer_type,
        n,
        [2, 3, 2],
        [2, 3],
        segments=segments,
        stride=[2, 1],
        normalization=lambda channels: MaxAbsNormalization(),
        dtype=F64,
    )
    return roughen_(net)


def images(size: int = 6) -> torch.Tensor:
    """Random pixels in [-1, 1], with one image made only of values on joints of 2, 4, 8 pieces."""
    x = torch.rand(3, 2, size, size, dtype=F64) * 2 - 1
    x[0] = torch.randint(-8, 9, (2, size, size)).to(F64) / 8
    return x


CONV_CASES = [
    ("continuous2d", Refine(n=5, segments=lambda s: 2 * s)),
    ("discontinuous2d", Refine(n=4, segments=8)),
    ("polynomial2d", Refine(n=6)),
    ("fourier2d", Refine(n=5)),
]


@pytest.mark.parametrize("build", [conv_encoder, conv_decoder])
@pytest.mark.parametrize(("layer_type", "config"), CONV_CASES)
def test_exact_refinement_preserves_conv_network_outputs(build, layer_type: str, config: Refine) -> None:
    net = build(layer_type)
    x = images()
    before = net(x)
    report = refine_(net, config)
    assert set(report) == {"stage_0.conv", "stage_1.conv"}
    assert all(r.exact and r.max_error < 1e-12 for r in report.values())
    torch.testing.assert_close(net(x), before, rtol=0, atol=EXACT_ATOL)


def test_transposed_conv_weight_is_mapped_along_its_basis_axis() -> None:
    layer = roughen_(layers.high_order_convolution_transpose_layers("discontinuous1d", 3, 2, 5, 3, dtype=F64))
    assert layer.basis_dim == 1
    refine_(layer, Refine(n=4, segments=4))
    assert layer.weight.shape == (2, 16, 5, 3)


def test_refined_conv_network_trains() -> None:
    net = conv_encoder("discontinuous2d")
    refine_(net, Refine(segments=4))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    snapshot = [p.detach().clone() for p in net.parameters()]
    net(images()).pow(2).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in net.parameters())
    optimizer.step()
    assert all(not torch.equal(p, s) for p, s in zip(net.parameters(), snapshot, strict=True))


def test_conv_networks_copy_into_finer_networks() -> None:
    coarse = conv_decoder("continuous2d", n=2, segments=2)
    fine = conv_decoder("continuous2d", n=4, segments=6)
    report = hp_refine_high_order_mlp(coarse, fine)
    assert all(r.exact for r in report.values())
    x = images()
    torch.testing.assert_close(fine(x), coarse(x), rtol=0, atol=EXACT_ATOL)
