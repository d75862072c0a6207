"""Speed of the high-order 2-d convolution against ordinary convolutions timed in the same run.

    python -m benchmarks.bench_conv [--quick] [--repeats 30] [--system-allocator] [--device cuda]
                                    [--autocast bf16] [--out results/bench_conv.md]

    python -m benchmarks.bench_conv --sweep-only --no-compile   # the segment sweep alone

Workload: batch 64, 3 x 32 x 32 -> 16 channels, kernel 3, n = 3, continuous piecewise
polynomials with 1, 2, 4, 16 and 64 segments, float32, 2 threads. Forward (under ``no_grad``) and
forward+backward (input requiring grad, as in a hidden layer), median of repeated runs after
warm-up, layer and floor timed alternately (the ratio is the median of per-pair ratios). Each
row's time is printed as a multiple of its floor ``nn.Conv2d(3 * M, 16, 3)`` on a
ready-made ``(64, 3 * M, 32, 32)`` input, ``M`` being the weights per link: the convolution the
layer runs after its basis expansion, so the ratio is the price of the expansion.
``nn.Conv2d(3, 16, 3)`` is timed as well for scale. The script restarts itself with glibc malloc
set to keep freed memory (see ``benchmarks/_timing.py``; ``--system-allocator`` keeps the defaults).
``--device cuda`` runs the same cases on the GPU (every step ends with a synchronise) and
``--autocast bf16`` runs every step, floors included, under ``torch.autocast(dtype=bfloat16)``.
The "compiled / eager" column times ``torch.compile(layer)`` (Inductor) forward+backward against
the eager layer, alternately in the same run (``--no-compile`` and ``--quick`` skip it).

The segment sweep times ``continuous2d`` forward+backward with ``contraction="dense"``,
``"gather"`` and ``"auto"`` at 1, 4, 16 and 64 segments on two shapes (3 -> 16 channels at 32 x 32,
16 -> 32 at 16 x 16), each alternately with ``nn.Conv2d(C * n, O, 3)`` (the multiply-adds a gather
does), and the memory a step holds between forward and backward (tensors saved for the backward,
plus the output).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from benchmarks._timing import (
    allocator_note,
    device_name,
    interleaved_ms,
    median_ms,
    reexec_with_steady_allocator,
)
from high_order_layers_torch.layers import high_order_convolution_layers

BATCH, CHANNELS, SIZE, OUT, KERNEL, N = 64, 3, 32, 16, 3, 3
SEGMENTS = (1, 2, 4, 16, 64)

#: Where the cases run and the autocast dtype of every step; ``--device`` and ``--autocast`` set them.
DEVICE = torch.device("cpu")
AUTOCAST: torch.dtype | None = None
#: Whether rows get the compiled / eager ratio (``--no-compile`` turns it off).
COMPILE = True


def steps(module: nn.Module, channels: int) -> tuple[Callable[[], object], Callable[[], None]]:
    """Forward and forward+backward steps of ``module`` on a random ``(B, channels, 32, 32)`` input."""
    return steps_sized(module, channels, SIZE)


def steps_sized(module: nn.Module, channels: int, size: int) -> tuple[Callable[[], object], Callable[[], None]]:
    """Forward and forward+backward steps of ``module`` on a random ``(B, channels, size, size)`` input."""
    module.to(DEVICE)
    x = torch.rand(BATCH, channels, size, size, device=DEVICE) * 2 - 1
    x_grad = x.clone().requires_grad_()
    synchronize = torch.cuda.synchronize if DEVICE.type == "cuda" else lambda: None

    def autocast():
        return torch.autocast(DEVICE.type, dtype=AUTOCAST, enabled=AUTOCAST is not None)

    def forward() -> object:
        with torch.no_grad(), autocast():
            y = module(x)
        synchronize()
        return y

    def forward_backward() -> None:
        x_grad.grad = None
        module.zero_grad(set_to_none=True)
        with autocast():
            y = module(x_grad)
        y.float().sum().backward()
        synchronize()

    return forward, forward_backward


def run(repeats: int, warmup: int) -> list[dict]:
    rows = []
    plain_forward, plain_backward = steps(nn.Conv2d(CHANNELS, OUT, KERNEL), CHANNELS)
    plain = (median_ms(plain_forward, repeats, warmup), median_ms(plain_backward, repeats, warmup))
    rows.append({"case": f"nn.Conv2d({CHANNELS}, {OUT}, {KERNEL})", "times": plain, "floor": None, "ratios": None})
    for segments in SEGMENTS:
        layer = high_order_convolution_layers(
            "continuous2d", n=N, in_channels=CHANNELS, out_channels=OUT, kernel_size=KERNEL, segments=segments
        )
        weights = layer.basis.num_weights
        forward, forward_backward = steps(layer, CHANNELS)
        floor_forward, floor_backward = steps(
            nn.Conv2d(CHANNELS * weights, OUT, KERNEL, bias=False), CHANNELS * weights
        )
        fwd, floor_fwd, fwd_ratio = interleaved_ms(forward, floor_forward, repeats, warmup)
        fwd_bwd, floor_fwd_bwd, fwd_bwd_ratio = interleaved_ms(forward_backward, floor_backward, repeats, warmup)
        compiled = None
        if COMPILE:
            _, compiled_backward = steps(torch.compile(layer), CHANNELS)
            _, _, compiled = interleaved_ms(compiled_backward, forward_backward, repeats, warmup)
            torch._dynamo.reset()
        rows.append(
            {
                "case": f"continuous2d segments={segments} (M={weights})",
                "times": (fwd, fwd_bwd),
                "floor": (floor_fwd, floor_fwd_bwd),
                "ratios": (fwd_ratio, fwd_bwd_ratio),
                "compiled": compiled,
            }
        )
        print(
            f"{rows[-1]['case']:36s} fwd {fwd:8.2f} ms ({fwd_ratio:5.2f}x)  "
            f"fwd+bwd {fwd_bwd:8.2f} ms ({fwd_bwd_ratio:5.2f}x)"
            + ("" if compiled is None else f"  compiled/eager {compiled:5.2f}"),
            flush=True,
        )
    return rows


#: The segment sweep's shapes: (in channels, out channels, image size), batch 64, kernel 3, padding 1.
SWEEP_SHAPES = ((3, 16, 32), (16, 32, 16))
SWEEP_SEGMENTS = (1, 4, 16, 64)


def saved_mb(module: nn.Module, x: torch.Tensor) -> float:
    """Memory a training step holds between forward and backward: the bytes of every tensor
    autograd saves for the backward (parameters excluded), plus the output, in MB."""
    parameters = {p.data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.data_ptr() not in parameters:
            seen[tensor.data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        y = module(x.clone().requires_grad_())
    return (sum(seen.values()) + y.numel() * y.element_size()) / 2**20


def sweep(repeats: int, warmup: int) -> tuple[list[dict], list[str]]:
    """Forward+backward of ``continuous2d`` (n = 3, padding 1) under each contraction and
    ``"auto"``, at 1 to 64 segments, each timed alternately with ``nn.Conv2d(C * n, O, 3)``: the
    convolution over ``C * n`` channels a gather does the multiply-adds of."""
    rows, summary = [], []
    for channels, out, size in SWEEP_SHAPES:
        shape = f"{channels}->{out} {size}x{size}"
        _, floor = steps_sized(nn.Conv2d(channels * N, out, KERNEL, padding=1, bias=False), channels * N, size)
        auto_ms: dict[int, float] = {}
        auto_mb: dict[int, float] = {}
        for segments in SWEEP_SEGMENTS:
            for contraction in ("dense", "gather", "auto"):
                if segments == 1 and contraction == "gather":
                    continue  # one piece: every weight is active, the layer always runs dense
                layer = high_order_convolution_layers(
                    "continuous2d", N, channels, out, KERNEL, segments=segments, padding=1, contraction=contraction
                ).to(DEVICE)
                _, step = steps_sized(layer, channels, size)
                ms, floor_ms, ratio = interleaved_ms(step, floor, repeats, warmup)
                x = torch.rand(BATCH, channels, size, size, device=DEVICE) * 2 - 1
                mb = saved_mb(layer, x)
                if contraction == "auto":
                    auto_ms[segments], auto_mb[segments] = ms, mb
                rows.append(
                    {
                        "shape": shape,
                        "segments": segments,
                        "contraction": contraction,
                        "ms": ms,
                        "ratio": ratio,
                        "mb": mb,
                    }
                )
                print(
                    f"{shape:14s} segments={segments:3d} {contraction:6s} fwd+bwd {ms:8.2f} ms "
                    f"({ratio:5.2f}x conv(C*n))  saved {mb:7.2f} MB",
                    flush=True,
                )
        if not {1, 64} <= auto_ms.keys():
            continue  # the summary compares 64 segments with 1
        one = next(r for r in rows if r["shape"] == shape and r["segments"] == 1 and r["contraction"] == "auto")
        summary.append(
            f"- {shape}: auto fwd+bwd at 64 segments / at 1 segment = {auto_ms[64] / auto_ms[1]:.2f}; "
            f"1 segment / nn.Conv2d({channels * N}, {out}, 3) = {one['ratio']:.2f}; "
            f"saved memory at 64 / at 1 = {auto_mb[64] / auto_mb[1]:.2f}"
        )
    return rows, summary


def sweep_table(rows: list[dict]) -> str:
    lines = [
        "| shape | segments | contraction | fwd+bwd ms | x nn.Conv2d(C * n, O, 3) | saved MB |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        cells = (r["shape"], r["segments"], r["contraction"], f"{r['ms']:.2f}", f"{r['ratio']:.2f}", f"{r['mb']:.2f}")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    lines = [
        "| case | fwd ms | floor fwd ms | fwd x floor | fwd+bwd ms | floor fwd+bwd ms | fwd+bwd x floor "
        "| compiled / eager |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        (fwd, fwd_bwd), floor, ratios = row["times"], row["floor"], row["ratios"]
        compiled = "" if row.get("compiled") is None else f"{row['compiled']:.2f}"
        if floor is None:
            lines.append(f"| {row['case']} | {fwd:.2f} | | | {fwd_bwd:.2f} | | | |")
        else:
            lines.append(
                f"| {row['case']} | {fwd:.2f} | {floor[0]:.2f} | {ratios[0]:.2f} | "
                f"{fwd_bwd:.2f} | {floor[1]:.2f} | {ratios[1]:.2f} | {compiled} |"
            )
    return "\n".join(lines)


def main() -> None:
    global DEVICE, AUTOCAST, COMPILE, BATCH, SWEEP_SEGMENTS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 repeats after 1 warm-up: a smoke run")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--system-allocator", action="store_true", help="keep glibc's malloc defaults (noisier timings)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled / eager column")
    parser.add_argument("--sweep-only", action="store_true", help="only the segment sweep (dense, gather, auto)")
    parser.add_argument("--autocast", choices=["bf16"], help="run every step under torch.autocast(dtype=bfloat16)")
    parser.add_argument(
        "--segments", help=f"comma-separated segment counts of the sweep (default {','.join(map(str, SWEEP_SEGMENTS))})"
    )
    parser.add_argument("--batch", type=int, default=BATCH, help=f"batch size (default {BATCH})")
    parser.add_argument("--out", type=Path, help="markdown file (default results/bench_conv.md; --quick writes none)")
    args = parser.parse_args()
    BATCH = args.batch
    if args.segments:
        SWEEP_SEGMENTS = tuple(int(s) for s in args.segments.split(","))
    COMPILE = not (args.no_compile or args.quick)
    DEVICE = torch.device(args.device)
    AUTOCAST = torch.bfloat16 if args.autocast == "bf16" else None
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is available")
    reexec_with_steady_allocator(not args.system_allocator)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    repeats, warmup = (2, 1) if args.quick else (max(args.repeats, 10), 3)
    title = (
        f"## High-order Conv2d (batch {BATCH}, {CHANNELS}x{SIZE}x{SIZE} -> {OUT}, kernel {KERNEL}, n = {N}, "
        f"{'bf16 autocast' if AUTOCAST is not None else 'float32'}, {device_name(DEVICE)}"
        f"{'' if DEVICE.type == 'cuda' else ', 2 threads'}; floor = nn.Conv2d(3 * M, 16, 3))"
    )
    report = [title, "", f"Allocator: {allocator_note()}.", ""]
    if not args.sweep_only:
        report.append(table(run(repeats, warmup)))
    sweep_rows, summary = sweep(repeats, warmup)
    report += [
        "",
        f"### Segment sweep: dense, gather and auto (batch {BATCH}, kernel 3, padding 1, n = {N}, "
        f"{device_name(DEVICE)}{'' if DEVICE.type == 'cuda' else ', 2 threads'})",
        "",
        sweep_table(sweep_rows),
        "",
        *summary,
    ]
    if args.quick:
        report.insert(1, "\n(--quick smoke run: too few repeats for real timings)")
    print("\n".join(report))
    out = args.out or (None if args.quick else Path("results/bench_conv.md"))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(report) + "\n")
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
