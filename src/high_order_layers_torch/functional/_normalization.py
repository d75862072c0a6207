"""Parameter-free normalisations that keep activations inside ``[-1, 1]``.

Both work per sample: the first axis is the batch, and the statistics are taken over every
other axis, so the same function serves flat ``(B, F)`` features and ``(B, C, *spatial)`` maps.
"""

from __future__ import annotations

from torch import Tensor

from .._validation import check_float


def _check_batched(x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"input must be a Tensor, got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError("input must have a batch axis, shape (B, *); got a 0-d tensor")
    if not x.is_floating_point():
        raise TypeError(f"input must be a floating-point tensor, got dtype {x.dtype}")


def _check_eps(eps: object) -> float:
    value = check_float("eps", eps)
    if value < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {value}")
    return value


def _sample_axes(x: Tensor) -> tuple[int, ...]:
    return tuple(range(1, x.dim()))


def max_abs_normalize(x: Tensor, eps: float = 1e-6) -> Tensor:
    """``x / (max|x| + eps)`` with the maximum taken per sample over all non-batch axes.

    Every sample then lies in ``[-1, 1]``, and its largest magnitude is ``1 - O(eps / max|x|)``.
    A 1-d input ``(B,)`` holds one value per sample, so each maps to about ``sign(x)``.

    Args:
        x: the batch.
        eps: added to the denominator (``>= 0``); with ``eps > 0`` an all-zero sample stays zero.

    Shape:
        x: ``(B, *)``. Output: same as ``x``.

    Raises:
        TypeError: for a non-tensor or an integer tensor.
        ValueError: for a 0-d tensor or a negative ``eps``.

    Example:
        >>> max_abs_normalize(torch.tensor([[1.0, -4.0], [0.5, 0.25]]), eps=0.0)
        tensor([[ 0.2500, -1.0000],
                [ 1.0000,  0.5000]])
    """
    _check_batched(x)
    eps = _check_eps(eps)
    if x.dim() == 1:
        return x / (x.abs() + eps)
    scale = x.abs().amax(dim=_sample_axes(x), keepdim=True)  # (B, 1, ..., 1)
    return x / (scale + eps)


def max_center_normalize(x: Tensor, eps: float = 1e-6) -> Tensor:
    """``2 (x - min) / (max - min + eps) - 1`` per sample over all non-batch axes.

    An affine map of each sample onto ``[-1, 1]``: its minimum goes exactly to ``-1`` and its
    maximum to ``1 - O(eps / (max - min))``. Unlike :func:`max_abs_normalize` it also removes the
    offset, so the whole range of the link functions is used. A constant sample maps to ``-1``.

    Args:
        x: the batch.
        eps: added to the denominator (``>= 0``); with ``eps > 0`` a constant sample does not
            divide by zero.

    Shape:
        x: ``(B, *)``. Output: same as ``x``.

    Raises:
        TypeError: for a non-tensor or an integer tensor.
        ValueError: for a 0-d or 1-d tensor (one value per sample has no range), or a
            negative ``eps``.

    Example:
        >>> max_center_normalize(torch.tensor([[1.0, 3.0, 2.0]]), eps=1e-12)
        tensor([[-1.,  1.,  0.]])
    """
    _check_batched(x)
    if x.dim() == 1:
        raise ValueError(
            f"max_center_normalize needs at least one feature axis, shape (B, F, ...); got {tuple(x.shape)}"
        )
    eps = _check_eps(eps)
    axes = _sample_axes(x)
    low = x.amin(dim=axes, keepdim=True)  # (B, 1, ..., 1)
    high = x.amax(dim=axes, keepdim=True)
    return 2 * (x - low) / (high - low + eps) - 1
