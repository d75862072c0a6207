"""GPU measurements that set the GPU routing: dense vs gather vs auto, a training step, Triton tiles.

    python -m benchmarks.bench_gpu [--quick] [--repeats 20] [--out results/bench_gpu.md]
                                   [--sections sweep,train,tiles] [--device cuda]

Three sections, each a table of ratios against baselines timed alternately in the same run
(``benchmarks/_timing.py``; every step ends with a synchronise):

* ``sweep``: continuous layers, 784 -> 128, ``n = 5``, float32, segments 1, 2, 4, 8, 16, 32, 64 and
  256 at batch 4096 and 16384, each with ``contraction = "dense"``, ``"gather"`` and ``"auto"``,
  forward+backward as a multiple of the floor ``nn.Linear(784 * 5, 128)`` of the same batch. Dense
  rows whose expansion would exceed ``--dense-limit-gb`` are left out. The line under the table
  names, per batch, the fewest weights per active one from which gather beat dense: the measured
  GPU threshold (``kernels/_dispatch.py``).
* ``train``: one Adam step of ``HighOrderMLP("continuous", n=5)`` 784 -> 256 -> 256 -> 10 at batch
  4096, eager (the library's kernels) against a ReLU MLP of the same widths and against the same
  network under ``torch.compile`` (which traces the pure-torch reference and lets Inductor fuse it).
* ``tiles``: forward and backward tile sizes of the Triton gather kernels, forward+backward at
  batch 1024 and 16384, segments 64, against the shipped tiles.
* ``profile``: the kernels that take the time of a forward+backward (``torch.profiler``), at
  batch 1024 and 16384 with 1, 2 and 64 segments.

With ``--device cpu`` the same code runs on the CPU (slowly; for dry runs of the script).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks._timing import device_name, interleaved_ms, median_ms
from high_order_layers_torch.kernels import _gather_triton, sum_contraction
from high_order_layers_torch.layers import high_order_fc_layers
from high_order_layers_torch.networks import HighOrderMLP

IN, OUT, N = 784, 128, 5
DEVICE = torch.device("cuda")


def synchronize() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def fc_step(module: nn.Module, batch: int, width: int):
    """A forward+backward step of ``module`` on a random ``(batch, width)`` input that requires grad."""
    module.to(DEVICE)
    x = (torch.rand(batch, width, device=DEVICE) * 2 - 1).requires_grad_()

    def step() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).sum().backward()
        synchronize()

    return step


def floor_step(batch: int):
    return fc_step(nn.Linear(IN * N, OUT), batch, IN * N)


def sweep(repeats: int, quick: bool, dense_limit_gb: float) -> list[str]:
    """Dense vs gather vs auto over segments and batch: rows of a markdown table, then the threshold."""
    lines = [
        "| batch | segments | weights / active | dense x floor | gather x floor | auto x floor | auto picks |"
        " auto / best |",
        "|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    thresholds = []
    batches = (4096,) if quick else (4096, 16384)
    segment_counts = (1, 4, 64) if quick else (1, 2, 4, 8, 16, 32, 64, 256)
    for batch in batches:
        floor = floor_step(batch)
        crossover = None
        for segments in segment_counts:
            ratios: dict[str, float] = {}
            layer = high_order_fc_layers("continuous", n=N, in_features=IN, out_features=OUT, segments=segments)
            basis = layer.basis
            per_active = basis.num_weights / basis.num_active
            dense_gb = batch * segments * N * IN * 4 / 2**30  # the (B, S * n, I) expansion
            for contraction in ("dense", "gather", "auto"):
                if contraction == "dense" and dense_gb > dense_limit_gb:
                    continue
                layer.contraction = contraction
                step = fc_step(layer, batch, IN)
                _, _, ratios[contraction] = interleaved_ms(step, floor, repeats)
                del step
                if DEVICE.type == "cuda":
                    torch.cuda.empty_cache()  # the dense rows' expansions are many GB
            layer.contraction = "auto"
            picks = auto_pick(layer)
            best = min(ratios.get("dense", float("inf")), ratios["gather"])
            # one piece runs the same code either way; otherwise the crossover is where gather
            # starts winning for good (a single noisy win below it does not count)
            if segments > 1:
                gather_wins = ratios["gather"] < ratios.get("dense", float("inf"))
                crossover = (crossover or per_active) if gather_wins else None
            dense = f"{ratios['dense']:.2f}" if "dense" in ratios else f"(skipped: {dense_gb:.0f} GB)"
            lines.append(
                f"| {batch} | {segments} | {per_active:.1f} | {dense} | {ratios['gather']:.2f} | "
                f"{ratios['auto']:.2f} | {picks} | {ratios['auto'] / best:.2f} |"
            )
            print(lines[-1], flush=True)
        thresholds.append(
            f"batch {batch}: gather beat dense from {crossover:.1f} weights per active one on"
            if crossover is not None
            else f"batch {batch}: dense beat gather at every segment count"
        )
    return [*lines, "", *thresholds]


def auto_pick(layer: nn.Module) -> str:
    """What ``contraction="auto"`` resolves to for ``layer`` where it now lives."""
    basis = layer.basis
    return sum_contraction(basis.num_weights, basis.num_active, "auto", layer.weight)


def mlp(kind: str, segments: int) -> nn.Module:
    if kind == "relu":
        return nn.Sequential(nn.Linear(IN, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    return HighOrderMLP(
        "continuous", n=N, in_width=IN, out_width=10, hidden_layers=2, hidden_width=256, segments=segments
    )


def train_step(model: nn.Module, batch: int):
    model.to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, IN, device=DEVICE) * 2 - 1
    target = torch.randint(0, 10, (batch,), device=DEVICE)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), target).backward()
        optimizer.step()
        synchronize()

    return step


def train(repeats: int, quick: bool) -> list[str]:
    batch = 4096
    lines = [
        "| network | params | step ms | x ReLU MLP | compiled step ms | compiled x ReLU MLP | eager / compiled |"
        " compile s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    relu = train_step(mlp("relu", 0), batch)
    median_ms(relu, repeats)
    for segments in (1, 16) if quick else (1, 4, 16, 64):
        torch.manual_seed(0)
        model = mlp("continuous", segments)
        params = sum(p.numel() for p in model.parameters())
        eager = train_step(model, batch)
        eager_ms, _, eager_ratio = interleaved_ms(eager, relu, repeats)
        compiled_model = mlp("continuous", segments)
        compiled_model.load_state_dict(model.state_dict())
        compiled = train_step(torch.compile(compiled_model), batch)
        start = time.perf_counter()
        compiled()
        compiled()
        compile_s = time.perf_counter() - start
        compiled_ms, _, compiled_ratio = interleaved_ms(compiled, relu, repeats)
        lines.append(
            f"| continuous n={N} segments={segments} | {params:,} | {eager_ms:.2f} | {eager_ratio:.2f} | "
            f"{compiled_ms:.2f} | {compiled_ratio:.2f} | {eager_ms / compiled_ms:.2f} | {compile_s:.0f} |"
        )
        print(lines[-1], flush=True)
    relu_params = sum(p.numel() for p in mlp("relu", 0).parameters())
    lines.append(f"| ReLU MLP 784-256-256-10 | {relu_params:,} | {median_ms(relu, repeats):.2f} | 1.00 | | | | |")
    return lines


def tiles(repeats: int, quick: bool) -> list[str]:
    shipped = (_gather_triton.FORWARD_TILE, _gather_triton.BACKWARD_TILE)
    forward_tiles = [(16, 32), (32, 32), (64, 32), (32, 64), (64, 64), (16, 16)]
    backward_tiles = [(32, 16), (16, 16), (64, 16), (32, 32), (64, 32)]
    if quick:
        forward_tiles, backward_tiles = forward_tiles[:2], backward_tiles[:2]
    lines = [
        f"Shipped tiles: forward {shipped[0]}, backward {shipped[1]}; time relative to them.",
        "",
        "| batch | forward tile | backward tile | fwd+bwd ms | x shipped |",
        "|---:|---|---|---:|---:|",
    ]
    for batch in (1024, 16384):
        layer = high_order_fc_layers("continuous", n=N, in_features=IN, out_features=OUT, segments=64)
        layer.contraction = "gather"
        step = fc_step(layer, batch, IN)
        reference = fc_step(layer, batch, IN)

        def shipped_step(step=reference) -> None:
            _gather_triton.FORWARD_TILE, _gather_triton.BACKWARD_TILE = shipped
            step()

        candidates = [(f, shipped[1]) for f in forward_tiles] + [(shipped[0], b) for b in backward_tiles]
        for forward_tile, backward_tile in dict.fromkeys(candidates):

            def candidate(forward_tile=forward_tile, backward_tile=backward_tile, step=step) -> None:
                _gather_triton.FORWARD_TILE, _gather_triton.BACKWARD_TILE = forward_tile, backward_tile
                step()

            try:
                ms, _, ratio = interleaved_ms(candidate, shipped_step, repeats)
            except Exception as error:  # a tile the compiler rejects (too many registers or shared memory)
                lines.append(f"| {batch} | {forward_tile} | {backward_tile} | failed: {type(error).__name__} | |")
                continue
            lines.append(f"| {batch} | {forward_tile} | {backward_tile} | {ms:.2f} | {ratio:.2f} |")
            print(lines[-1], flush=True)
    _gather_triton.FORWARD_TILE, _gather_triton.BACKWARD_TILE = shipped
    return lines


def profile(repeats: int, quick: bool) -> list[str]:
    """Where the time of a forward+backward goes: the top kernels by device time (torch.profiler)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE.type == "cuda" else [])
    sort_by = "self_cuda_time_total" if DEVICE.type == "cuda" else "self_cpu_time_total"
    lines = []
    cases = [(1024, 2), (1024, 64)] if quick else [(1024, 1), (1024, 2), (1024, 64), (16384, 2), (16384, 64)]
    for batch, segments in cases:
        layer = high_order_fc_layers("continuous", n=N, in_features=IN, out_features=OUT, segments=segments)
        step = fc_step(layer, batch, IN)
        for _ in range(3):
            step()
        with profiler(activities=activities) as prof:
            for _ in range(5):
                step()
        table = prof.key_averages().table(sort_by=sort_by, row_limit=12, max_name_column_width=60)
        lines += [f"batch {batch}, segments {segments} ({auto_pick(layer)}), 5 steps:", "", "```", table, "```", ""]
        print(lines[-4], flush=True)
    return lines


SECTIONS = {"sweep": "Dense vs gather vs auto (continuous, 784 -> 128, n = 5, float32, forward+backward)",
            "train": "Training step (Adam, batch 4096, float32)",
            "tiles": "Triton tile sizes (continuous, segments 64, 784 -> 128, n = 5, float32)",
            "profile": "Profiles (continuous, 784 -> 128, n = 5, float32, forward+backward)"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few cases, 3 repeats: a smoke run")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--sections", default="sweep,train,tiles,profile", help="comma-separated: sweep, train, tiles, profile"
    )
    parser.add_argument("--dense-limit-gb", type=float, default=16.0, help="largest dense expansion to time")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run")
    parser.add_argument("--out", type=Path, default=Path("results/bench_gpu.md"))
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is available")
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown --sections {unknown}; valid: {', '.join(SECTIONS)}")
    torch.manual_seed(0)
    repeats = 3 if args.quick else args.repeats
    versions = f"torch {torch.__version__}"
    if DEVICE.type == "cuda" and _gather_triton.triton_kernels_available():
        import triton

        versions += f", Triton {triton.__version__}"
    report = [f"# GPU benchmarks on {device_name(DEVICE)} ({versions})", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in sections:
        print(f"\n## {SECTIONS[name]}", flush=True)
        body = {"sweep": lambda: sweep(repeats, args.quick, args.dense_limit_gb),
                "train": lambda: train(repeats, args.quick),
                "tiles": lambda: tiles(repeats, args.quick),
                "profile": lambda: profile(repeats, args.quick)}[name]()  # fmt: skip
        report += [f"## {SECTIONS[name]}", "", *body, ""]
        args.out.write_text("\n".join(report) + "\n")  # after every section: a killed run keeps what it has
    print("\n".join(report))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
