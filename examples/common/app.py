"""What every example's ``run(cfg)`` does first and last: seeding, threads, output folder, summary."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch

from .data import DataNotFoundError
from .training import write_summary

#: The exit status of a script whose data is missing (2, like a usage error: the command needs a change).
MISSING_DATA_STATUS = 2


def run_or_exit(run: Callable[[Any], Mapping[str, Any]], cfg: Any) -> float | None:
    """``run(cfg)`` for a script's hydra ``main``, returning what a hydra sweeper optimises.

    Returns ``summary[cfg.objective]`` as a float when the config names an ``objective`` (the Optuna
    sweeper of ``-m`` minimises or maximises it), else ``None``. Missing data ends the process with
    one message on stderr (what is missing, where it was looked for, how to provide it) and status
    2, not a traceback: ``SystemExit`` passes through hydra's error handling, which only catches
    ``Exception``.
    """
    try:
        summary = run(cfg)
    except DataNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(MISSING_DATA_STATUS) from None
    return objective_value(summary, cfg.get("objective"))


def objective_value(summary: Mapping[str, Any], objective: str | None) -> float | None:
    """``summary[objective]`` as a float (``None`` when no objective is named)."""
    if objective is None:
        return None
    if objective not in summary:
        raise ValueError(
            f"objective must be one of the run's summary keys ({', '.join(sorted(summary))}); got {objective!r}"
        )
    return float(summary[objective])


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, resolved ``dict`` from an OmegaConf config (or a mapping)."""
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover
        DictConfig = ()  # type: ignore[assignment]
    if DictConfig and isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def output_dir(cfg: Mapping[str, Any], name: str) -> Path:
    """``cfg["out_dir"]`` if set, else hydra's run directory when running under hydra, else ``outputs/<name>``."""
    if cfg.get("out_dir"):
        return Path(cfg["out_dir"])
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return Path(HydraConfig.get().runtime.output_dir)
    except ImportError:  # pragma: no cover
        pass
    return Path("outputs") / name


def setup(cfg: Mapping[str, Any]) -> None:
    """Seed everything and apply ``threads``."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    L.seed_everything(cfg.get("seed", 0), workers=True, verbose=False)


def finish(trainer: L.Trainer, out_dir: Path, summary: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``summary.json`` on rank 0 and print it; return the summary."""
    summary = dict(summary)
    if trainer.is_global_zero:
        path = write_summary(out_dir, summary)
        print(f"summary ({path}):")
        for key, value in sorted(summary.items()):
            print(f"  {key}: {value}")
    return summary
