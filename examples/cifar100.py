"""Classify CIFAR-100 images with a high-order convolutional network.

    python examples/cifar100.py max_epochs=20 train_fraction=1.0 layer_type=polynomial segments=2 n=7 \
        nonlinearity=False rescale_output=False periodicity=2.0 lr=0.001 linear_output=False data_dir=/data
    python examples/cifar100.py data_dir=/data baseline=relu        # ReLU CNN, about as many parameters

CIFAR-100 cannot be downloaded from here: unpack the python version (``cifar-100-python.tar.gz``,
files ``train``, ``test``, ``meta``) yourself and pass its folder (or the parent) as ``data_dir``; by
default it is looked for in ``<data cache>/cifar-100-python``. The batches are read with an
unpickler that only rebuilds numpy arrays.
"""

from __future__ import annotations

from typing import Any

import hydra
from common.app import finish, output_dir, run_or_exit, setup, to_dict
from common.conv import classifier
from common.data import load_cifar100
from common.datamodule import classification_datamodule
from common.task import Task
from common.training import Timer, fit_and_test, make_trainer, parameter_count


def run(cfg: Any) -> dict[str, Any]:
    """Train, test, and return (and write to ``summary.json``) the final metrics."""
    cfg = to_dict(cfg)
    setup(cfg)
    out = output_dir(cfg, "cifar100")
    data = classification_datamodule(load_cifar100(cfg["data_dir"], coarse=cfg["coarse"]), cfg)
    classes = 20 if cfg["coarse"] else 100
    model = classifier({**cfg, "head": "linear" if cfg["linear_output"] else "high_order"}, 3, 32, classes)
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


@hydra.main(config_path="config", config_name="cifar100", version_base=None)
def main(cfg) -> float | None:
    return run_or_exit(run, cfg)


if __name__ == "__main__":
    main()
