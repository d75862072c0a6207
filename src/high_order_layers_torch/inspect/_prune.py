"""How much each link matters on real data, and pruning of the weakest links."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .._validation import check_choice
from ..layers._protocol import basis_of, prepare_module_input
from ._links import (
    channels_last,
    check_materialised,
    check_module,
    input_channel_index,
    link_shape,
    link_weight_matrix,
    require_high_order_modules,
)

MEASURES: tuple[str, ...] = ("std", "range")
SCOPES: tuple[str, ...] = ("layer", "model")
FILLS: tuple[str, ...] = ("zero", "mean")

#: Most link values held at once while scoring one layer (rows are processed in chunks).
_CHUNK_ELEMENTS = 1 << 22


class _LinkStatistics:
    """Running count, mean, sum of squared deviations, min and max of every link's output.

    Chunks are merged with Chan's parallel update, so the variance does not suffer the
    cancellation of ``E[f^2] - E[f]^2``. Statistics are kept per ``(channel, link of channel)``.
    """

    def __init__(self, module: nn.Module) -> None:
        channel = input_channel_index(module).reshape(-1)  # (L,)
        self.order = torch.argsort(channel, stable=True)  # links grouped by input channel
        self.channels = int(channel.max()) + 1
        self.per_channel = channel.numel() // self.channels
        self.count = 0  # values seen per link
        self.calls = 0  # forward calls seen, empty ones included
        # running statistics of every link's values, (L,) each once the first batch is in
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None
        self.minimum: Tensor | None = None
        self.maximum: Tensor | None = None

    def update(self, module: nn.Module, x: Tensor) -> None:
        self.calls += 1
        with torch.no_grad():
            values = channels_last(module, prepare_module_input(module, x.detach().to(torch.float64)))  # (N, C)
            if values.shape[0] == 0:  # an empty batch holds no value to measure
                return
            weight = link_weight_matrix(module).detach().to(torch.float64)
            weight = weight.reshape(-1, weight.shape[-1])[self.order.to(weight.device)]  # (L, M) by channel
            weight = weight.reshape(self.channels, self.per_channel, -1).transpose(1, 2)  # (C, M, P)
            rows = max(1, _CHUNK_ELEMENTS // max(1, self.channels * self.per_channel * weight.shape[1]))
            for chunk in values.split(rows):
                dense = basis_of(module).dense(chunk).transpose(0, 1)  # (C, n, M)
                self._merge(torch.bmm(dense, weight))  # (C, n, P)

    def _merge(self, links: Tensor) -> None:
        count = links.shape[1]
        mean = links.mean(dim=1)
        m2 = (links - mean.unsqueeze(1)).square().sum(dim=1)
        minimum, maximum = links.amin(dim=1), links.amax(dim=1)
        if self.count == 0 or self.mean is None or self.m2 is None or self.minimum is None or self.maximum is None:
            self.mean, self.m2, self.minimum, self.maximum = mean, m2, minimum, maximum
        else:
            total = self.count + count
            delta = mean - self.mean
            self.mean = self.mean + delta * (count / total)
            self.m2 = self.m2 + m2 + delta.square() * (self.count * count / total)
            self.minimum = torch.minimum(self.minimum, minimum)
            self.maximum = torch.maximum(self.maximum, maximum)
        self.count += count

    def _unsort(self, values: Tensor | None, shape: tuple[int, ...]) -> Tensor:
        """Back from channel-grouped order to the layer's link grid."""
        if values is None:
            return torch.full(shape, math.nan, dtype=torch.float64)
        flat = torch.empty(values.numel(), dtype=values.dtype, device=values.device)
        flat[self.order.to(values.device)] = values.reshape(-1)
        return flat.reshape(shape).cpu()

    def score(self, measure: str, shape: tuple[int, ...]) -> Tensor:
        if measure == "std":
            spread = None if self.m2 is None else (self.m2 / self.count).sqrt()
        else:
            spread = None if self.maximum is None or self.minimum is None else self.maximum - self.minimum
        return self._unsort(spread, shape)

    def means(self, shape: tuple[int, ...]) -> Tensor:
        return self._unsort(self.mean, shape)


def _batches(data: Tensor | Iterable[object]) -> Iterator[Tensor]:
    if isinstance(data, Tensor):
        yield data
        return
    if not isinstance(data, Iterable):
        raise TypeError(
            "data must be a Tensor or an iterable of batches (Tensors, or tuples/lists whose first element is "
            f"the model input, as a DataLoader yields); got {type(data).__name__}"
        )
    for batch in data:
        item = batch[0] if isinstance(batch, (tuple, list)) else batch
        if not isinstance(item, Tensor):
            raise TypeError(
                "data must be a Tensor or an iterable of batches, each a Tensor or a tuple/list whose "
                f"first element is the model input; got a batch of {type(item).__name__}"
            )
        yield item


def _collect(
    model: nn.Module, data: Tensor | Iterable[object], what: str
) -> dict[str, tuple[nn.Module, _LinkStatistics]]:
    layers = require_high_order_modules(model, what)
    for _, module in layers:
        check_materialised(module, what)
    statistics = {name: (module, _LinkStatistics(module)) for name, module in layers}
    handles = [
        module.register_forward_hook(lambda mod, args, output, stats=stats: stats.update(mod, args[0]))
        for module, stats in statistics.values()
    ]
    modes = {module: module.training for module in model.modules()}
    model.eval()
    batches = 0
    try:
        with torch.no_grad():
            for batch in _batches(data):
                model(batch)
                batches += 1
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes.items():
            module.training = mode
    if batches == 0:
        raise ValueError("data yielded no batch")
    called = [stats for _, stats in statistics.values() if stats.calls]
    if called and all(stats.count == 0 for stats in called):
        # a spread of zero values does not exist; refuse rather than return scores that look measured
        raise ValueError(f"link scores need at least one sample; data held none ({batches} batch(es), every one empty)")
    return statistics


def link_scores(model: nn.Module, data: Tensor | Iterable[object], *, measure: str = "std") -> dict[str, Tensor]:
    """How much each link's output varies over the inputs its layer actually sees.

    ``model`` runs on ``data`` (in eval mode, without gradients) while forward hooks record each
    high-order layer's input; a link's score is the spread of its function over the values of
    its input feature/channel: the standard deviation (``"std"``) or ``max - min``
    (``"range"``). A link with a small score adds a nearly constant amount to its neuron. For a
    convolution, a tap sees every value of its input channel (padding zeros excluded). A layer
    the forward pass never calls, or calls only with empty input, gets ``nan`` scores.

    Empty batches (zero samples) add nothing and are skipped; when every batch is empty there
    is no value to measure and a ``ValueError`` says scores need at least one sample.

    Args:
        model: any module containing high-order layers.
        data: one input batch, or an iterable of batches (a Tensor or a tuple/list whose first
            element is the input, as a ``DataLoader`` yields). Each batch is whatever ``model``
            accepts, e.g. ``(B, C, *spatial)`` or unbatched ``(C, *spatial)`` for a convolution.
        measure: ``"std"`` or ``"range"``.

    Returns:
        ``{layer name: float64 scores of shape link_shape(layer)}`` (link grid: ``(out, in)``
        for a fully-connected layer).

    Raises:
        TypeError: ``model`` not a module, or ``data`` neither a Tensor nor an iterable of batches.
        ValueError: unknown ``measure``, a model without high-order layers, a model on the meta
            device, ``data`` with no batch, or only empty batches (no sample).
    """
    check_choice("measure", measure, MEASURES)
    statistics = _collect(model, data, "link_scores")
    return {name: stats.score(measure, link_shape(module)) for name, (module, stats) in statistics.items()}


@dataclass(frozen=True)
class PrunedLink:
    """One pruned link: the layer's name in ``model.named_modules()``, its index, its score."""

    layer: str
    index: tuple[int, ...]
    score: float


@dataclass(eq=False)
class PruneReport:
    """What :func:`prune_links_` did.

    Attributes:
        links: every pruned link, layer by layer in module order, then row-major.
        masks: ``{layer name: bool tensor of the link grid}``, ``True`` where pruned.
        scores: ``{layer name: float64 scores}`` measured before pruning.
        fill_values: ``{layer name: float64 constant}`` each pruned link was set to (0 for
            ``fill="zero"``).
        measure, fill: the options used.
    """

    links: tuple[PrunedLink, ...]
    masks: dict[str, Tensor]
    scores: dict[str, Tensor]
    fill_values: dict[str, Tensor]
    measure: str
    fill: str
    total_links: int = field(default=0)

    def __len__(self) -> int:
        return len(self.links)

    def as_tuples(self) -> list[tuple[object, ...]]:
        """Pruned links as ``(layer name, *index)``, e.g. ``("0", out, in)``."""
        return [(link.layer, *link.index) for link in self.links]

    def reapply_(self, model: nn.Module) -> None:
        """Set the pruned links back to their fill (after further training moved them), in place."""
        modules = dict(check_module(model, "reapply_").named_modules())
        missing = sorted(set(self.masks) - set(modules))
        if missing:
            raise ValueError(f"model has no layers named {missing}; the report names {sorted(self.masks)}")
        for name, mask in self.masks.items():
            _fill_links(modules[name], mask, self.fill_values[name])

    def __str__(self) -> str:
        lines = [f"pruned {len(self.links)} of {self.total_links} links (measure={self.measure!r}, fill={self.fill!r})"]
        lines += [f"  layer {link.layer!r} link {link.index}: score {link.score:.3g}" for link in self.links]
        return "\n".join(lines)


def _constant_link(module: nn.Module, value: Tensor) -> Tensor:
    """Weights making each link the constant ``value``. Shape: ``value (K,)`` -> ``(K, M)``."""
    basis = basis_of(module)
    if not basis.holds_constants:
        raise ValueError(f"fill='mean' needs a basis that holds constants; {type(basis).__name__} does not")
    return value[:, None] * basis.constant_coefficients().to(device=value.device, dtype=value.dtype)


def _fill_links(module: nn.Module, mask: Tensor, values: Tensor) -> None:
    weight = link_weight_matrix(module)  # (*link_shape, M), a view of the parameter
    mask = mask.to(weight.device)
    with torch.no_grad():
        chosen = values.to(device=weight.device, dtype=weight.dtype)[mask]  # (K,)
        weight[mask] = _constant_link(module, chosen) if bool((chosen != 0).any()) else 0


def _check_fraction(fraction: object) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
    return float(fraction)


def _check_threshold(threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold < math.inf:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    return float(threshold)


def _lowest(scores: Tensor, count: int) -> Tensor:
    """Bool mask of the ``count`` lowest finite scores (ties by position)."""
    flat = torch.nan_to_num(scores.reshape(-1), nan=math.inf)
    mask = torch.zeros(flat.shape, dtype=torch.bool)
    mask[torch.argsort(flat, stable=True)[:count]] = True
    return mask & torch.isfinite(flat)


def prune_links_(
    model: nn.Module,
    data: Tensor | Iterable[object],
    *,
    fraction: float | None = None,
    threshold: float | None = None,
    measure: str = "std",
    scope: str = "layer",
    fill: str = "zero",
) -> tuple[nn.Module, PruneReport]:
    """Remove the links that matter least on ``data``, in place.

    Links are scored with :func:`link_scores`; exactly one of ``fraction`` / ``threshold``
    chooses which go. A pruned link becomes a constant function:

    * ``fill="zero"`` sets all its ``M`` weights to 0. For every basis here (Lagrange node
      values, Fourier coefficients, plain weights) that makes the function identically 0: the
      link no longer adds to a sum neuron, and contributes the factor ``1 + 0`` to a product
      neuron, i.e. it is gone.
    * ``fill="mean"`` sets it to the constant equal to its mean output on ``data`` (all node
      values equal for Lagrange bases, only ``a0`` for Fourier series), which keeps the
      average contribution to a sum neuron; plain-weight (``LinearBasis``) layers cannot hold a
      constant and raise.

    The weights change in place under ``torch.no_grad()``; an optimizer keeps working on the same
    parameters, but training will move pruned links again: call :meth:`PruneReport.reapply_`
    after fine-tuning (or mask their gradients) to keep them pruned.

    Args:
        model: any module containing high-order layers.
        data: one input batch, or an iterable of batches (see :func:`link_scores`).
        fraction: prune this fraction of links (``floor(fraction * count)``), in ``[0, 1]``.
        threshold: prune links whose score is below this value (all layers).
        measure: ``"std"`` or ``"range"`` (see :func:`link_scores`).
        scope: for ``fraction``: ``"layer"`` takes that fraction of every layer's links, so no
            layer is emptied unless ``fraction = 1``; ``"model"`` ranks all links together.
        fill: ``"zero"`` or ``"mean"`` (above).

    Returns:
        ``(model, report)``: the same, now pruned, model and a :class:`PruneReport` listing
        exactly the pruned links ``(layer name, index)``.

    Raises:
        ValueError: ``fraction`` outside ``[0, 1]``, a negative threshold, both or neither of
            them given, unknown ``measure`` / ``scope`` / ``fill``, ``fill="mean"`` on a
            layer that cannot hold a constant, or ``data`` that :func:`link_scores` refuses
            (no batch, only empty batches); the weights are then left unchanged.
        TypeError: as :func:`link_scores`.

    Example:
        >>> model, report = prune_links_(model, x_train, fraction=0.25, fill="mean")  # doctest: +SKIP
        >>> print(report)  # doctest: +SKIP
    """
    if (fraction is None) == (threshold is None):
        raise ValueError("give exactly one of fraction (in [0, 1]) or threshold (>= 0)")
    if fraction is not None:
        fraction = _check_fraction(fraction)
    else:
        threshold = _check_threshold(threshold)
    check_choice("measure", measure, MEASURES)
    check_choice("scope", scope, SCOPES)
    check_choice("fill", fill, FILLS)
    layers = require_high_order_modules(model, "prune_links_")
    if fill == "mean":
        for name, module in layers:
            if not basis_of(module).holds_constants:
                raise ValueError(
                    f"fill='mean' needs a basis that holds constants (every family but LinearBasis); "
                    f"layer {name!r} has {type(basis_of(module)).__name__}: use fill='zero'"
                )

    statistics = _collect(model, data, "prune_links_")
    shapes = {name: link_shape(module) for name, (module, _) in statistics.items()}
    scores = {name: stats.score(measure, shapes[name]) for name, (_, stats) in statistics.items()}
    if threshold is not None:
        masks = {name: torch.nan_to_num(s, nan=math.inf) < threshold for name, s in scores.items()}
    elif fraction is None:  # pragma: no cover - checked above: exactly one of the two is given
        raise AssertionError("unreachable")
    elif scope == "layer":
        masks = {name: _lowest(s, math.floor(fraction * s.numel())).reshape(s.shape) for name, s in scores.items()}
    else:
        flat = torch.cat([s.reshape(-1) for s in scores.values()])
        pieces = _lowest(flat, math.floor(fraction * flat.numel())).split([s.numel() for s in scores.values()])
        masks = {name: piece.reshape(scores[name].shape) for name, piece in zip(scores, pieces, strict=True)}

    fill_values = {}
    for name, (module, stats) in statistics.items():
        means = stats.means(shapes[name])
        fill_values[name] = torch.nan_to_num(means, nan=0.0) if fill == "mean" else torch.zeros_like(means)
        _fill_links(module, masks[name], fill_values[name])
    pruned = tuple(
        PrunedLink(name, tuple(int(i) for i in index), scores[name][tuple(index)].item())
        for name, mask in masks.items()
        for index in mask.nonzero().tolist()
    )
    report = PruneReport(pruned, masks, scores, fill_values, measure, fill, sum(s.numel() for s in scores.values()))
    return model, report
