"""The ``position_embedding`` switch of the examples: a fixed positional embedding built from the config."""

from __future__ import annotations

from typing import Any

from high_order_layers_torch.layers import PositionalEmbedding, positional_embedding

#: Names of ``position_embedding``: ``none`` (no embedding) and the library's kinds.
CHOICES = ("none", "continuous", "discontinuous", "fourier", "sinusoidal")


def position_embedding(cfg: dict[str, Any], positions: int) -> PositionalEmbedding | None:
    """The embedding ``cfg["position_embedding"]`` names, sized by the ``position_*`` keys, or ``None``.

    Coordinates reach it in ``[-1, 1]``; ``positions`` (how many distinct positions a coordinate
    takes) sets the sinusoidal ``scale`` so that neighbouring positions are one unit apart, as the
    integer positions of the original transformer embedding.
    """
    kind = cfg.get("position_embedding", "none")
    if kind not in CHOICES:
        raise ValueError(f"position_embedding must be one of {', '.join(CHOICES)}; got {kind!r}")
    if kind == "none":
        return None
    if kind in ("continuous", "discontinuous"):
        return positional_embedding(kind, cfg["position_n"], cfg["position_segments"])
    if kind == "fourier":
        return positional_embedding(kind, cfg["position_frequencies"])
    return positional_embedding(kind, cfg["position_features"], scale=max(positions - 1, 1) / 2)
