"""Speed of the high-order 2-d convolution against ordinary convolutions timed in the same run.

    python -m benchmarks.bench_conv [--quick] [--repeats 30] [--system-allocator] [--device cuda]
                                    [--autocast bf16] [--out results/bench_conv.md]

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
    module.to(DEVICE)
    x = torch.rand(BATCH, channels, SIZE, SIZE, device=DEVICE) * 2 - 1
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 repeats after 1 warm-up: a smoke run")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--system-allocator", action="store_true", help="keep glibc's malloc defaults (noisier timings)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled / eager column")
    parser.add_argument("--autocast", choices=["bf16"], help="run every step under torch.autocast(dtype=bfloat16)")
    parser.add_argument("--out", type=Path, help="markdown file (default results/bench_conv.md; --quick writes none)")
    args = parser.parse_args()
    global DEVICE, AUTOCAST, COMPILE
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
    report = [title, "", f"Allocator: {allocator_note()}.", "", table(run(repeats, warmup))]
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
