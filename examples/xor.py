"""Fit XOR (0.5 where x * y > 0, else -0.5) on [-1, 1]^2 with a 2 -> 2 -> 1 high-order network.

    python examples/xor.py                               # discontinuous, n=2, 2 segments
    python examples/xor.py layer_type=continuous n=3     # continuous links cannot make the jump
    python examples/xor.py baseline=relu                 # a ReLU MLP with about as many parameters

The target jumps along both axes. A discontinuous piecewise link with 2 segments has its joint at
0, so the network can represent the target exactly (mean squared error reaches round-off); a
continuous or single-polynomial link can only approach it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hydra
import torch
from common.app import finish, output_dir, run_or_exit, setup, to_dict
from common.baselines import matched_relu_mlp
from common.datamodule import ArrayDataModule
from common.task import Task
from common.training import Timer, make_trainer, metrics_of, parameter_count
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn

from high_order_layers_torch.networks import HighOrderMLP


def xor_data(count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``count`` points uniform in ``[-1, 1]^2`` ``(count, 2)`` and their targets ``(count, 1)``."""
    x = torch.rand(count, 2, generator=generator) * 2 - 1
    y = torch.where(x[:, 0] * x[:, 1] > 0, 0.5, -0.5)[:, None]
    return x, y


def build_model(cfg: dict[str, Any]) -> nn.Module:
    model = HighOrderMLP(
        cfg["layer_type"],
        n=cfg["n"],
        in_width=2,
        out_width=1,
        hidden_layers=cfg["hidden_layers"],
        hidden_width=cfg["hidden_width"],
        segments=cfg["segments"],
        initialization=cfg.get("initialization"),
    )
    if cfg.get("baseline") == "relu":
        return matched_relu_mlp(2, 1, cfg["hidden_layers"], parameter_count(model))
    if cfg.get("baseline") is not None:
        raise ValueError(f"baseline must be null or 'relu', got {cfg['baseline']!r}")
    return model


def run(cfg: Any, callbacks: Sequence[Callback] = ()) -> dict[str, Any]:
    """Train and evaluate; return (and write to ``summary.json``) the final metrics.

    ``callbacks`` are added to the Trainer's (checkpointing and timing are always there).
    """
    cfg = to_dict(cfg)
    setup(cfg)
    out = output_dir(cfg, "xor")
    generator = torch.Generator().manual_seed(cfg["seed"])
    x_train, y_train = xor_data(cfg["samples"], generator)
    x_test, y_test = xor_data(cfg["samples"], generator)
    data = ArrayDataModule(x_train, y_train, x_test, y_test, batch_size=cfg["batch_size"], seed=cfg["seed"])
    model = build_model(cfg)
    task = Task(model, loss="mse", optimizer=cfg["optimizer"], lr=cfg["lr"], scheduler=cfg["scheduler"])
    timer = Timer()
    trainer = make_trainer(cfg, out, callbacks=[timer, *callbacks])
    trainer.fit(task, datamodule=data, ckpt_path=cfg.get("resume"), weights_only=True)
    with torch.no_grad():
        train_mse = nn.functional.mse_loss(model(x_train), y_train).item()
        test_mse = nn.functional.mse_loss(model(x_test), y_test).item()
    return finish(
        trainer,
        out,
        {
            "model": "relu" if cfg.get("baseline") == "relu" else cfg["layer_type"],
            "params": parameter_count(model),
            "epochs": trainer.current_epoch,
            "wall_s": round(timer.seconds, 2),
            "train_mse": train_mse,
            "test_mse": test_mse,
            **metrics_of(trainer),
        },
    )


@hydra.main(config_path="config", config_name="xor", version_base=None)
def main(cfg) -> float | None:
    return run_or_exit(run, cfg)


if __name__ == "__main__":
    main()
