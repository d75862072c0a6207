"""Trainer setup shared by the examples: CSV logging, checkpoints, resume, and a run summary."""

from __future__ import annotations

import json
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

# Lightning advice that does not apply to these small in-memory examples.
_QUIET = (
    r".*does not have many workers.*",
    r".*number of training batches .* is smaller than the logging interval.*",
    r".*GPU available but not used.*",
    r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*",
)


def quiet_lightning() -> None:
    """Silence Lightning's advice about worker counts and logging intervals."""
    for pattern in _QUIET:
        warnings.filterwarnings("ignore", message=pattern)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_trainer(
    cfg: Mapping[str, Any],
    out_dir: str | Path,
    *,
    name: str = "run",
    max_epochs: int | None = None,
    callbacks: Sequence[Callback] = (),
) -> L.Trainer:
    """A Trainer that logs to ``<out_dir>/<name>/version_*/metrics.csv`` and checkpoints into
    ``<out_dir>/checkpoints/<name>`` (``last.ckpt`` plus the best by ``monitor``).

    ``cfg`` keys used: ``max_epochs``, ``accelerator``, ``devices``, ``strategy``, ``precision``,
    ``limit_train_batches``, ``limit_val_batches``, ``val_every``, ``log_every_n_steps``, ``gradient_clip_val``,
    ``monitor`` (with ``monitor_mode``), ``deterministic``, ``progress_bar``.
    """
    quiet_lightning()
    out_dir = Path(out_dir)
    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints" / name,
        filename="{epoch}-{step}",
        monitor=cfg.get("monitor"),
        mode=cfg.get("monitor_mode", "min"),
        save_last=True,
        save_top_k=1,
    )
    return L.Trainer(
        default_root_dir=out_dir,
        max_epochs=cfg["max_epochs"] if max_epochs is None else max_epochs,
        accelerator=cfg.get("accelerator", "auto"),
        devices=cfg.get("devices", 1),
        strategy=cfg.get("strategy", "auto"),
        precision=cfg.get("precision", "32-true"),
        limit_train_batches=cfg.get("limit_train_batches", 1.0),
        limit_val_batches=cfg.get("limit_val_batches", 1.0),
        log_every_n_steps=cfg.get("log_every_n_steps", 10),
        check_val_every_n_epoch=cfg.get("val_every", 1),
        gradient_clip_val=cfg.get("gradient_clip_val"),
        deterministic=cfg.get("deterministic", False),
        enable_progress_bar=cfg.get("progress_bar", True),
        enable_model_summary=False,
        logger=CSVLogger(out_dir, name=name),
        callbacks=[checkpoint, *callbacks],
    )


def load_model_weights(model: nn.Module, checkpoint_path: str | Path, prefix: str = "model.") -> nn.Module:
    """Load the ``prefix``-ed weights of a Lightning checkpoint into ``model`` without running pickled code."""
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)["state_dict"]
    stripped = OrderedDict((key[len(prefix) :], value) for key, value in state.items() if key.startswith(prefix))
    # The per-module metadata records each layer's link functions; keep it (renamed as the keys are) so
    # loading into a layer of another n / segments / family is refused rather than silently accepted.
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        module_prefix = prefix.rstrip(".")
        stripped._metadata = {  # type: ignore[attr-defined]
            key[len(prefix) :] if key.startswith(prefix) else "": value
            for key, value in metadata.items()
            if key == module_prefix or key.startswith(prefix)
        }
    model.load_state_dict(stripped)
    return model


class Timer(Callback):
    """Wall time of ``fit`` (seconds) in ``self.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds += time.perf_counter() - self._start


def metrics_of(trainer: L.Trainer) -> dict[str, float]:
    """The trainer's last logged values as plain floats."""
    return {key: float(value) for key, value in trainer.callback_metrics.items()}


def fit_and_test(
    trainer: L.Trainer, task: L.LightningModule, data: L.LightningDataModule, **fit_options: Any
) -> dict[str, float]:
    """Fit, then test; return the last epoch's train and validation metrics with the test metrics.

    ``trainer.test`` replaces the trainer's logged values, so the fit's are read first: a sweep
    optimises ``val_loss``, never a test figure.
    """
    trainer.fit(task, datamodule=data, weights_only=True, **fit_options)
    fitted = metrics_of(trainer)
    trainer.test(task, datamodule=data, verbose=False)
    return {**fitted, **metrics_of(trainer)}


def write_summary(out_dir: str | Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary.json`` into ``out_dir`` (rank 0 only under DDP is the caller's concern)."""
    path = Path(out_dir) / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(summary), indent=2, sort_keys=True, default=str))
    return path
