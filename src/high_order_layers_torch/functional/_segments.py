"""Locating the piece of ``[-1, 1]`` a value falls into."""

from __future__ import annotations

from torch import Tensor


def piecewise_sizes(n: int, segments: int, continuous: bool) -> tuple[int, int]:
    """``(stride, num_weights)`` of a piecewise basis with ``n`` nodes on each of ``segments``
    pieces: piece ``s`` uses weights ``s * stride .. s * stride + n - 1``. Continuous pieces share
    their end node (``stride = n - 1``, ``segments * (n - 1) + 1`` weights); discontinuous ones do
    not (``stride = n``, ``segments * n`` weights)."""
    stride = n - 1 if continuous else n
    return stride, segments * stride + (1 if continuous else 0)


def locate_segments(x: Tensor, segments: int) -> tuple[Tensor, Tensor]:
    """Split ``[-1, 1]`` into ``segments`` equal pieces and find each value's piece.

    The piece index is ``floor((x + 1) / 2 * segments)`` limited to ``[0, segments - 1]`` (so
    ``x = 1`` belongs to the last piece and values outside ``[-1, 1]`` to the end pieces, which
    then extrapolate). The local coordinate maps the piece affinely onto ``[-1, 1]``.
    A NaN value gets piece 0 and a NaN local coordinate, so NaN propagates.

    Args:
        x: values, any shape.
        segments: number of pieces, ``>= 1``.

    Returns:
        ``(index, t)``: ``index`` is int64 with the shape of ``x``; ``t`` has the shape and
        dtype of ``x``.
    """
    # In-place steps on fresh temporaries: fewer large allocations, which dominate on the CPU.
    scaled = (x + 1).mul_(0.5 * segments)
    # clamp_min_ and clamp_max_ have vmap batching rules (clamp_ does not, in torch 2.13)
    piece = scaled.detach().floor().clamp_min_(0).clamp_max_(segments - 1)
    t = (scaled - piece).mul_(2).sub_(1)
    index = piece.nan_to_num_(nan=0.0).long()
    return index, t
