"""Compile the Triton kernels to NVIDIA machine code without a GPU (run by test_triton_kernel.py).

Triton ships its own ``ptxas``, so a kernel can be lowered all the way to a cubin for a chosen
architecture on any machine. That checks what Triton's interpreter does not: the typing rules of
compiled kernels (loop-carried values, casts, scans, atomics) and the lowering itself.

    python tests/triton_compile_check.py 90 80

Must run without ``TRITON_INTERPRET`` (under it the kernels are interpreted functions).
"""

from __future__ import annotations

import sys

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from high_order_layers_torch.kernels import _gather_triton
from high_order_layers_torch.kernels import _gather_triton_kernels as kernels

#: (K, segments, stride, clamp, save pieces and input gradient, B-splines): a typical hidden layer,
#: a first layer of piecewise constants (stride 0), and cubic B-splines on a grid of 80.
CONFIGS = [(5, 64, 4, True, True, False), (1, 3, 0, False, False, False), (4, 80, 1, True, True, True)]


def forward_signature(dtype: str, save_piece: bool) -> dict[str, str]:
    pointers = ("x_ptr", "slabs_ptr", "nodes_ptr", "weights_ptr", "y_ptr")
    signature = {name: f"*{dtype}" for name in pointers}
    signature["piece_ptr"] = "*i32" if save_piece else f"*{dtype}"
    signature |= {name: "i32" for name in ("B", "INPUTS", "INPUTS_PER_SPLIT", "OUTPUTS", "SLAB_SIZE")}
    return signature


def backward_signature(dtype: str) -> dict[str, str]:
    signature = {name: f"*{dtype}" for name in ("grad_ptr", "x_ptr", "slabs_ptr")}
    signature |= {"order_ptr": "*i64", "sorted_piece_ptr": "*i32"}
    signature |= {name: f"*{dtype}" for name in ("nodes_ptr", "weights_ptr", "grad_x_ptr", "grad_slabs_ptr")}
    signature |= {name: "i32" for name in ("B", "OUTPUTS", "SLAB_SIZE")}
    return signature


def tile(sizes: tuple[int, int]) -> dict[str, int]:
    return {"BLOCK_B": sizes[0], "BLOCK_O": sizes[1]}


def compile_all(architecture: int) -> None:
    target = GPUTarget("cuda", architecture, 32)
    for dtype in ("fp32", "fp64"):
        for k, segments, stride, clamp, save_piece, bspline in CONFIGS:
            basis = {"SEGMENTS": segments, "STRIDE": stride, "K": k, "CLAMP": clamp, "BSPLINE": bspline}
            forward = (
                kernels.gather_forward_kernel,
                forward_signature(dtype, save_piece),
                {"SAVE_PIECE": save_piece, **tile(_gather_triton.FORWARD_TILE)},
            )
            backward = (
                kernels.gather_backward_kernel,
                backward_signature(dtype),
                {"NEED_X": save_piece, **tile(_gather_triton.BACKWARD_TILE)},
            )
            for kernel, signature, extra in (forward, backward):
                constants = basis | extra
                signature |= dict.fromkeys(constants, "constexpr")
                compiled = triton.compile(
                    ASTSource(kernel, signature, constants), target=target, options=_gather_triton.LAUNCH_OPTIONS
                )
                assert compiled.asm["cubin"], f"no machine code for {kernel.__name__}"
                print(f"sm_{architecture} {kernel.__name__} {dtype} K={k}: {len(compiled.asm['cubin'])} bytes")


if __name__ == "__main__":
    for architecture in sys.argv[1:]:
        compile_all(int(architecture))
