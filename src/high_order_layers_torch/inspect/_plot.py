"""Pictures of learned link functions (matplotlib, the ``plots`` extra, imported lazily).

Every function builds a :class:`matplotlib.figure.Figure` without pyplot (no global figure
registry, no GUI backend, nothing to close), saves it as PNG when given a ``path`` and returns
it. In a notebook the returned figure displays itself; never does anything call ``plt.show``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validation import check_int, check_positive_float
from ..layers._protocol import basis_of, weight_of
from ._links import (
    basis_dim,
    check_high_order,
    check_links,
    check_materialised,
    evaluate_links,
    link_shape,
    link_weight_matrix,
    require_high_order_modules,
)

#: Largest number of panels :func:`plot_links` draws when ``links`` is ``None``.
MAX_PANELS = 64

Target = Callable[[Tensor], Any]


def _matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plotting needs matplotlib, an optional extra: pip install high-order-layers-torch[plots]"
        ) from error
    return Figure


def _check_margin(margin: float) -> float:
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < math.inf:
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    return float(margin)


def _check_panel_size(panel_size: object) -> tuple[float, float]:
    if (
        not isinstance(panel_size, (tuple, list))
        or len(panel_size) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in panel_size)
    ):
        raise TypeError(f"panel_size must be a pair (width, height) of numbers in inches, got {panel_size!r}")
    if not all(0 < v < math.inf for v in panel_size):
        raise ValueError(f"panel_size must be a pair of positive finite numbers, got {tuple(panel_size)!r}")
    return float(panel_size[0]), float(panel_size[1])


def _check_targets(target: object, count: int) -> list[Target | None]:
    """One target (a callable or ``None``) per link."""
    targets: list[Any] = (
        list(target) if isinstance(target, Sequence) and not isinstance(target, str) else [target] * count
    )
    for value in targets:
        if value is not None and not callable(value):
            raise TypeError(
                "target must be a callable f(x) -> values, None, or a sequence of those (one per link); "
                f"got {type(value).__name__}"
            )
    if len(targets) != count:
        raise ValueError(f"target must be one callable or one per link ({count}), got {len(targets)}")
    return targets


def _check_samples(samples: object) -> tuple[list[float], list[float]] | None:
    """``(x, y)`` as two lists of equal length, or ``None``."""
    if samples is None:
        return None
    pair = isinstance(samples, (tuple, list)) or (isinstance(samples, Tensor) and samples.dim() >= 1)
    if not pair or len(samples) != 2:  # type: ignore[arg-type]
        raise TypeError(f"samples must be a pair (x, y) of Tensors or sequences of numbers, got {samples!r}")
    x, y = _as_numpy_list(samples[0], "samples[0] (x)"), _as_numpy_list(samples[1], "samples[1] (y)")  # type: ignore[index]
    if len(x) != len(y):
        raise ValueError(f"samples (x, y) must hold as many x as y values, got {len(x)} and {len(y)}")
    return x, y


def _grid(module: nn.Module, margin: float, num_points: int) -> Tensor:
    """Plot abscissae: ``[-1, 1]`` plus the margins, or only ``[-1, 1]`` for ``"error"``."""
    low, high = (-1.0, 1.0) if getattr(module, "out_of_range", None) == "error" else (-1 - margin, 1 + margin)
    grid = torch.linspace(low, high, num_points, dtype=torch.float64)
    if weight_of(module).dtype != torch.float64:
        grid = grid.to(weight_of(module).dtype)
    return grid.to(weight_of(module).device)


def _as_numpy_list(values: Any, what: str = "values") -> list[float]:
    if isinstance(values, Tensor):
        return values.detach().to("cpu", torch.float64).reshape(-1).tolist()
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must be a Tensor or a sequence of numbers, got {values!r}") from error


def _evaluate_target(target: Target, grid: Tensor) -> list[float]:
    values = target(grid.detach().to("cpu", torch.float64))
    result = _as_numpy_list(
        values if not isinstance(values, (int, float)) else [values] * grid.numel(), "the value target returns"
    )
    if len(result) != grid.numel():
        raise ValueError(f"target must return one value per input point ({grid.numel()}), got {len(result)}")
    return result


def _decorate_range(ax: Any, module: nn.Module, margin: float) -> None:
    """Shade the out-of-range margins and name the layer's policy there."""
    policy = getattr(module, "out_of_range", "extrapolate")
    if getattr(module, "periodicity", None) is not None:
        policy = f"fold {module.periodicity:g}, {policy}"
    if policy == "error" or margin == 0:
        return
    for low, high in ((-1 - margin, -1.0), (1.0, 1 + margin)):
        ax.axvspan(low, high, color="0.92", zorder=0, linewidth=0)
    ax.text(
        1 + margin / 2,
        0.5,
        policy,
        transform=ax.get_xaxis_transform(),
        rotation=90,
        ha="center",
        va="center",
        fontsize="x-small",
        color="0.45",
    )


def _decorate_basis(ax: Any, module: nn.Module, link: tuple[int, ...], show_nodes: bool) -> None:
    """Segment joints as dotted lines and the node values (the link's weights) as markers."""
    basis = basis_of(module)
    for joint in basis.joints()[1:-1].tolist():
        ax.axvline(joint, color="0.6", linestyle=":", linewidth=0.8, zorder=1)
    nodes = basis.node_positions()  # None where the weights are not values at points
    if show_nodes and nodes is not None:
        positions = _as_numpy_list(nodes)
        weights = _as_numpy_list(link_weight_matrix(module)[link])
        ax.plot(positions, weights, linestyle="none", marker="o", markersize=3, color="C3", zorder=3)


def _save(figure: Any, path: str | os.PathLike[str] | None, dpi: int) -> None:
    if path is not None:
        figure.savefig(os.fspath(path), format="png", dpi=dpi)


def plot_links(
    module: nn.Module,
    links: Sequence[Sequence[int]] | None = None,
    *,
    target: Target | Sequence[Target | None] | None = None,
    samples: tuple[Tensor, Tensor] | None = None,
    margin: float = 0.5,
    num_points: int = 400,
    show_nodes: bool = True,
    ncols: int | None = None,
    panel_size: tuple[float, float] = (2.6, 2.0),
    ax: Any = None,
    path: str | os.PathLike[str] | None = None,
    dpi: int = 100,
) -> Any:
    """Plot the learned function of chosen links of one high-order layer.

    Each panel shows one link over ``[-1 - margin, 1 + margin]``: the curve as the layer
    evaluates it (so the shaded margins show the ``out_of_range`` policy: flat for ``"clamp"``,
    reflected for ``"mirror"``, continued for ``"extrapolate"``; ``"error"`` layers are drawn on
    ``[-1, 1]`` only), dotted segment joints, and the node values (the link's weights) as dots at
    their node positions for piecewise-polynomial bases.

    Args:
        module: a high-order layer, fully-connected or convolutional.
        links: link indices, e.g. ``[(0, 1), (2, 0)]`` for a fully-connected layer or
            ``[(out, in, ky, kx)]`` for a 2-d convolution; ``None`` draws every link (at most
            :data:`MAX_PANELS`), a fully-connected layer as an ``out x in`` grid.
        target: a callable ``f(x: Tensor float64) -> values`` drawn dashed on every panel (made
            for 1-in-1-out layers fitted to a function), or one callable (or ``None``) per link.
        samples: optional ``(x, y)`` data points scattered on every panel: a pair of Tensors or
            sequences of equal length, or a ``(2, N)`` Tensor.
        margin: width of the out-of-range strips on each side (``>= 0``).
        num_points: curve resolution (an int ``>= 2``).
        show_nodes: mark the node values.
        ncols: panels per row, an int ``>= 1`` (default: ``in`` for a full fully-connected grid,
            else up to 4).
        panel_size: ``(width, height)`` of one panel in inches, both ``> 0``.
        ax: draw a single link into this existing matplotlib ``Axes`` instead of a new figure.
        path: if given, save the figure there as PNG.
        dpi: resolution of the saved PNG (``> 0``).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: if ``module`` is not a high-order layer, or an argument has the wrong type
            (a target that is not callable, an ``ax`` that is not a matplotlib ``Axes`` ...).
        ValueError: for an unknown link, too many panels, a negative margin, a wrong number
            of targets, ``samples`` of unequal lengths, a size out of its range, or a layer on
            the meta device (no values to draw).
        ImportError: when matplotlib is missing.

    Example:
        >>> layer = PiecewisePolynomial(1, 1, n=5, segments=4)
        >>> figure = plot_links(layer, target=torch.sin, path="fit.png")
    """
    figure_class = _matplotlib()
    check_high_order(module, "plot_links")
    margin = _check_margin(margin)
    check_int("num_points", num_points, minimum=2)
    check_positive_float("dpi", dpi)
    panel_size = _check_panel_size(panel_size)
    if ncols is not None:
        check_int("ncols", ncols, minimum=1)
    if not isinstance(show_nodes, bool):
        raise TypeError(f"show_nodes must be a bool, got {show_nodes!r}")
    chosen = check_links(module, links)
    if links is None and len(chosen) > MAX_PANELS:
        raise ValueError(
            f"{type(module).__name__} has {len(chosen)} links, more than MAX_PANELS={MAX_PANELS}; "
            "pass the links to draw, e.g. links=[(0, 0), (0, 1)]"
        )
    targets = _check_targets(target, len(chosen))
    points = _check_samples(samples)
    if ax is not None:
        from matplotlib.axes import Axes

        if len(chosen) != 1:
            raise ValueError(f"ax draws exactly one link; got {len(chosen)} links")
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes (or None for a new figure), got {type(ax).__name__}")
    check_materialised(module, "plot_links")
    shape = link_shape(module)
    if ncols is None:
        ncols = shape[1] if links is None and len(shape) == 2 else min(4, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)

    if ax is None:
        figure = figure_class(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
        axes = figure.subplots(nrows, ncols, squeeze=False).reshape(-1)
        for unused in axes[len(chosen) :]:
            unused.set_visible(False)
    else:
        figure, axes = ax.figure, [ax]

    grid = _grid(module, margin, num_points)
    with torch.no_grad():
        curves = evaluate_links(module, grid, chosen).to("cpu", torch.float64)  # (N, L)
    abscissa = _as_numpy_list(grid)
    for k, (link, panel) in enumerate(zip(chosen, axes, strict=False)):
        _decorate_range(panel, module, margin)
        _decorate_basis(panel, module, link, show_nodes)
        panel.plot(abscissa, curves[:, k].tolist(), color="C0", linewidth=1.5, zorder=2, label="link")
        link_target = targets[k]
        if link_target is not None:
            panel.plot(
                abscissa,
                _evaluate_target(link_target, grid),
                color="k",
                linestyle="--",
                linewidth=1.0,
                zorder=2,
                label="target",
            )
        if points is not None:
            panel.plot(
                *points,
                linestyle="none",
                marker=".",
                markersize=2,
                color="0.3",
                alpha=0.5,
                zorder=1,
                label="data",
            )
        panel.set_title(f"link {link}", fontsize="small")
        panel.tick_params(labelsize="x-small")
        if targets[k] is not None or points is not None:
            panel.legend(fontsize="x-small", loc="lower right")
    _save(figure, path, dpi)
    return figure


def plot_model(
    model: nn.Module,
    *,
    max_outputs: int = 8,
    max_inputs: int = 8,
    margin: float = 0.25,
    num_points: int = 100,
    panel_size: tuple[float, float] = (0.9, 0.7),
    path: str | os.PathLike[str] | None = None,
    dpi: int = 100,
) -> Any:
    """Draw a whole network as a diagram: one block per high-order layer, left to right.

    Each block is a grid of small panels, row ``o`` / column ``i`` holding the link from input
    ``i`` to output ``o``. For convolutions rows and columns are the first two link axes (output
    and input channel; input and output channel for transposed ones) and every kernel tap of
    that pair is overlaid in the same panel. Grey strips are the out-of-range margins. Large layers show their
    first ``max_outputs x max_inputs`` links, and the block title says so.

    Args:
        model: any module containing high-order layers (itself one, or an ``nn.Sequential`` ...).
        max_outputs, max_inputs: panel rows / columns shown per layer (ints ``>= 1``).
        margin: out-of-range strip width drawn on each side (``>= 0``).
        num_points: curve resolution (an int ``>= 2``).
        panel_size: ``(width, height)`` of one panel in inches, both ``> 0``.
        path: if given, save the figure there as PNG.
        dpi: resolution of the saved PNG (``> 0``).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: if ``model`` is not a module, or an argument has the wrong type.
        ValueError: if ``model`` contains no high-order layer or is on the meta device (no
            values to draw), or a size is out of its range.
        ImportError: when matplotlib is missing.
    """
    figure_class = _matplotlib()
    check_int("max_outputs", max_outputs, minimum=1)
    check_int("max_inputs", max_inputs, minimum=1)
    margin = _check_margin(margin)
    check_int("num_points", num_points, minimum=2)
    check_positive_float("dpi", dpi)
    panel_size = _check_panel_size(panel_size)
    layers = require_high_order_modules(model, "plot_model")
    for _, module in layers:
        check_materialised(module, "plot_model")
    blocks = []
    for name, module in layers:
        shape = link_shape(module)
        rows, cols = min(shape[0], max_outputs), min(shape[1], max_inputs)
        blocks.append((name, module, shape, rows, cols))
    width = sum(cols for *_, cols in blocks) * panel_size[0] + 0.4 * len(blocks)
    max_rows = max(rows for *_, rows, _ in blocks)
    height = max_rows * panel_size[1] + 0.6
    figure = figure_class(figsize=(width, height), layout="constrained")
    subfigures = figure.subfigures(1, len(blocks), width_ratios=[cols for *_, cols in blocks], squeeze=False)[0]
    for subfigure, (name, module, shape, rows, cols) in zip(subfigures, blocks, strict=True):
        shown = "" if (rows, cols) == tuple(shape[:2]) else f", first {rows}x{cols}"
        title = f"{name}: {type(module).__name__}" if name else type(module).__name__
        subfigure.suptitle(f"{title}\n{tuple(shape)} links{shown}", fontsize="small")
        row_label, col_label = ("in", "out") if basis_dim(module) == 1 else ("out", "in")
        # every block uses the tallest block's row height; shorter blocks are centred vertically
        layout = subfigure.add_gridspec(max_rows, cols)
        offset = (max_rows - rows) // 2
        first = subfigure.add_subplot(layout[offset, 0])
        axes: list[list[Any]] = [[first if (o, i) == (0, 0) else None for i in range(cols)] for o in range(rows)]
        for o in range(rows):
            for i in range(cols):
                if axes[o][i] is None:
                    axes[o][i] = subfigure.add_subplot(layout[offset + o, i], sharex=first, sharey=first)
        grid = _grid(module, margin, num_points)
        with torch.no_grad():
            curves = evaluate_links(module, grid)  # (N, *link_shape)
        curves = curves[(slice(None), slice(0, rows), slice(0, cols))].to("cpu", torch.float64)
        curves = curves.reshape(curves.shape[0], rows, cols, -1)  # (N, rows, cols, taps)
        abscissa = _as_numpy_list(grid)
        for o in range(rows):
            for i in range(cols):
                panel = axes[o][i]
                if margin and getattr(module, "out_of_range", None) != "error":
                    panel.axvspan(-1 - margin, -1, color="0.92", zorder=0, linewidth=0)
                    panel.axvspan(1, 1 + margin, color="0.92", zorder=0, linewidth=0)
                for tap in range(curves.shape[-1]):
                    panel.plot(abscissa, curves[:, o, i, tap].tolist(), linewidth=0.8, color=f"C{tap % 10}")
                panel.set_xticks([])
                panel.set_yticks([])
                if o == rows - 1:
                    panel.set_xlabel(f"{col_label} {i}", fontsize="xx-small")
                if i == 0:
                    panel.set_ylabel(f"{row_label} {o}", fontsize="xx-small")
    _save(figure, path, dpi)
    return figure
