"""ReLU networks sized to about the parameter count of a high-order network (``baseline=relu``)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .training import parameter_count


def match_width(build: Callable[[int], nn.Module], target: int, *, low: int = 1, high: int = 1 << 16) -> int:
    """The width ``w`` whose ``build(w)`` has the parameter count closest to ``target``
    (bisection; the count must grow with ``w``)."""
    while low < high:
        middle = (low + high) // 2
        if parameter_count(build(middle)) < target:
            low = middle + 1
        else:
            high = middle
    # low is the first width at or above target; low - 1 may be closer.
    if low > 1 and abs(parameter_count(build(low - 1)) - target) < abs(parameter_count(build(low)) - target):
        return low - 1
    return low


def relu_mlp(
    in_width: int,
    out_width: int,
    hidden_layers: int,
    hidden_width: int,
    *,
    activation: Callable[[], nn.Module] = nn.ReLU,
) -> nn.Sequential:
    """``Linear -> ReLU`` blocks: ``in -> hidden``, ``hidden_layers`` times ``hidden -> hidden``, ``-> out``.

    ``activation`` builds another activation in place of the ReLU (e.g. ``nn.Tanh``)."""
    layers: list[nn.Module] = [nn.Linear(in_width, hidden_width), activation()]
    for _ in range(hidden_layers):
        layers += [nn.Linear(hidden_width, hidden_width), activation()]
    layers.append(nn.Linear(hidden_width, out_width))
    return nn.Sequential(*layers)


def matched_relu_mlp(
    in_width: int,
    out_width: int,
    hidden_layers: int,
    target_params: int,
    *,
    activation: Callable[[], nn.Module] = nn.ReLU,
) -> nn.Sequential:
    """A :func:`relu_mlp` of the given depth whose width brings it nearest ``target_params`` parameters."""
    # a width-w network has at least w * (in + out) parameters: no need to try (and allocate) wider ones
    high = max(2, target_params // (in_width + out_width) + 1)
    width = match_width(lambda w: relu_mlp(in_width, out_width, hidden_layers, w), target_params, high=high)
    return relu_mlp(in_width, out_width, hidden_layers, width, activation=activation)
