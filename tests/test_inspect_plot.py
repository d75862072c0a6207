"""Plots of link functions: headless, PNG output, curves equal to the layer's links."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from high_order_layers_torch.inspect import MAX_PANELS, evaluate_link, plot_links, plot_model  # noqa: E402
from high_order_layers_torch.layers import (  # noqa: E402
    FourierSeries,
    MaxAbsNormalization,
    PiecewiseDiscontinuousPolynomial,
    PiecewisePolynomial,
    PiecewisePolynomialBasis,
)
from high_order_layers_torch.layers._conv import HighOrderConv2d  # noqa: E402
from high_order_layers_torch.layers._conv_transpose import HighOrderConvTranspose2d  # noqa: E402

F64 = torch.float64
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 2000


def line(ax: object, label: str) -> object:
    (found,) = [artist for artist in ax.get_lines() if artist.get_label() == label]
    return found


def test_grid_of_all_links_writes_png(tmp_path: Path) -> None:
    layer = PiecewiseDiscontinuousPolynomial(3, 2, n=4, segments=3, dtype=F64)
    path = tmp_path / "links.png"
    figure = plot_links(layer, path=path)
    assert_png(path)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert len(visible) == 6  # out x in = 2 x 3 grid
    assert [ax.get_title() for ax in visible[:3]] == ["link (0, 0)", "link (0, 1)", "link (0, 2)"]
    # the curve is the layer's own link function, margins included (clamp: flat outside)
    x = torch.tensor(line(visible[5], "link").get_xdata(), dtype=F64)
    y = torch.tensor(line(visible[5], "link").get_ydata(), dtype=F64)
    assert x.min() == -1.5 and x.max() == 1.5
    with torch.no_grad():
        expected = layer.link_functions(x[:, None].expand(-1, 3))[:, 1, 2]
    assert torch.allclose(y, expected, atol=1e-12)
    # node markers: one per weight at the node positions, with the weight values
    (nodes,) = [artist for artist in visible[5].get_lines() if artist.get_marker() == "o"]
    assert torch.allclose(torch.tensor(nodes.get_xdata()), layer.basis.node_positions())
    assert torch.allclose(torch.tensor(nodes.get_ydata()), layer.weight[1, 2].detach())


@pytest.mark.parametrize("policy", ["clamp", "mirror", "extrapolate", "error"])
def test_margins_follow_policy(policy: str) -> None:
    layer = PiecewisePolynomial(1, 1, n=3, segments=2, out_of_range=policy, dtype=F64)
    figure = plot_links(layer, margin=0.5, num_points=201)
    curve = line(figure.axes[0], "link")
    x = torch.tensor(curve.get_xdata(), dtype=F64)
    y = torch.tensor(curve.get_ydata(), dtype=F64)
    if policy == "error":  # no values outside [-1, 1] exist
        assert x.min() == -1 and x.max() == 1
        return
    assert x[-1] == 1.5
    inside = evaluate_link(layer, (0, 0), torch.tensor([0.5, 1.0], dtype=F64))
    if policy == "clamp":  # flat beyond 1, at the end value
        assert torch.allclose(y[x > 1], inside[1].expand(int((x > 1).sum())), atol=1e-12)
    elif policy == "mirror":  # reflected: f(1.5) = f(0.5)
        assert y[-1].item() == pytest.approx(inside[0].item(), abs=1e-12)
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert policy in texts


def test_target_and_samples_overlay_on_one_link(tmp_path: Path) -> None:
    layer = PiecewisePolynomial(1, 1, n=5, segments=4, dtype=F64)
    samples = (torch.rand(30, dtype=F64) * 2 - 1, torch.rand(30, dtype=F64))
    path = tmp_path / "fit.png"
    figure = plot_links(layer, target=torch.sin, samples=samples, path=path)
    assert_png(path)
    (ax,) = figure.axes
    target = line(ax, "target")
    x = torch.tensor(target.get_xdata(), dtype=F64)
    assert torch.allclose(torch.tensor(target.get_ydata(), dtype=F64), torch.sin(x))
    assert len(line(ax, "data").get_xdata()) == 30
    assert ax.get_legend() is not None


def test_draw_into_existing_axes() -> None:
    from matplotlib.figure import Figure

    figure = Figure()
    left, right = figure.subplots(1, 2)
    layer = FourierSeries(2, 1, n=3, dtype=F64)
    assert plot_links(layer, [(0, 1)], ax=right, target=lambda x: 0.5 * x) is figure
    assert line(right, "link") is not None and not left.get_lines()


def test_conv_taps_and_per_link_targets(tmp_path: Path) -> None:
    conv = HighOrderConv2d(2, 3, 3, PiecewisePolynomialBasis(3, 2), dtype=F64)
    links = [(0, 1, 2, 2), (2, 0, 0, 1)]
    path = tmp_path / "taps.png"
    figure = plot_links(conv, links, target=[torch.cos, None], path=path)
    assert_png(path)
    assert [ax.get_title() for ax in figure.axes] == ["link (0, 1, 2, 2)", "link (2, 0, 0, 1)"]
    assert [artist.get_label() for artist in figure.axes[1].get_lines()].count("target") == 0
    (nodes,) = [artist for artist in figure.axes[1].get_lines() if artist.get_marker() == "o"]
    assert torch.allclose(torch.tensor(nodes.get_ydata()), conv.weight[2, 0, :, 0, 1].detach())


def test_model_diagram_writes_png(tmp_path: Path) -> None:
    model = nn.Sequential(
        HighOrderConv2d(2, 3, 2, PiecewisePolynomialBasis(3, 2), dtype=F64),
        HighOrderConvTranspose2d(3, 2, 2, PiecewisePolynomialBasis(2, 1), dtype=F64),
        nn.Flatten(),
        MaxAbsNormalization(),
        PiecewisePolynomial(2 * 4 * 4, 2, n=3, segments=2, dtype=F64),
        PiecewiseDiscontinuousPolynomial(2, 1, n=3, segments=2, dtype=F64),
    )
    assert model(torch.rand(2, 2, 4, 4, dtype=F64)).shape == (2, 1)
    path = tmp_path / "model.png"
    figure = plot_model(model, max_inputs=4, path=path)
    assert_png(path)
    titles = [subfigure._suptitle.get_text() for subfigure in figure.subfigs]
    assert titles[0].startswith("0: HighOrderConv2d") and "(3, 2, 2, 2) links" in titles[0]
    assert titles[2].startswith("4: PiecewisePolynomial") and "first 2x4" in titles[2]
    assert titles[3].startswith("5: PiecewiseDiscontinuousPolynomial")
    panels = [len(subfigure.axes) for subfigure in figure.subfigs]
    assert panels == [3 * 2, 3 * 2, 2 * 4, 1 * 2]
    assert len(figure.subfigs[0].axes[0].get_lines()) == 4  # every tap of a 2x2 kernel overlaid


def test_single_layer_model() -> None:
    figure = plot_model(PiecewisePolynomial(2, 2, n=3, dtype=F64))
    assert len(figure.subfigs) == 1 and len(figure.subfigs[0].axes) == 4


def test_bad_arguments_raise() -> None:
    layer = PiecewisePolynomial(3, 2, n=3, dtype=F64)
    with pytest.raises(ValueError, match=r"unknown link \(2, 0\).*0\.\.1 x 0\.\.2"):
        plot_links(layer, [(2, 0)])
    with pytest.raises(ValueError, match="sequence of link tuples"):
        plot_links(layer, (0, 1))
    with pytest.raises(ValueError, match="margin"):
        plot_links(layer, margin=-0.1)
    with pytest.raises(ValueError, match="one per link"):
        plot_links(layer, [(0, 0), (1, 1)], target=[torch.sin])
    with pytest.raises(ValueError, match="exactly one link"):
        plot_links(layer, ax=object())
    with pytest.raises(ValueError, match="MAX_PANELS"):
        plot_links(PiecewisePolynomial(MAX_PANELS + 1, 1, n=2))
    with pytest.raises(ValueError, match="no high-order layer"):
        plot_model(nn.Sequential(nn.Linear(2, 2)))


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install high-order-layers-torch\[plots\]"):
        plot_links(PiecewisePolynomial(1, 1, n=3))
