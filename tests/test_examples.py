"""Every example runs through its ``run(cfg)`` (what its hydra main calls) on tiny generated data
and its training loss drops; checkpoints resume; a 2-process DDP run keeps the ranks in step."""

from __future__ import annotations

import csv
import importlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("lightning")
pytest.importorskip("hydra")

import lightning as L  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

FAST = ["threads=1", "progress_bar=false", "log_every_n_steps=1"]


def example(name: str):
    return importlib.import_module(name)


def config(name: str, tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(EXAMPLES / "config"), version_base=None):
        return compose(config_name=name, overrides=[*FAST, f"out_dir={tmp_path / 'out'}", *overrides])


def train_losses(out_dir: Path, name: str = "run") -> list[float]:
    """The per-step training losses of the CSV log."""
    with open(out_dir / name / "version_0" / "metrics.csv") as handle:
        return [float(row["train_loss_step"]) for row in csv.DictReader(handle) if row.get("train_loss_step")]


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Path:
    """A learnable 10-class stand-in for MNIST in the cache format (``mnist.npz``): class k lights rows 2k..2k+3."""
    rng = np.random.default_rng(0)

    def make(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, count)
        images = rng.integers(0, 60, size=(count, 28, 28))
        for index, label in enumerate(labels):
            images[index, 2 * label + 4 : 2 * label + 8, 4:24] = 255
        return images.astype(np.uint8), labels.astype(np.int64)

    x_train, y_train = make(256)
    x_test, y_test = make(64)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return tmp_path


@pytest.fixture
def tiny_cifar(tmp_path: Path) -> Path:
    """A generated stand-in for ``cifar-100-python/`` (pickled batches), classes told apart by colour."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, count in (("train", 192), ("test", 48)):
        fine = rng.integers(0, 4, count)
        images = rng.integers(0, 80, size=(count, 3, 32, 32))
        for index, label in enumerate(fine):
            images[index, label % 3] += 100 + 40 * (label // 3)
        batch = {
            b"data": images.reshape(count, -1).astype(np.uint8),
            b"fine_labels": fine.tolist(),
            b"coarse_labels": (fine // 5).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def test_xor_discontinuous_fits_exactly(tmp_path: Path) -> None:
    summary = example("xor").run(config("xor", tmp_path))
    assert summary["train_mse"] < 1e-6 and summary["test_mse"] < 1e-6
    assert summary["params"] == 24


def test_xor_relu_baseline_matches_parameter_count(tmp_path: Path) -> None:
    summary = example("xor").run(config("xor", tmp_path, "baseline=relu", "max_epochs=5"))
    assert summary["model"] == "relu" and abs(summary["params"] - 24) <= 6


def test_mnist_conv_trains(tmp_path: Path, tiny_mnist: Path) -> None:
    cfg = config(
        "mnist", tmp_path, f"data_dir={tiny_mnist}", "max_epochs=2", "batch_size=32", "channels=[4,8]", "n=3", "lr=3e-3"
    )
    summary = example("mnist").run(cfg)
    losses = train_losses(tmp_path / "out")
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:2])
    assert 0 <= summary["test_acc"] <= 1


def test_mnist_relu_baseline(tmp_path: Path, tiny_mnist: Path) -> None:
    high = example("mnist").run(
        config("mnist", tmp_path / "h", f"data_dir={tiny_mnist}", "limit_train_batches=1", "limit_val_batches=1")
    )
    relu = example("mnist").run(
        config(
            "mnist",
            tmp_path / "r",
            f"data_dir={tiny_mnist}",
            "baseline=relu",
            "limit_train_batches=1",
            "limit_val_batches=1",
        )
    )
    assert relu["model"] == "relu"
    assert abs(relu["params"] - high["params"]) < 0.1 * high["params"]


def test_invariant_mnist_p_refinement(tmp_path: Path, tiny_mnist: Path) -> None:
    cfg = config(
        "invariant_mnist",
        tmp_path,
        f"data_dir={tiny_mnist}",
        "max_epochs=4",
        "batch_size=32",
        "mlp.n=2",
        "mlp.target_n=3",
        "mlp.p_refine=True",
        "mlp.hidden.layers=1",
        "mlp.hidden.width=16",
        "lr=3e-3",
    )
    summary = example("invariant_mnist").run(cfg)
    assert [stage["n"] for stage in summary["stages"]] == [2, 3]
    assert summary["stages"][1]["params"] > summary["stages"][0]["params"]
    first, second = train_losses(tmp_path / "out", "n2"), train_losses(tmp_path / "out", "n3")
    assert np.mean(second[-4:]) < 0.7 * np.mean(first[:2])


def test_invariant_mnist_hp_refinement(tmp_path: Path, tiny_mnist: Path) -> None:
    """p-refinement stages, then h-refinement stages doubling the pieces, each refinement exact."""
    cfg = config(
        "invariant_mnist",
        tmp_path,
        f"data_dir={tiny_mnist}",
        "max_epochs=3",
        "batch_size=32",
        "mlp.n=2",
        "mlp.target_n=3",
        "mlp.p_refine=True",
        "mlp.segments=1",
        "mlp.target_segments=2",
        "mlp.h_refine=True",
        "mlp.hidden.layers=1",
        "mlp.hidden.width=16",
        "limit_train_batches=2",
        "limit_val_batches=1",
    )
    summary = example("invariant_mnist").run(cfg)
    assert [(stage["n"], stage["segments"]) for stage in summary["stages"]] == [(2, 1), (3, 1), (3, 2)]
    assert summary["stages"][2]["params"] > summary["stages"][1]["params"] > summary["stages"][0]["params"]
    assert any((tmp_path / "out").rglob("n3_s2"))  # each stage logs under its own name


def test_invariant_mnist_h_refinement_checks_its_targets() -> None:
    stages = example("invariant_mnist").stages
    mlp = {"n": 3, "segments": 2, "p_refine": False, "h_refine": True, "layer_type": "continuous"}
    assert stages({"mlp": {**mlp, "target_segments": 8}}) == [(3, 2), (3, 4), (3, 8)]
    with pytest.raises(ValueError, match="times a power of two"):
        stages({"mlp": {**mlp, "target_segments": 6}})
    with pytest.raises(ValueError, match="piecewise layer type"):
        stages({"mlp": {**mlp, "layer_type": "fourier", "target_segments": 4}})


def test_cifar100_on_stand_in(tmp_path: Path, tiny_cifar: Path) -> None:
    cfg = config(
        "cifar100",
        tmp_path,
        f"data_dir={tiny_cifar}",
        "max_epochs=3",
        "batch_size=32",
        "channels=[4,8]",
        "layer_type=polynomial",
        "n=3",
        "periodicity=2.0",
        "lr=3e-3",
    )
    example("cifar100").run(cfg)
    losses = train_losses(tmp_path / "out")
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:2])


def test_cifar100_missing_data_says_how(tmp_path: Path) -> None:
    from common.data import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="data_dir="):
        example("cifar100").run(config("cifar100", tmp_path, f"data_dir={tmp_path / 'none'}"))


def test_variational_autoencoder_trains(tmp_path: Path, tiny_mnist: Path) -> None:
    cfg = config(
        "variational_autoencoder",
        tmp_path,
        f"data_dir={tiny_mnist}",
        "max_epochs=2",
        "batch_size=32",
        "channels=[4,8]",
        "latent=4",
        "lr=3e-3",
    )
    summary = example("variational_autoencoder").run(cfg)
    losses = train_losses(tmp_path / "out")
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:2])
    assert np.isfinite(summary["test_loss"])


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
def test_checkpoint_resumes_to_same_state(tmp_path: Path) -> None:
    """Stopping at epoch 10 and resuming from ``last.ckpt`` ends where an uninterrupted run ends."""
    from common.training import load_model_weights

    xor = example("xor")
    common = ["max_epochs=20", "layer_type=continuous", "n=3", "val_every=5"]
    straight = xor.run(config("xor", tmp_path / "a", *common))
    xor.run(config("xor", tmp_path / "b", "max_epochs=10", *common[1:]))
    checkpoint = tmp_path / "b" / "out" / "checkpoints" / "run" / "last.ckpt"
    state = torch.load(checkpoint, weights_only=True)
    assert state["epoch"] == 9 and "optimizer_states" in state
    resumed = xor.run(config("xor", tmp_path / "b", *common, f"resume={checkpoint}"))
    assert resumed["epochs"] == straight["epochs"] == 20
    assert resumed["train_mse"] == pytest.approx(straight["train_mse"], rel=1e-5)
    cfg = {"layer_type": "continuous", "n": 3, "segments": 2, "hidden_layers": 0, "hidden_width": 2}
    final = [
        load_model_weights(xor.build_model(cfg), tmp_path / run / "out" / "checkpoints" / "run" / "last.ckpt")
        for run in ("a", "b")
    ]
    for p, q in zip(final[0].parameters(), final[1].parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    # The checkpoint keeps each layer's link-function record: links of n = 3 on 2 segments do not load
    # into one-segment links of n = 5, though both hold 5 weights (they would otherwise load silently).
    other = xor.build_model({**cfg, "n": 5, "segments": 1})
    with pytest.raises(RuntimeError, match="link functions"):
        load_model_weights(other, tmp_path / "a" / "out" / "checkpoints" / "run" / "last.ckpt")


class SaveRankWeights(L.Callback):
    """Each rank writes its final parameters to ``folder/rank<k>.pt``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        torch.save(
            {k: v.detach().clone() for k, v in pl_module.state_dict().items()},
            f"{self.folder}/rank{trainer.global_rank}.pt",
        )


def test_ddp_two_cpu_processes_stay_in_step(tmp_path: Path) -> None:
    """Two gloo processes (``ddp_spawn``) train XOR on different shards and end with identical weights."""
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    cfg = config(
        "xor",
        tmp_path,
        "accelerator=cpu",
        "devices=2",
        "strategy=ddp_spawn",
        "max_epochs=15",
        "batch_size=250",
        "samples=1000",
        "layer_type=continuous",
        "n=3",
        "val_every=15",
    )
    example("xor").run(cfg, callbacks=[SaveRankWeights(str(tmp_path))])
    ranks = [torch.load(tmp_path / f"rank{k}.pt", weights_only=True) for k in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for key in ranks[0]:
        torch.testing.assert_close(ranks[0][key], ranks[1][key], rtol=0, atol=0)


# ------------------------------------------------------------------ implicit image, Burgers, text
def test_implicit_image_fits_generated_picture(tmp_path: Path) -> None:
    cfg = config(
        "implicit_image",
        tmp_path,
        "image=generated",
        "generated_size=[32,48]",
        "factor=2",
        "in_segments=8",
        "hidden_width=8",
        "max_epochs=15",
        "batch_size=128",
        "lr=1e-2",
        "val_every=15",
    )
    summary = example("implicit_image").run(cfg)
    losses = train_losses(tmp_path / "out")
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    assert summary["pixels"] == [16, 24] and summary["psnr"] > 20
    assert np.isfinite(summary["psnr_full_resolution"]) and np.isfinite(summary["psnr_full_resolution_blocks"])
    from PIL import Image

    with Image.open(tmp_path / "out" / "reconstruction.png") as picture:
        assert picture.size == (24, 16)


def test_implicit_image_helpers_and_relu_baseline(tmp_path: Path) -> None:
    image = example("implicit_image")
    picture = np.arange(5 * 7 * 3, dtype=np.float64).reshape(5, 7, 3)
    small = image.downsample(picture, 2)
    assert small.shape == (2, 3, 3) and small[0, 0, 0] == picture[:2, :2, 0].mean()
    grid = image.pixel_grid(2, 4)
    assert grid[0].tolist() == [-0.75, -0.5] and grid[-1].tolist() == [0.75, 0.5]
    assert image.psnr(torch.full((4, 3), 0.5), torch.full((4, 3), 0.6)) == pytest.approx(20.0)
    cfg = {
        "layer_type": "continuous",
        "n": 3,
        "segments": 4,
        "in_segments": 32,
        "hidden_width": 32,
        "hidden_layers": 1,
        "normalize": True,
    }
    high = image.build_model(cfg)
    relu = image.build_model({**cfg, "baseline": "relu"})
    assert abs(sum(p.numel() for p in relu.parameters()) - 14240) < 0.02 * 14240
    assert sum(p.numel() for p in high.parameters()) == 14240
    with pytest.raises(ValueError, match="factor"):
        image.downsample(picture, 0)


def test_burgers_reference_solvers() -> None:
    """Cole-Hopf reproduces the benchmark's steepest slope and agrees with the finite-volume solver."""
    burgers = example("burgers")
    nu, step = 0.01 / np.pi, 1e-7
    edge = burgers.cole_hopf(np.array([-step, step]), [1.6037 / np.pi], nu)
    assert (edge[0, 1] - edge[0, 0]) / (2 * step) == pytest.approx(-152.00516, rel=1e-5)
    x, t = np.linspace(-1, 1, 64), np.linspace(0, 1, 6)
    exact = burgers.cole_hopf(x, t, nu)
    np.testing.assert_allclose(exact[0], -np.sin(np.pi * x), atol=1e-12)
    volumes = burgers.godunov(x, t, nu, cells=512)
    assert np.linalg.norm(volumes - exact) / np.linalg.norm(exact) < 0.02
    assert np.abs(exact[:, [0, -1]]).max() < 1e-12 and np.abs(volumes[:, [0, -1]]).max() < 1e-12
    with pytest.raises(ValueError, match="godunov"):
        burgers.cole_hopf(x, t, 0.0)


def test_burgers_residual_matches_finite_differences() -> None:
    burgers = example("burgers")
    cfg = {
        "layer_type": "continuous",
        "n": 4,
        "segments": 2,
        "hidden_layers": 1,
        "hidden_width": 6,
        "normalize": False,
        "non_linearity": "tanh",
    }
    nu = 0.05
    model = burgers.build_model(cfg).double()
    task = burgers.BurgersTask(model, nu=nu)
    points = torch.rand(16, 2, dtype=torch.float64) * 1.6 - 0.8
    points[:, 0] += torch.where(points[:, 0].abs() < 0.05, 0.1, 0.0)  # keep clear of the joint at x = 0
    points[:, 1] += torch.where(points[:, 1].abs() < 0.05, 0.1, 0.0)
    h = 1e-4
    dx, ds = torch.tensor([h, 0.0], dtype=torch.float64), torch.tensor([0.0, h], dtype=torch.float64)
    with torch.no_grad():
        u = model(points)[:, 0]
        u_x = (model(points + dx) - model(points - dx))[:, 0] / (2 * h)
        u_t = 2 * (model(points + ds) - model(points - ds))[:, 0] / (2 * h)
        u_xx = (model(points + dx) - 2 * model(points) + model(points - dx))[:, 0] / h**2
    torch.testing.assert_close(task.residual(points), u_t + u * u_x - nu * u_xx, rtol=1e-4, atol=1e-4)


def test_burgers_pinn_loss_drops(tmp_path: Path) -> None:
    cfg = config(
        "burgers",
        tmp_path,
        "collocation=256",
        "batch_size=64",
        "boundary_points=32",
        "hidden_width=8",
        "max_epochs=8",
        "lr=1e-2",
        "grid_x=32",
        "grid_t=6",
        "val_every=8",
    )
    summary = example("burgers").run(cfg)
    losses = train_losses(tmp_path / "out")
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    assert summary["reference"] == "cole_hopf" and summary["steps"] == 32
    assert 0 < summary["relative_l2"] < 1.5
    assert (tmp_path / "out" / "solution.png").exists()


def test_burgers_lbfgs_phase_lowers_the_loss_in_float64(tmp_path: Path) -> None:
    cfg = config(
        "burgers",
        tmp_path,
        "collocation=128",
        "batch_size=128",
        "boundary_points=32",
        "hidden_width=6",
        "max_epochs=2",
        "lbfgs_steps=30",
        "grid_x=16",
        "grid_t=4",
        "plot=false",
    )
    burgers = example("burgers")
    summary = burgers.run(cfg)
    assert summary["lbfgs_steps"] == 30 and summary["steps"] == 2
    lbfgs_loss = summary["lbfgs_pde"] + summary["lbfgs_ic"] + summary["lbfgs_bc"]
    assert np.isfinite(lbfgs_loss) and lbfgs_loss < summary["train_loss_epoch"]
    assert 0 < summary["relative_l2"] < 1.5


def test_burgers_inviscid_tanh_baseline(tmp_path: Path) -> None:
    cfg = config(
        "burgers",
        tmp_path,
        "nu=0",
        "baseline=tanh",
        "collocation=64",
        "batch_size=64",
        "max_epochs=2",
        "grid_x=16",
        "grid_t=3",
        "fv_cells=128",
        "plot=false",
    )
    summary = example("burgers").run(cfg)
    assert summary["reference"] == "godunov" and summary["model"] == "tanh"
    assert abs(summary["params"] - 2800) < 0.05 * 2800


def test_text_generation_learns_tiny_text(tmp_path: Path) -> None:
    text = tmp_path / "tiny.txt"
    text.write_text("the cat sat on the mat. " * 40, encoding="utf-8")
    cfg = config(
        "text_generation",
        tmp_path,
        f"text={text}",
        "context=4",
        "hidden_width=16",
        "max_epochs=4",
        "batch_size=32",
        "lr=1e-2",
        "sample_length=30",
    )
    summary = example("text_generation").run(cfg)
    losses = train_losses(tmp_path / "out")
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    assert summary["vocabulary"] == len(set("the cat sat on the mat. "))
    assert summary["test_bpc"] < summary["unigram_bpc"]
    assert len(summary["sample"]) == 30 and set(summary["sample"]) <= set("the cat sat on the mat. ")
    saved = (tmp_path / "out" / "sample.txt").read_text(encoding="utf-8")
    assert saved == summary["prompt"] + summary["sample"]


def test_text_generation_texts_and_windows() -> None:
    text_generation = example("text_generation")
    assert text_generation.load_text("zen").startswith("The Zen of Python")
    contexts, targets = text_generation.windows(torch.arange(6), 4)
    assert contexts.tolist() == [[0, 1, 2, 3], [1, 2, 3, 4]] and targets.tolist() == [4, 5]
    with pytest.raises(ValueError, match="window"):
        text_generation.windows(torch.arange(3), 4)
    with pytest.raises(text_generation.DataNotFoundError):
        text_generation.load_text("/no/such/file.txt")


def test_main_returns_the_configured_objective() -> None:
    from common.app import objective_value

    summary = {"val_loss": 0.25, "test_loss": 0.5, "model": "continuous"}
    assert objective_value(summary, "val_loss") == 0.25
    assert objective_value(summary, None) is None
    with pytest.raises(
        ValueError, match=r"one of the run's summary keys \(model, test_loss, val_loss\); got 'val_los'"
    ):
        objective_value(summary, "val_los")


def sweep_xor(tmp_path: Path, sweep_dir: Path, storage: str, trials: int) -> subprocess.CompletedProcess:
    """``python examples/xor.py -m`` with the Optuna sweeper over lr and n, two jobs at a time in
    joblib's processes, the study kept in ``storage``."""
    command = [
        sys.executable,
        str(EXAMPLES / "xor.py"),
        "-m",
        "hydra/sweeper=optuna",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=xor",
        f"hydra.sweep.dir={sweep_dir}",
        "lr=tag(log, interval(1e-3, 1e-1))",
        "n=int(interval(2, 5))",
        "objective=test_mse",
        "max_epochs=3",
        *FAST,
    ]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_optuna_sweep_runs_jobs_in_parallel_and_resumes_its_study(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    sweeps = [tmp_path / "first", tmp_path / "second"]
    for sweep_dir in sweeps:
        done = sweep_xor(tmp_path, sweep_dir, storage, trials=2)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Joblib.Parallel(n_jobs=2" in done.stdout + done.stderr
    study = optuna.load_study(study_name="xor", storage=storage)
    assert len(study.trials) == 4  # the second sweep added to the first
    assert {trial.state for trial in study.trials} == {optuna.trial.TrialState.COMPLETE}
    assert set(study.best_params) == {"lr", "n"} and 2 <= study.best_params["n"] <= 5
    best = yaml.safe_load((sweeps[-1] / "optimization_results.yaml").read_text())
    assert best["best_value"] == study.best_value
    returned = [json.loads(path.read_text())["test_mse"] for folder in sweeps for path in folder.rglob("summary.json")]
    assert sorted(returned) == sorted(trial.value for trial in study.trials)
