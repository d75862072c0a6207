"""A variational autoencoder of MNIST digits with high-order convolutions.

    python examples/variational_autoencoder.py max_epochs=300 train_fraction=1.0
    python examples/variational_autoencoder.py max_epochs=5 train_fraction=0.1 baseline=relu

Encoder: two stride-2 high-order convolutions (28 -> 14 -> 7), flatten, linear heads for the mean
and log-variance of a ``latent``-dimensional Gaussian. Decoder: a linear map back to the 7 x 7
feature map, max-abs normalisation, two stride-2 high-order transposed convolutions (7 -> 14 -> 28)
giving pixel logits. Loss per image: binary cross-entropy summed over pixels plus ``kl_weight`` times
the KL divergence to the standard normal. ``baseline=relu`` uses ordinary (transposed) convolutions
with ReLU, widths scaled to about the same parameter count. Data as in ``mnist.py``.
"""

from __future__ import annotations

from typing import Any

import hydra
import torch
from common.app import finish, output_dir, run_or_exit, setup, to_dict
from common.baselines import match_width
from common.conv import conv_layer_type
from common.data import load_mnist
from common.datamodule import classification_datamodule
from common.task import Task
from common.training import Timer, fit_and_test, make_trainer, parameter_count
from torch import Tensor, nn

from high_order_layers_torch.layers import MaxAbsNormalization
from high_order_layers_torch.networks import high_order_conv_decoder, high_order_conv_encoder


class VAE(nn.Module):
    """``encoder`` maps images to ``(B, features)``; ``decoder`` maps ``(B, c, 7, 7)`` to ``(B, 1, 28, 28)`` logits."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, features: int, channels: int, latent: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.mean = nn.Linear(features, latent)
        self.log_var = nn.Linear(features, latent)
        self.expand = nn.Linear(latent, channels * 7 * 7)
        self.channels = channels
        self.decoder = decoder

    def decode(self, z: Tensor) -> Tensor:
        h = self.expand(z).view(-1, self.channels, 7, 7)  # (B, latent) -> (B, c, 7, 7)
        return self.decoder(h)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.encoder(x)
        mean, log_var = self.mean(h), self.log_var(h)
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if self.training else mean
        return self.decode(z), mean, log_var


def high_order_vae(cfg: dict[str, Any]) -> VAE:
    kind = conv_layer_type(cfg["layer_type"])
    c0, c1 = cfg["channels"]
    encoder = nn.Sequential(
        high_order_conv_encoder(
            kind,
            cfg["n"],
            [1, c0, c1],
            3,
            segments=cfg["segments"],
            stride=2,
            padding=1,
            global_pool=None,
            normalization=lambda channels: MaxAbsNormalization(),
        ),
        nn.Flatten(),
        MaxAbsNormalization(),
    )
    decoder = nn.Sequential(
        MaxAbsNormalization(),
        high_order_conv_decoder(
            kind,
            cfg["n"],
            [c1, c0, 1],
            4,
            segments=cfg["segments"],
            stride=2,
            padding=1,
            normalization=lambda channels: MaxAbsNormalization(),
        ),
    )
    return VAE(encoder, decoder, c1 * 7 * 7, c1, cfg["latent"])


def relu_vae(c0: int, c1: int, latent: int) -> VAE:
    encoder = nn.Sequential(
        nn.Conv2d(1, c0, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(c0, c1, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
    )
    decoder = nn.Sequential(
        nn.ReLU(),
        nn.ConvTranspose2d(c1, c0, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(c0, 1, 4, stride=2, padding=1),
    )
    return VAE(encoder, decoder, c1 * 7 * 7, c1, latent)


def build_model(cfg: dict[str, Any]) -> VAE:
    model = high_order_vae(cfg)
    if cfg.get("baseline") is None:
        return model
    if cfg["baseline"] != "relu":
        raise ValueError(f"baseline must be null or 'relu', got {cfg['baseline']!r}")
    c0, c1 = cfg["channels"]

    def build(scale: int) -> VAE:
        return relu_vae(max(1, c0 * scale // c0), max(1, c1 * scale // c0), cfg["latent"])

    return build(match_width(build, parameter_count(model), high=64 * c0))


class VAETask(Task):
    """:class:`Task` with the VAE loss; logs ``*_loss`` (per image), ``*_recon`` and ``*_kl``."""

    def __init__(self, model: VAE, *, kl_weight: float = 1.0, **options: Any) -> None:
        super().__init__(model, loss="mse", **options)
        self.kl_weight = kl_weight

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, _ = batch
        logits, mean, log_var = self.model(x)
        target = (x + 1) / 2  # pixels back to [0, 1]
        recon = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp()) / len(x)
        loss = recon + self.kl_weight * kl
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step)
        self.log(f"{stage}_recon", recon, on_epoch=True, sync_dist=True)
        self.log(f"{stage}_kl", kl, on_epoch=True, sync_dist=True)
        return loss


def run(cfg: Any) -> dict[str, Any]:
    """Train, test, and return (and write to ``summary.json``) the final metrics."""
    cfg = to_dict(cfg)
    setup(cfg)
    out = output_dir(cfg, "variational_autoencoder")
    data = classification_datamodule(load_mnist(cfg["data_dir"]), cfg)
    model = build_model(cfg)
    task = VAETask(
        model,
        kl_weight=cfg["kl_weight"],
        optimizer=cfg["optimizer"],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        scheduler=cfg["scheduler"],
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


@hydra.main(config_path="config", config_name="variational_autoencoder", version_base=None)
def main(cfg) -> float | None:
    return run_or_exit(run, cfg)


if __name__ == "__main__":
    main()
