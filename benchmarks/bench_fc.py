"""Speed and memory of the fully-connected layers against linear baselines timed in the same run.

    python -m benchmarks.bench_fc [--quick] [--repeats 20] [--system-allocator] [--device cuda]
                                  [--no-kan | --kan-only] [--kan-repeats 3] [--out results/bench_fc.md]

Workload: batch 1024, 784 -> 128, n = 5, float32, 2 threads; forward and forward+backward with
an input that requires grad (as in a hidden layer); median of repeated runs after warm-up.
Every time is printed as a multiple of the floor ``nn.Linear(784 * 5, 128)`` (the multiply-adds of
one active segment) of the same shape, timed alternately with the case (the ratio is the median of
per-pair ratios). The script restarts itself with glibc malloc set to keep freed memory (see
``benchmarks/_timing.py``; ``--system-allocator`` keeps the defaults). Peak extra memory of one
forward+backward, gradients included (high-water RSS minus RSS before the step, in a child
process whose allocator returns large blocks on free; Linux ``/proc``), is given relative to the
floor's.
A scaling sweep follows: how cost grows with batch, input and output width, n and segments.

A KAN table sets cubic-spline layers side by side at grid 5 and 80 (intervals on ``[-1, 1]``):
``bspline`` (n = 4) where this checkout has it, and the KAN libraries of the ``peers`` extra
that import (``benchmarks/_peers.py``), each against the floor ``nn.Linear(784 * 4, 128)`` (the
multiply-adds of four active basis values per input) timed alternately with it. pykan builds
``(batch, out, in)`` intermediates (several GB at grid 80) and takes seconds a step, so these rows
run ``--kan-repeats`` times (default 3) after one warm-up; ``--no-kan`` skips them, ``--kan-only``
runs only them.

The "compiled / eager" column times ``torch.compile(layer)`` (Inductor, default options)
forward+backward against the eager layer, interleaved in the same run (``--no-compile`` skips
it): the kernels are registered operators, so compiled graphs call the same kernels.

``--device cuda`` runs the same cases on the GPU (every step ends with a synchronise; memory is
the peak of ``torch.cuda.max_memory_allocated`` above the allocation before the step) and also
reports the segments=64 / segments=1 time ratio of the continuous layers.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from benchmarks import _peers
from benchmarks._timing import (
    allocator_note,
    cpu_name,
    interleaved_ms,
    median_ms,
    peak_extra_mb,
    reexec_with_steady_allocator,
)
from high_order_layers_torch.layers import high_order_fc_layers

BATCH, IN, OUT, N = 1024, 784, 128, 5

#: Where the cases run; ``--device`` sets it.
DEVICE = torch.device("cpu")
#: ``torch.autocast`` dtype of every step (``--autocast bf16``), or ``None`` for plain float32.
AUTOCAST: torch.dtype | None = None
#: Whether the main table gets the compiled / eager column (``--no-compile`` turns it off).
COMPILE = True


def autocast():
    """The autocast context of a step (a no-op without ``--autocast``)."""
    return torch.autocast(DEVICE.type, dtype=AUTOCAST, enabled=AUTOCAST is not None)


#: Grid intervals of the KAN rows (cubic splines; KANditioned's are linear).
KAN_GRIDS = (5, 80)
#: KAN peer row kind -> (importable module, ``(in, out, grid) -> layer``), see ``benchmarks/_peers.py``.
PEER_LAYERS = {
    "pykan": ("kan", _peers.pykan_layer),
    "inkan": ("inkan", _peers.inkan_layer),
    "inkan eager": ("inkan", functools.partial(_peers.inkan_layer, compile_basis=False)),
    "kanditioned (linear)": ("KANditioned", _peers.kanditioned_layer),
}


def build(case: dict) -> tuple[nn.Module, int]:
    """The module of a case and the width of its input."""
    kind = case["kind"]
    width = case.get("in", IN)
    out = case.get("out", OUT)
    n = case.get("n", N)
    if kind == "floor":
        return nn.Linear(width * n, out), width * n
    if kind == "linear_relu":
        return nn.Sequential(nn.Linear(width, out), nn.ReLU()), width
    if kind in PEER_LAYERS:
        return PEER_LAYERS[kind][1](width, out, grid=case["grid"]), width
    layer = high_order_fc_layers(kind, n=n, in_features=width, out_features=out, segments=case.get("segments", 1))
    if "contraction" in case:
        layer.contraction = case["contraction"]
    return layer, width


def step_fns(case: dict, *, compiled: bool = False):
    """``(forward, forward_backward, clear)`` closures for one case; ``clear`` drops gradients.
    With ``compiled``, the steps run ``torch.compile`` of the case's module."""
    module, width = build(case)
    module.to(DEVICE)
    if compiled:
        module = torch.compile(module)
    x = torch.rand(case.get("batch", BATCH), width, device=DEVICE) * 2 - 1
    x_grad = x.clone().requires_grad_()
    synchronize = torch.cuda.synchronize if DEVICE.type == "cuda" else lambda: None

    def forward():
        with torch.no_grad(), autocast():
            y = module(x)
        synchronize()
        return y

    def clear():
        x_grad.grad = None
        module.zero_grad(set_to_none=True)

    def forward_backward():
        clear()
        with autocast():
            y = module(x_grad)
        y.float().sum().backward()
        synchronize()

    return forward, forward_backward, clear


def label(case: dict) -> str:
    parts = [case["kind"]]
    if "segments" in case:
        parts.append(f"segments={case['segments']}")
    if "grid" in case:
        parts.append(f"grid={case['grid']}")
    if "contraction" in case:
        parts.append(case["contraction"])
    for key in ("batch", "in", "out", "n"):
        if key == "n" and case["kind"] in PEER_LAYERS:  # a peer's order is in the table's heading
            continue
        if key in case:
            parts.append(f"{key}={case[key]}")
    return " ".join(parts)


def main_cases() -> list[dict]:
    cases: list[dict] = [{"kind": "floor"}, {"kind": "linear_relu"}]
    for kind in ("continuous", "discontinuous"):
        for segments in (1, 2, 4, 16, 64):
            cases.append({"kind": kind, "segments": segments})
    for segments in (2, 4, 16, 64):
        for contraction in ("dense", "gather"):
            cases.append({"kind": "continuous", "segments": segments, "contraction": contraction})
    cases += [{"kind": "polynomial"}, {"kind": "fourier"}]
    cases += [{"kind": k, "segments": 2} for k in ("continuous_prod", "discontinuous_prod")]
    cases += [{"kind": "polynomial_prod"}, {"kind": "product"}]
    return cases


def kan_available(case: dict) -> bool:
    """Whether a KAN row can run here: its peer package imports, or (our ``bspline`` rows) the
    layer type is registered."""
    if case["kind"] in PEER_LAYERS:
        return _peers.import_peer(PEER_LAYERS[case["kind"]][0]) is not None
    if case["kind"] == "bspline":
        try:
            build(case)
        except ValueError:  # an unknown layer_type: not in this checkout yet
            return False
    return True


def kan_cases() -> list[dict]:
    """Cubic-spline layers at :data:`KAN_GRIDS` intervals: ours (``bspline``, ``n = 4``) and the
    KAN peers that import, against the floor of 4 active values per input (``n = 4``)."""
    cases: list[dict] = [{"kind": "floor", "n": 4}]
    for grid in KAN_GRIDS:
        cases.append({"kind": "bspline", "n": 4, "segments": grid})
        cases += [{"kind": kind, "n": 4, "grid": grid} for kind in PEER_LAYERS]
    return [case for case in cases if kan_available(case)]


def run_kan(cases: list[dict], repeats: int, warmup: int) -> list[dict]:
    """:func:`run_without_compile` one case at a time: a peer row that fails here (inkan's
    compiled basis needs a working C++ compiler on the CPU, say) is reported and skipped, not
    fatal to the rest of the table."""
    rows = []
    for case in cases:
        try:
            rows += run_without_compile([case], repeats, warmup)
        except Exception as error:  # a peer library's failure, not ours: skip its row
            if case["kind"] not in PEER_LAYERS:
                raise
            print(f"{label(case)}: skipped ({type(error).__name__}: {error})", flush=True)
    return rows


def sweep_cases() -> list[dict]:
    cases: list[dict] = [{"kind": "floor"}]
    for batch in (256, 1024, 4096):
        cases += [{"kind": "floor", "batch": batch}, {"kind": "continuous", "segments": 4, "batch": batch}]
    for width in (256, 784, 2048):
        cases += [{"kind": "floor", "in": width}, {"kind": "continuous", "segments": 4, "in": width}]
    for width in (32, 128, 512):
        cases += [{"kind": "floor", "out": width}, {"kind": "continuous", "segments": 4, "out": width}]
    for n in (2, 3, 5, 8):
        cases += [{"kind": "floor", "n": n}, {"kind": "continuous", "segments": 4, "n": n}]
    for segments in (1, 4, 16, 64, 256):
        cases.append({"kind": "continuous", "segments": segments})
    return cases


def memory_child_run(cases: list[dict]) -> dict[str, float]:
    """Peak extra MB of one forward+backward per case, in a child process whose allocator returns
    every block over 64 KiB to the system on free, so resident memory tracks live tensors."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_fc", "--memory-cases", json.dumps(cases)]
        + (["--autocast", "bf16"] if AUTOCAST is not None else []),
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_child(cases: list[dict]) -> None:
    torch.set_num_threads(2)
    result = {}
    for case in cases:
        _, forward_backward, clear = step_fns(case)
        forward_backward()  # first call: lazily built kernels and caches
        clear()  # measure from no gradients: the gradients count as the step's memory
        result[label(case)] = peak_extra_mb(forward_backward)
    print(json.dumps(result))


def cuda_memory(cases: list[dict]) -> dict[str, float]:
    """Peak extra MB of one forward+backward per case on the GPU, gradients included."""
    result = {}
    for case in cases:
        _, forward_backward, clear = step_fns(case)
        forward_backward()
        clear()
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        forward_backward()
        result[label(case)] = (torch.cuda.max_memory_allocated() - before) / 2**20
    return result


def floor_case(case: dict) -> dict:
    """The floor of the same batch, width and ``n`` as ``case``."""
    return {"kind": "floor", **{key: case[key] for key in ("batch", "in", "out", "n") if key in case}}


def compiled_ratio(case: dict, repeats: int) -> float | None:
    """Median ratio of compiled to eager forward+backward, timed alternately (``None`` where the
    case is a baseline or compiling is switched off)."""
    if not COMPILE or case["kind"] in ("floor", "linear_relu"):
        return None
    _, compiled_step, _ = step_fns(case, compiled=True)
    compiled_step()  # compiles (forward and backward graphs)
    _, eager_step, _ = step_fns(case)
    _, _, ratio = interleaved_ms(compiled_step, eager_step, repeats)
    torch._dynamo.reset()
    return ratio


def run(cases: list[dict], repeats: int, memory: bool, warmup: int = 3) -> list[dict]:
    rows = []
    memory_mb: dict[str, float] = {}
    if memory:
        memory_mb = cuda_memory(cases) if DEVICE.type == "cuda" else memory_child_run(cases)
    for case in cases:
        floor = floor_case(case)
        mem = memory_mb.get(label(case))
        if case["kind"] == "floor":
            forward, forward_backward, _ = step_fns(case)
            # the first case of a run: a longer warm-up, so its own time is not a cold start's
            fwd, fwd_bwd = (
                median_ms(forward, repeats, warmup=repeats),
                median_ms(forward_backward, repeats, warmup=repeats),
            )
            ratios = (1.0, 1.0)
        else:
            forward, forward_backward, _ = step_fns(case)
            floor_forward, floor_forward_backward, _ = step_fns(floor)
            fwd, _, fwd_ratio = interleaved_ms(forward, floor_forward, repeats, warmup)
            fwd_bwd, _, fwd_bwd_ratio = interleaved_ms(forward_backward, floor_forward_backward, repeats, warmup)
            ratios = (fwd_ratio, fwd_bwd_ratio)
        compiled = compiled_ratio(case, repeats)
        rows.append(
            {
                "case": label(case),
                "fwd_ms": fwd,
                "fwd_bwd_ms": fwd_bwd,
                "ratios": ratios,
                "mem_mb": mem,
                "floor_mem": memory_mb.get(label(floor)),
                "compiled": compiled,
            }
        )
        print(
            f"{label(case):45s} fwd {fwd:8.2f} ms ({ratios[0]:5.2f}x)  "
            f"fwd+bwd {fwd_bwd:8.2f} ms ({ratios[1]:5.2f}x)"
            + (f"  mem {mem:7.1f} MB" if mem is not None else "")
            + (f"  compiled/eager {compiled:5.2f}" if compiled is not None else ""),
            flush=True,
        )
    return rows


def run_without_compile(cases: list[dict], repeats: int, warmup: int = 3) -> list[dict]:
    global COMPILE
    saved, COMPILE = COMPILE, False
    try:
        return run(cases, repeats, memory=False, warmup=warmup)
    finally:
        COMPILE = saved


def table(rows: list[dict]) -> str:
    lines = [
        "| case | fwd ms | fwd x floor | fwd+bwd ms | fwd+bwd x floor | peak extra MB | mem x floor "
        "| compiled / eager |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mem = "" if r["mem_mb"] is None else f"{r['mem_mb']:.0f}"
        mem_ratio = "" if r["mem_mb"] is None or not r["floor_mem"] else f"{r['mem_mb'] / r['floor_mem']:.2f}"
        compiled = "" if r.get("compiled") is None else f"{r['compiled']:.2f}"
        lines.append(
            f"| {r['case']} | {r['fwd_ms']:.2f} | {r['ratios'][0]:.2f} | {r['fwd_bwd_ms']:.2f} | "
            f"{r['ratios'][1]:.2f} | {mem} | {mem_ratio} | {compiled} |"
        )
    return "\n".join(lines)


def auto_lines(rows: list[dict]) -> list[str]:
    """How ``contraction="auto"`` compares with the better of dense and gather, per segment count
    that has both rows (forward+backward, each as its ratio to the floor timed alternately with it,
    which cancels most of the machine's drift; 1.00 means auto took the faster one)."""
    times = {r["case"]: r["ratios"][1] for r in rows}
    lines = []
    for segments in (2, 4, 16, 64):
        auto = times.get(f"continuous segments={segments}")
        dense, gather = (times.get(f"continuous segments={segments} {name}") for name in ("dense", "gather"))
        if auto is not None and dense is not None and gather is not None:
            best = "dense" if dense < gather else "gather"
            lines.append(
                f"continuous segments={segments}: auto / better of dense and gather ({best}) "
                f"{auto / min(dense, gather):.2f}"
            )
    return lines


def segment_cost_line(rows: list[dict]) -> str:
    """How much more a continuous layer with 64 segments costs than one with a single segment."""
    times = {r["case"]: r for r in rows}
    one, many = times.get("continuous segments=1"), times.get("continuous segments=64")
    if one is None or many is None:
        return ""
    return (
        f"continuous segments=64 / segments=1: forward {many['fwd_ms'] / one['fwd_ms']:.2f}x, "
        f"forward+backward {many['fwd_bwd_ms'] / one['fwd_bwd_ms']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 repeats, no memory, no sweep: a smoke run")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--system-allocator", action="store_true", help="keep glibc's malloc defaults (noisier timings)"
    )
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled / eager column")
    parser.add_argument("--no-kan", action="store_true", help="skip the KAN table (cubic splines, ours and peers)")
    parser.add_argument("--kan-only", action="store_true", help="run only the KAN table")
    parser.add_argument(
        "--kan-repeats", type=int, default=3, help="repeats of the KAN rows (pykan takes seconds a step; --quick: 1)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--autocast", choices=["bf16"], help="run every step under torch.autocast(dtype=bfloat16)")
    parser.add_argument("--out", type=Path, default=Path("results/bench_fc.md"))
    parser.add_argument("--memory-cases", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global DEVICE, AUTOCAST, COMPILE
    COMPILE = not (args.no_compile or args.quick)
    AUTOCAST = torch.bfloat16 if args.autocast == "bf16" else None
    if args.memory_cases:
        memory_child(json.loads(args.memory_cases))
        return
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is available")
    reexec_with_steady_allocator(not args.system_allocator)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    repeats = 3 if args.quick else args.repeats
    where = torch.cuda.get_device_name() if DEVICE.type == "cuda" else f"{cpu_name()}, 2 threads"
    precision = "bf16 autocast" if AUTOCAST is not None else "float32"
    report: list[str] = []
    if not args.kan_only:
        rows = run(main_cases(), repeats, memory=not args.quick)
        report += [
            f"## Fully-connected layers (batch 1024, 784 -> 128, n = 5, {precision}, {where})",
            "",
            f"Allocator: {allocator_note()}.",
            "",
            table(rows),
        ]
        report += ["", *auto_lines(rows)]
        if DEVICE.type == "cuda":
            report += ["", segment_cost_line(rows)]
    if not args.no_kan:
        kan_repeats, kan_warmup = (1, 1) if args.quick else (args.kan_repeats, 1)
        report += [
            "",
            f"## KAN layers: cubic splines on a grid of G intervals (batch 1024, 784 -> 128, {precision}, {where})",
            "",
            f"Ours (`bspline`, n = 4, segments = G) and the KAN libraries installed (the `peers` extra; "
            f"pykan `KANLayer(k=3)`, inkan `KANLayer` with its compiled basis and eager, KANditioned "
            f"piecewise-linear with G + 1 control points), against the floor `nn.Linear(784 * 4, 128)`; "
            f"{kan_repeats} repeat(s) after {kan_warmup} warm-up, no memory or compiled columns. "
            f"Allocator: {allocator_note()}.",
            "",
            table(run_kan(kan_cases(), kan_repeats, kan_warmup)),
        ]
    if not (args.quick or args.no_sweep or args.kan_only):
        report += [
            "",
            "## Scaling sweep (continuous, segments = 4 unless stated)",
            "",
            table(run_without_compile(sweep_cases(), repeats)),
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(report) + "\n")
    print("\n".join(report))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
