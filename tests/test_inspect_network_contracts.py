"""Contracts of the inspect tools and network builders on edge inputs: unbatched and empty
batches, meta-device models, modules that are not high-order layers, and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from high_order_layers_torch.inspect import (
    FourierExport,
    PiecewisePolynomialExport,
    evaluate_link,
    evaluate_links,
    export_link,
    high_order_modules,
    lagrange_monomial_matrix,
    link_scores,
    link_shape,
    link_weights,
    plot_links,
    plot_model,
    prune_links_,
)
from high_order_layers_torch.layers import (
    FourierSeries,
    PiecewisePolynomial,
    PiecewisePolynomialBasis,
)
from high_order_layers_torch.layers._conv import HighOrderConv1d, HighOrderConv2d, HighOrderConv3d
from high_order_layers_torch.layers._conv_transpose import HighOrderConvTranspose2d
from high_order_layers_torch.networks import (
    HighOrderMLP,
    high_order_conv_decoder,
    high_order_conv_encoder,
    high_order_mlp,
)

F64 = torch.float64


def basis() -> PiecewisePolynomialBasis:
    return PiecewisePolynomialBasis(3, 2)


@pytest.fixture
def agg() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def assert_same_params(before: dict[str, torch.Tensor], model: nn.Module) -> None:
    after = params(model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)


# Unbatched inputs: (C, *spatial). The channel count equals a spatial size on purpose, the case
# where reading the unbatched input as a batch would run silently with wrong axes.
CONVS = [
    pytest.param(lambda: HighOrderConv1d(3, 2, 2, basis(), dtype=F64), (3, 7), id="conv1d"),
    pytest.param(lambda: HighOrderConv2d(3, 2, 2, basis(), dtype=F64), (3, 3, 5), id="conv2d"),
    pytest.param(lambda: HighOrderConv3d(2, 2, 2, basis(), dtype=F64), (2, 2, 3, 4), id="conv3d"),
    pytest.param(
        lambda: HighOrderConvTranspose2d(3, 2, 2, basis(), dtype=F64),
        (3, 3, 4),
        id="conv_transpose2d",
    ),
]


@pytest.mark.parametrize("measure", ["std", "range"])
@pytest.mark.parametrize(("make", "shape"), CONVS)
def test_link_scores_of_unbatched_conv_input_equal_the_batch_of_one(make, shape, measure) -> None:
    layer = make()
    x = torch.rand(shape, dtype=F64) * 2 - 1
    assert layer(x).shape == layer(x[None]).shape[1:]  # the layer itself takes unbatched input
    unbatched, batched = link_scores(layer, x, measure=measure), link_scores(layer, x[None], measure=measure)
    assert unbatched[""].shape == link_shape(layer)
    assert torch.isfinite(unbatched[""]).all()
    assert torch.allclose(unbatched[""], batched[""], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("make", "shape"), CONVS)
def test_prune_of_unbatched_conv_input_matches_the_batch_of_one(make, shape) -> None:
    x = torch.rand(shape, dtype=F64) * 2 - 1
    unbatched_layer, batched_layer = make(), make()
    batched_layer.load_state_dict(unbatched_layer.state_dict())
    _, unbatched = prune_links_(unbatched_layer, x, fraction=0.5)
    _, batched = prune_links_(batched_layer, x[None], fraction=0.5)
    assert len(unbatched) == math.floor(0.5 * math.prod(link_shape(unbatched_layer)))
    assert unbatched.as_tuples() == batched.as_tuples()
    assert torch.equal(unbatched_layer.weight, batched_layer.weight)


EMPTY = [
    pytest.param(lambda: PiecewisePolynomial(3, 2, n=3, segments=2, dtype=F64), (0, 3), id="fc"),
    pytest.param(lambda: HighOrderConv2d(3, 2, 2, basis(), dtype=F64), (0, 3, 4, 4), id="conv2d"),
]


@pytest.mark.parametrize(("make", "shape"), EMPTY)
def test_empty_batch_raises_a_clear_error_and_changes_nothing(make, shape) -> None:
    layer = make()
    empty = torch.empty(shape, dtype=F64)
    assert layer(empty).shape[0] == 0  # the layer accepts it
    with pytest.raises(ValueError, match="at least one sample"):
        link_scores(layer, empty)
    with pytest.raises(ValueError, match="at least one sample"):
        link_scores(layer, [empty, (empty, None)])
    before = params(layer)
    with pytest.raises(ValueError, match="at least one sample"):
        prune_links_(layer, empty, fraction=0.5)
    assert_same_params(before, layer)


@pytest.mark.parametrize(("make", "shape"), EMPTY)
def test_empty_batches_among_others_are_skipped(make, shape) -> None:
    layer = make()
    x = torch.rand(5, *shape[1:], dtype=F64) * 2 - 1
    empty = torch.empty(shape, dtype=F64)
    for measure in ("std", "range"):
        alone = link_scores(layer, x, measure=measure)[""]
        mixed = link_scores(layer, [empty, x[:2], empty, x[2:]], measure=measure)[""]
        assert torch.allclose(alone, mixed, rtol=1e-12, atol=1e-12)


# Network builders: an unbatched input gives the unbatched output, equal to the batch of one.
NETWORKS = [
    pytest.param(lambda: high_order_conv_encoder("continuous2d", 3, [3, 4, 5], 2), (3, 3, 6), (5,), id="encoder2d"),
    pytest.param(
        lambda: high_order_conv_encoder("fourier1d", 2, [2, 4], 3, global_pool="max"), (2, 9), (4,), id="encoder1d_max"
    ),
    pytest.param(lambda: high_order_conv_encoder("polynomial3d", 2, [2, 3], 2), (2, 3, 3, 3), (3,), id="encoder3d_avg"),
    pytest.param(
        lambda: high_order_conv_encoder("continuous2d", 3, [3, 4], 2, global_pool=None),
        (3, 5, 5),
        (4, 4, 4),
        id="encoder_no_pool",
    ),
    pytest.param(
        lambda: high_order_conv_decoder("continuous2d", 3, [4, 3, 2], 2, stride=2), (4, 2, 2), (2, 8, 8), id="decoder"
    ),
    pytest.param(lambda: high_order_mlp("continuous", 3, 2, 3, 1, 4, resnet=True), (2,), (3,), id="mlp"),
    pytest.param(lambda: HighOrderMLP("fourier", 2, 2, 1, 0, 4), (2,), (1,), id="HighOrderMLP"),
]


@pytest.mark.parametrize(("make", "in_shape", "out_shape"), NETWORKS)
def test_networks_take_unbatched_input(make, in_shape, out_shape) -> None:
    net = make().double().eval()
    x = torch.rand(in_shape, dtype=F64) * 2 - 1
    unbatched = net(x)
    assert unbatched.shape == out_shape
    assert net(x[None]).shape == (1, *out_shape)
    assert torch.allclose(unbatched, net(x[None])[0], rtol=1e-12, atol=1e-12)
    assert net(torch.stack([x, x, x])).shape == (3, *out_shape)


def test_encoder_flatten_keeps_batched_output() -> None:
    net = high_order_conv_encoder("continuous2d", 3, [3, 8, 16], 3, stride=[1, 2], pooling=["max", None])
    assert net(torch.rand(2, 3, 32, 32) * 2 - 1).shape == (2, 16)
    assert net(torch.rand(3, 32, 32) * 2 - 1).shape == (16,)


# Meta-device models: no values exist, so tools that need them say how to get them.
def meta_layer() -> nn.Module:
    return PiecewisePolynomial(2, 3, n=3, segments=2).to("meta")


META = "meta device and holds no values; materialise the model first with model.to_empty"


def test_export_link_of_a_meta_layer_says_how_to_materialise() -> None:
    with pytest.raises(ValueError, match=META):
        export_link(meta_layer(), (0, 0))


def test_plots_of_a_meta_layer_say_how_to_materialise(agg) -> None:
    with pytest.raises(ValueError, match=META):
        plot_links(meta_layer(), [(0, 0)])
    with pytest.raises(ValueError, match=META):
        plot_model(nn.Sequential(meta_layer()))


def test_scores_and_pruning_of_a_meta_model_say_how_to_materialise() -> None:
    with pytest.raises(ValueError, match=META):
        link_scores(meta_layer(), torch.rand(4, 2, device="meta"))
    with pytest.raises(ValueError, match=META):
        prune_links_(meta_layer(), torch.rand(4, 2, device="meta"), fraction=0.5)


def test_materialised_meta_layer_exports() -> None:
    reference = PiecewisePolynomial(2, 3, n=3, segments=2, dtype=F64)
    layer = meta_layer().to_empty(device="cpu").double()
    layer.load_state_dict(reference.state_dict())
    x = torch.linspace(-1, 1, 7, dtype=F64)
    assert torch.allclose(export_link(layer, (1, 0))(x), evaluate_link(reference, (1, 0), x), atol=1e-12)


# Modules that are not high-order layers: a TypeError naming the accepted types and the received one.
ACCEPTED = r"needs a high-order layer: HighOrderLinear, HighOrderConvNd or HighOrderConvTransposeNd.*; got Linear"


def test_plot_links_of_a_plain_layer_raises_type_error(agg) -> None:
    with pytest.raises(TypeError, match=ACCEPTED):
        plot_links(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="got int"):
        plot_links(3)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda m: export_link(m, (0, 0)), id="export_link"),
        pytest.param(lambda m: link_shape(m), id="link_shape"),
        pytest.param(lambda m: link_weights(m, (0, 0)), id="link_weights"),
        pytest.param(lambda m: evaluate_link(m, (0, 0), torch.zeros(3)), id="evaluate_link"),
        pytest.param(lambda m: evaluate_links(m, torch.zeros(3)), id="evaluate_links"),
    ],
)
def test_single_layer_tools_reject_a_plain_layer(call) -> None:
    with pytest.raises(TypeError, match=ACCEPTED):
        call(nn.Linear(2, 2))


def test_model_tools_without_a_high_order_layer_name_the_accepted_layers() -> None:
    # a model is any module; one without a high-order layer is a wrong value (ValueError)
    with pytest.raises(ValueError, match=r"Linear contains no high-order layer; accepted layers: HighOrderLinear"):
        link_scores(nn.Linear(2, 2), torch.rand(4, 2))
    with pytest.raises(ValueError, match="no high-order layer"):
        prune_links_(nn.Linear(2, 2), torch.rand(4, 2), fraction=0.5)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: link_scores("model", torch.rand(4, 2)), id="link_scores"),
        pytest.param(lambda: prune_links_(None, torch.rand(4, 2), fraction=0.5), id="prune_links_"),
        pytest.param(lambda: high_order_modules(3), id="high_order_modules"),
    ],
)
def test_model_tools_reject_a_non_module(call) -> None:
    with pytest.raises(TypeError, match="needs an nn.Module containing high-order layers; got"):
        call()


@pytest.mark.parametrize("data", [None, 3, 2.5])
def test_link_scores_rejects_data_that_is_not_batches(data) -> None:
    with pytest.raises(TypeError, match="data must be a Tensor or an iterable of batches.*got"):
        link_scores(PiecewisePolynomial(2, 1, n=2), data)


def test_reapply_rejects_a_non_module() -> None:
    layer = PiecewisePolynomial(2, 2, n=3, dtype=F64)
    _, report = prune_links_(layer, torch.rand(8, 2, dtype=F64), fraction=0.5)
    with pytest.raises(TypeError, match="reapply_ needs an nn.Module"):
        report.reapply_("layer")


# Argument checks of the plotting functions.
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_outputs": 0}, ValueError, "max_outputs must be an int >= 1, got 0"),
        ({"max_outputs": 1.5}, TypeError, r"max_outputs must be an int >= 1, got 1\.5"),
        ({"max_inputs": -2}, ValueError, "max_inputs must be an int >= 1, got -2"),
        ({"max_inputs": True}, TypeError, "max_inputs must be an int >= 1, got True"),
        ({"num_points": 1}, ValueError, "num_points must be an int >= 2, got 1"),
        ({"num_points": 0}, ValueError, "num_points must be an int >= 2, got 0"),
        ({"dpi": 0}, ValueError, "dpi must be a positive finite number, got 0"),
        ({"dpi": "high"}, TypeError, "dpi must be a positive finite number, got 'high'"),
        ({"panel_size": (0, 1)}, ValueError, r"panel_size must be a pair of positive finite numbers, got \(0, 1\)"),
        ({"panel_size": 3}, TypeError, r"panel_size must be a pair \(width, height\) of numbers in inches, got 3"),
        ({"margin": math.inf}, ValueError, "margin must be a finite number >= 0, got inf"),
    ],
)
def test_plot_model_rejects_bad_sizes(agg, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        plot_model(PiecewisePolynomial(2, 2, n=3, dtype=F64), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_points": 0}, ValueError, "num_points must be an int >= 2, got 0"),
        ({"num_points": 10.0}, TypeError, r"num_points must be an int >= 2, got 10\.0"),
        ({"ncols": 0}, ValueError, "ncols must be an int >= 1, got 0"),
        ({"dpi": -1}, ValueError, "dpi must be a positive finite number, got -1"),
        ({"panel_size": (1.0, -1.0)}, ValueError, "panel_size must be a pair of positive finite numbers"),
        ({"panel_size": (1.0,)}, TypeError, r"panel_size must be a pair \(width, height\)"),
        ({"show_nodes": "yes"}, TypeError, "show_nodes must be a bool, got 'yes'"),
        ({"target": 3}, TypeError, "target must be a callable f.*got int"),
        ({"target": "sin"}, TypeError, "target must be a callable f.*got str"),
        ({"target": [torch.sin, 2]}, TypeError, "target must be a callable f.*got int"),
        ({"samples": torch.rand(3)}, TypeError, r"samples must be a pair \(x, y\)"),
        ({"samples": (torch.rand(3), torch.rand(4))}, ValueError, "as many x as y values, got 3 and 4"),
        ({"samples": (torch.rand(3), "abc")}, TypeError, r"samples\[1\] \(y\) must be a Tensor or a sequence"),
    ],
)
def test_plot_links_rejects_bad_arguments(agg, kwargs, error, message) -> None:
    layer = PiecewisePolynomial(1, 2, n=3, dtype=F64)
    with pytest.raises(error, match=message):
        plot_links(layer, **kwargs)


def test_plot_links_rejects_an_ax_that_is_not_axes(agg) -> None:
    layer = PiecewisePolynomial(1, 1, n=3, dtype=F64)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes .*got int"):
        plot_links(layer, ax=3)


def test_plot_links_accepts_samples_as_a_two_row_tensor(agg) -> None:
    layer = PiecewisePolynomial(1, 1, n=3, dtype=F64)
    figure = plot_links(layer, samples=torch.rand(2, 10, dtype=F64))
    (data,) = [artist for artist in figure.axes[0].get_lines() if artist.get_label() == "data"]
    assert len(data.get_xdata()) == 10


def test_plot_links_rejects_target_returning_non_numbers(agg) -> None:
    layer = PiecewisePolynomial(1, 1, n=3, dtype=F64)
    with pytest.raises(TypeError, match="the value target returns must be a Tensor or a sequence of numbers"):
        plot_links(layer, target=lambda x: ["a"] * x.numel())


# Argument checks of the link and export functions.
def test_evaluate_links_rejects_bad_inputs() -> None:
    layer = PiecewisePolynomial(2, 3, n=3, dtype=F64)
    with pytest.raises(TypeError, match="x must be a Tensor of shape"):
        evaluate_links(layer, [0.0, 0.5])
    with pytest.raises(ValueError, match=r"x must have shape \(N,\), got \(2, 2\)"):
        evaluate_links(layer, torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="at least one link"):
        evaluate_links(layer, torch.zeros(2, dtype=F64), [])
    with pytest.raises(ValueError, match="sequence of link tuples"):
        evaluate_links(layer, torch.zeros(2, dtype=F64), (0, 1))
    with pytest.raises(TypeError, match="x must be a Tensor, got float"):
        evaluate_link(layer, (0, 0), 0.5)


def test_export_precision_must_be_a_non_negative_int() -> None:
    exported = export_link(PiecewisePolynomial(1, 1, n=3, segments=2, dtype=F64), (0, 0))
    with pytest.raises(ValueError, match="precision must be an int >= 0, got -1"):
        exported.to_table(-1)
    with pytest.raises(TypeError, match=r"precision must be an int >= 0, got 2\.5"):
        str(exported.to_table(2.5))
    fourier = export_link(FourierSeries(1, 1, n=2, dtype=F64), (0, 0))
    assert isinstance(fourier, FourierExport)
    with pytest.raises(ValueError, match="precision must be an int >= 0, got -3"):
        fourier.to_string(-3)


def test_lagrange_monomial_matrix_rejects_bad_nodes() -> None:
    with pytest.raises(TypeError, match=r"nodes must be a Tensor of shape \(n,\), got list"):
        lagrange_monomial_matrix([-1.0, 1.0])
    with pytest.raises(ValueError, match=r"nodes must have shape \(n,\) with n >= 1, got \(2, 2\)"):
        lagrange_monomial_matrix(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"nodes must have shape \(n,\) with n >= 1, got \(0,\)"):
        lagrange_monomial_matrix(torch.zeros(0))
    with pytest.raises(ValueError, match="nodes must be distinct"):
        lagrange_monomial_matrix(torch.tensor([-1.0, 0.0, 0.0]))


def test_export_classes_reject_bad_fields() -> None:
    with pytest.raises(TypeError, match="edges and coefficients must be Tensors; got list and Tensor"):
        PiecewisePolynomialExport([-1.0, 1.0], torch.zeros(1, 2))
    with pytest.raises(TypeError, match="cos and sin must be Tensors; got list and Tensor"):
        FourierExport(0.0, [1.0], torch.zeros(1), 2.0)
    with pytest.raises(ValueError, match=r"cos and sin must both have shape \(n,\); got \(2,\) and \(3,\)"):
        FourierExport(0.0, torch.zeros(2), torch.zeros(3), 2.0)
    with pytest.raises(ValueError, match="length must be a positive finite number, got 0"):
        FourierExport(0.0, torch.zeros(2), torch.zeros(2), 0.0)
