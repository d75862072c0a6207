"""Which input element each output position of a convolution reads through each kernel tap.

A convolution (or transposed convolution) in any number of spatial dimensions, with any stride,
padding and dilation, is described by one integer table ``taps[r, j]``: the flat index of the
input position that output position ``r`` reads through kernel tap ``j``, or ``-1`` where it reads
none (zero padding, the holes between strided inputs of a transposed convolution). The gather
convolutions compute from this table alone, so the geometry is handled once, here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def convolution_output_size(
    input_size: Sequence[int],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
) -> tuple[int, ...]:
    """The spatial output size of :func:`torch.nn.functional.conv2d` (or ``conv_transpose2d``
    with ``transposed``) and the other dimensions, for these arguments."""
    if transposed:
        return tuple(
            (size - 1) * step - 2 * pad + rate * (k - 1) + extra + 1
            for size, k, step, pad, rate, extra in zip(
                input_size, kernel_size, stride, padding, dilation, output_padding, strict=True
            )
        )
    return tuple(
        (size + 2 * pad - rate * (k - 1) - 1) // step + 1
        for size, k, step, pad, rate in zip(input_size, kernel_size, stride, padding, dilation, strict=True)
    )


def convolution_taps(
    input_size: Sequence[int],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool = False,
    output_padding: Sequence[int] | None = None,
) -> Tensor:
    """The table ``taps[r, j]`` of a convolution's reads (see the module docstring).

    For a convolution, output position ``q`` reads input ``q * stride - padding + j * dilation``
    (per dimension); for a transposed convolution, output ``r`` receives input ``p`` through tap
    ``j`` where ``p * stride - padding + j * dilation = r``. Positions and taps are flattened in
    row-major order (the order of ``tensor.flatten()`` and of a weight's kernel axes).

    Shape:
        Output: ``(R, J)`` int32 on the CPU, ``R = prod(output size)``, ``J = prod(kernel_size)``.
    """
    dims = len(input_size)
    extra = (0,) * dims if output_padding is None else tuple(output_padding)
    output_size = convolution_output_size(input_size, kernel_size, stride, padding, dilation, transposed, extra)
    flat = torch.zeros([1] * (2 * dims), dtype=torch.int64)
    valid = torch.ones([1] * (2 * dims), dtype=torch.bool)
    inner = 1  # elements per step along dimension d of the input
    for d in reversed(range(dims)):
        out = torch.arange(output_size[d]).unsqueeze(1)  # (R_d, 1)
        tap = torch.arange(kernel_size[d]).unsqueeze(0) * dilation[d]  # (1, k_d)
        if transposed:
            shifted = out + padding[d] - tap
            position = torch.div(shifted, stride[d], rounding_mode="floor")
            ok = (shifted % stride[d] == 0) & (position >= 0) & (position < input_size[d])
        else:
            position = out * stride[d] - padding[d] + tap
            ok = (position >= 0) & (position < input_size[d])
        shape = [1] * (2 * dims)
        shape[d], shape[dims + d] = output_size[d], kernel_size[d]
        flat = flat + (position * inner).view(shape)
        valid = valid & ok.view(shape)
        inner *= input_size[d]
    taps = torch.where(valid, flat, -1)
    return taps.reshape(math.prod(output_size), math.prod(kernel_size)).to(torch.int32)
