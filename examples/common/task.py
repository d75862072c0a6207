"""The LightningModule every example trains: a model, a loss, and an optimizer chosen by name."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import lightning as L
import torch
from torch import Tensor, nn


def _lion(params: Iterable[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    try:
        from lion_pytorch import Lion
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("optimizer=lion needs the lion-pytorch package: pip install lion-pytorch") from None
    return Lion(params, lr=lr, weight_decay=weight_decay)


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda params, lr, weight_decay: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
    "adamw": lambda params, lr, weight_decay: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
    "sgd": lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay),
    "lion": _lion,
}
LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "cross_entropy": nn.functional.cross_entropy,
    "mse": nn.functional.mse_loss,
}
SCHEDULERS = ("none", "cosine")


def build_optimizer(
    name: str, params: Iterable[nn.Parameter], lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Build the optimizer called ``name`` (one of :data:`OPTIMIZERS`)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr=lr, weight_decay=weight_decay)


class Task(L.LightningModule):
    """Supervised training of ``model`` on ``(x, y)`` batches.

    Logs ``train_loss``, ``val_loss`` and ``test_loss`` (plus ``*_acc`` for cross-entropy).
    The hyper-parameters (not the model) are saved in checkpoints, so a checkpoint resumes into
    a task built the same way (``Trainer.fit(task, ckpt_path=..., weights_only=True)``).

    Args:
        model: maps a batch of inputs to outputs (logits for ``cross_entropy``).
        loss: a name from :data:`LOSSES`.
        optimizer: a name from :data:`OPTIMIZERS` (``lion`` needs ``lion-pytorch``).
        lr, weight_decay: optimizer settings.
        scheduler: ``"none"`` or ``"cosine"`` (cosine decay over ``Trainer.estimated_stepping_batches``).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        loss: str = "cross_entropy",
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        scheduler: str = "none",
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; valid names: {', '.join(LOSSES)}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; valid names: {', '.join(OPTIMIZERS)}")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {scheduler!r}; valid names: {', '.join(SCHEDULERS)}")
        self.save_hyperparameters(ignore=["model"])
        self.model = model
        self.loss_fn = LOSSES[loss]

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        out = self(x)
        loss = self.loss_fn(out, y)
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step)
        if self.hparams.loss == "cross_entropy":
            acc = (out.argmax(dim=-1) == y).float().mean()
            self.log(f"{stage}_acc", acc, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "test")

    def configure_optimizers(self):
        optimizer = build_optimizer(
            self.hparams.optimizer, self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.hparams.scheduler == "none":
            return optimizer
        total = (
            max(1, int(self.trainer.estimated_stepping_batches))
            if math.isfinite(self.trainer.estimated_stepping_batches)
            else 1
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
