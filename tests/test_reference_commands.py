"""Every command line printed in the reference's release pages (``tests/data/reference_commands.txt``,
copied verbatim) runs: each is executed as its script's ``__main__`` with its own argument list, with
only a few speed settings appended (one short epoch, a few batches), on small generated data in the
format of the real data sets (found through ``$HIGH_ORDER_LAYERS_DATA``, as a user's cache would be).
Missing data ends a script with one message and status 2."""

from __future__ import annotations

import json
import os
import pickle
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("lightning")
pytest.importorskip("hydra")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
COMMANDS = ROOT / "tests" / "data" / "reference_commands.txt"

#: Appended to every hydra command: one epoch of two batches of 32, one validation batch.
QUICK = [
    "threads=1",
    "progress_bar=false",
    "max_epochs=1",
    "limit_train_batches=2",
    "limit_val_batches=1",
    "batch_size=32",
]


def reference_commands() -> list[tuple[str, str]]:
    """``(page, command)`` for every command line of the file; ``page`` is the last ``# page:`` comment."""
    page, out = "", []
    for line in COMMANDS.read_text(encoding="utf-8").splitlines():
        if line.startswith("# page:"):
            page = line.removeprefix("# page:").strip()
        elif line.strip() and not line.startswith("#"):
            out.append((page, line))
    return out


def write_tiny_mnist(folder: Path) -> None:
    """``mnist.npz`` in the cache format: 256 + 64 images, class k lights rows 2k+4..2k+7."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", 256), ("test", 64)):
        labels = rng.integers(0, 10, count)
        images = rng.integers(0, 60, size=(count, 28, 28))
        for index, label in enumerate(labels):
            images[index, 2 * label + 4 : 2 * label + 8, 4:24] = 255
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images.astype(np.uint8), labels.astype(np.int64)
    np.savez(folder / "mnist.npz", **arrays)


def write_tiny_cifar100(folder: Path) -> None:
    """``cifar-100-python/{train,test}``: pickled batches of 96 and 32 random images of 100 classes."""
    rng = np.random.default_rng(1)
    (folder / "cifar-100-python").mkdir()
    for name, count in (("train", 96), ("test", 32)):
        fine = rng.integers(0, 100, count)
        batch = {
            b"data": rng.integers(0, 256, size=(count, 3072)).astype(np.uint8),
            b"fine_labels": fine.tolist(),
            b"coarse_labels": (fine // 5).tolist(),
        }
        (folder / "cifar-100-python" / name).write_bytes(pickle.dumps(batch, protocol=2))


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    write_tiny_mnist(folder)
    write_tiny_cifar100(folder)
    return folder


def split(command: str) -> tuple[Path, list[str]]:
    """The script (a file, or the ``examples/`` folder) and the arguments of ``python <script> <args>``."""
    words = shlex.split(command)
    assert words[0] == "python" and words[1].startswith("examples/"), command
    return ROOT / words[1], words[2:]


def execute(script: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch, cwd: Path) -> int:
    """Run ``python script *argv`` in this process from ``cwd`` (``script`` relative to it, or absolute);
    return the exit status."""
    monkeypatch.chdir(cwd)  # hydra writes outputs/ or multirun/ here
    folder = script if (cwd / script).is_dir() else script.parent
    monkeypatch.syspath_prepend(str(cwd / folder))  # what `python examples/x.py` puts first on sys.path
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")  # a failure raises with its traceback
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


#: Appended to ``variational_autoencoder.py -m``, whose config sweeps with Optuna: two trials, and a
#: validation split the 256 generated training images can spare.
QUICK_SEARCH = ["hydra.sweeper.n_trials=2", "val_size=64"]


def quick_arguments(script: Path, argv: list[str], tmp_path: Path) -> list[str]:
    if script.name == "function_example.py":  # argparse, not hydra
        return ["--steps", "3", "--points", "32", "--no-plots", "--out", str(tmp_path / "function_example")]
    if script.name == "variational_autoencoder.py" and "-m" in argv:
        return [*QUICK, *QUICK_SEARCH]
    return QUICK


def summaries(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.rglob("summary.json"))]


def assert_optuna_search(folder: Path, trials: int) -> None:
    """``-m`` ran an Optuna study: ``trials`` jobs with distinct sampled settings, each validated on
    held-out training images, and the best of them written where hydra's sweeper writes it."""
    runs = summaries(folder)
    assert len(runs) == trials
    (result_file,) = folder.rglob("optimization_results.yaml")
    result = yaml.safe_load(result_file.read_text())
    assert result["name"] == "optuna" and set(result["best_params"]) == {"lr", "n", "segments"}
    assert result["best_value"] == min(run["val_loss"] for run in runs)
    settings = [
        yaml.safe_load((path.parent / ".hydra" / "overrides.yaml").read_text())
        for path in sorted(folder.rglob("summary.json"))
    ]
    assert (
        len(
            {
                tuple(sorted(s for s in overrides if s.split("=")[0] in ("lr", "n", "segments")))
                for overrides in settings
            }
        )
        == trials
    )


@pytest.mark.parametrize(("page", "command"), reference_commands(), ids=[c for _, c in reference_commands()])
def test_reference_command_runs(
    page: str, command: str, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    script, argv = split(command)
    monkeypatch.setenv("HIGH_ORDER_LAYERS_DATA", str(tiny_data))
    if script.is_dir():
        # The 1.3.2 page lost the script names: the folder lists the scripts, and for exactly one of
        # that page's argument lists names the script the 2.4.1 page runs it with.
        status = execute(script.relative_to(ROOT), argv, monkeypatch, ROOT)  # as typed, from the checkout
        printed = capsys.readouterr()
        if not argv:
            assert status == 0 and "mnist.py" in printed.out
            return
        assert status == 2
        suggested = printed.err.splitlines()[1].strip()
        assert suggested in [c for _, c in reference_commands()] and suggested.endswith(shlex.join(argv))
        return
    status = execute(script, [*argv, *quick_arguments(script, argv, tmp_path)], monkeypatch, tmp_path)
    assert status == 0, capsys.readouterr().err[-3000:]
    if script.name == "function_example.py":
        assert (tmp_path / "function_example" / "results.md").exists()
        return
    if script.name == "variational_autoencoder.py" and "-m" in argv:
        assert_optuna_search(tmp_path, trials=2)
        return
    (summary,) = summaries(tmp_path)
    assert np.isfinite(summary["wall_s"]) and summary["epochs"] >= 1
    if script.name == "invariant_mnist.py":
        assert summary["model"] == "continuous"  # `layer_type=mlp.continuous` or `mlp.layer_type=continuous`
        p_refine = "mlp.p_refine=True" in argv
        assert [stage["n"] for stage in summary["stages"]] == ([2, 3, 4, 5] if p_refine else [5])


def test_commands_file_holds_every_printed_command() -> None:
    """The file has the 2.4.1 page's seven commands and the 1.3.2 page's seven, each once per page."""
    pages = {}
    for page, command in reference_commands():
        pages.setdefault(page, []).append(command)
    assert [len(commands) for commands in pages.values()] == [7, 7]
    newer, older = pages.values()
    assert [shlex.split(c)[2:] for c in newer] == [shlex.split(c)[2:] for c in older]


def test_commands_file_matches_the_pages() -> None:
    """Where the reference pages are at hand (outside the repository), the file has each page's command lines."""
    pages = sorted(Path("/work/shared/reference").glob("*.txt"))
    if not pages:
        pytest.skip("the reference pages are not on this machine")
    printed = [line for page in pages for line in page.read_text(encoding="utf-8").splitlines()]
    assert [c for _, c in reference_commands()] == [line for line in printed if line.startswith("python ")]


def test_invariant_mnist_top_level_layer_type_and_periodicity() -> None:
    sys.path.insert(0, str(EXAMPLES))
    from invariant_mnist import build_model, mlp_settings

    mlp = {"layer_type": "polynomial", "n": 3, "segments": 2, "normalize": True, "resnet": False}
    mlp["hidden"] = {"layers": 1, "width": 4}
    for spelling in ("mlp.discontinuous", "discontinuous"):
        assert mlp_settings({"mlp": mlp, "layer_type": spelling})["layer_type"] == "discontinuous"
    assert mlp_settings({"mlp": mlp, "layer_type": None})["layer_type"] == "polynomial"
    settings = mlp_settings({"mlp": mlp, "layer_type": "mlp.continuous", "periodicity": 2.0})
    model = build_model(settings, None)
    layers = [m for m in model.modules() if hasattr(m, "periodicity")]
    assert layers and all(m.periodicity == 2.0 for m in layers)


def test_missing_cifar100_exits_2_with_one_message(tmp_path: Path) -> None:
    """The reference's CIFAR-100 command, run as a user would, without the data: status 2, no traceback."""
    ((_, command),) = [(p, c) for p, c in reference_commands() if c.startswith("python examples/cifar100.py")]
    env = {**os.environ, "HIGH_ORDER_LAYERS_DATA": str(tmp_path / "empty"), "HYDRA_FULL_ERROR": "0"}
    done = subprocess.run(
        [sys.executable, *shlex.split(command)[1:], "threads=1", f"hydra.sweep.dir={tmp_path / 'multirun'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    message = errors[0]
    assert "CIFAR-100 is missing" in message and str(tmp_path / "empty" / "cifar-100-python") in message
    assert "data_dir=/path/to/cifar-100-python" in message


@pytest.mark.parametrize(
    ("script", "argument", "expected"),
    [
        ("text_generation.py", "text=/no/such/file.txt", "neither"),
        ("implicit_image.py", "image=/no/such/picture.png", "neither"),
        ("mnist.py", "data_dir={empty}", "MNIST is missing"),
    ],
)
def test_missing_data_exits_2(
    script: str, argument: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    sys.path.insert(0, str(EXAMPLES))
    from common import data

    def offline(command, **kwargs):  # pip cannot reach the index
        raise subprocess.CalledProcessError(1, command, stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(data.subprocess, "run", offline)
    argument = argument.format(empty=tmp_path / "empty")
    status = execute(EXAMPLES / script, [argument, *QUICK], monkeypatch, tmp_path)
    err = capsys.readouterr().err
    assert status == 2
    (message,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert expected in message and "Traceback" not in err
