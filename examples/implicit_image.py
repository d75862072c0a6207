"""Implicit neural representation of a photo: a high-order MLP maps pixel coordinates to colour.

    python examples/implicit_image.py                          # china.jpg at 1/4 size (106 x 160)
    python examples/implicit_image.py image=flower.jpg factor=2
    python examples/implicit_image.py image=/path/to/photo.png
    python examples/implicit_image.py baseline=relu            # a ReLU MLP with about as many parameters
    python examples/implicit_image.py position_embedding=fourier   # embed x and y before the network

The network ``u(x, y) -> (r, g, b)`` takes the centre of each pixel, mapped to ``[-1, 1]^2``, and
returns the colour in ``[-1, 1]``. It trains on every pixel of the image downsampled ``factor``
times (block means); the reported quality is the PSNR of the reconstruction (colours clipped to
``[0, 1]``, ``10 log10(1 / MSE)``) on those pixels, and, when ``full_resolution=true``, of the
network rendered at the original resolution against the original photo (how well it fills in the
pixels it never saw; ``psnr_full_resolution_blocks`` is the same for the training pixels simply
repeated over their blocks). ``reconstruction.png`` (and ``target.png``) go into the output folder.

The photos are scikit-learn's bundled samples (``load_sample_image``, 427 x 640, needs Pillow):
``image=china.jpg`` or ``image=flower.jpg``. Any other value is a path to an image file (read with
Pillow), and ``image=generated`` draws a smooth test picture of ``generated_size`` pixels.

``position_embedding`` (``none`` by default) puts a fixed positional embedding of the library
(``continuous`` / ``discontinuous``: the ``position_n``-node piecewise Lagrange basis on
``position_segments`` pieces; ``fourier``: ``position_frequencies`` harmonics; ``sinusoidal``:
``position_features`` transformer features, one unit per pixel) before the network, which then
takes ``2 * features`` inputs instead of the two coordinates.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from common.app import finish, output_dir, run_or_exit, setup, to_dict
from common.baselines import matched_relu_mlp
from common.data import DataNotFoundError
from common.datamodule import ArrayDataModule
from common.embedding import position_embedding
from common.task import Task
from common.training import Timer, make_trainer, metrics_of, parameter_count
from torch import Tensor, nn

from high_order_layers_torch.layers import MaxAbsNormalization
from high_order_layers_torch.networks import HighOrderMLP

SAMPLE_IMAGES = ("china.jpg", "flower.jpg")


def generated_image(height: int, width: int) -> np.ndarray:
    """A smooth RGB test picture ``(height, width, 3)`` in ``[0, 1]``: colour ramps, waves and a disc."""
    y, x = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    disc = (x - 0.2) ** 2 + (y + 0.1) ** 2 < 0.25
    red = 0.5 + 0.4 * np.sin(3 * x + 2 * y)
    green = 0.5 + 0.4 * np.cos(4 * y) * x
    blue = np.where(disc, 0.9, 0.2 + 0.2 * x * y)
    return np.stack([red, green, blue], axis=-1).clip(0, 1)


def load_image(name: str, generated_size: tuple[int, int] = (32, 48)) -> np.ndarray:
    """The picture ``name`` as float ``(H, W, 3)`` in ``[0, 1]`` (see the module docstring for names)."""
    if name == "generated":
        return generated_image(*generated_size)
    if name in SAMPLE_IMAGES:
        try:
            from sklearn.datasets import load_sample_image
        except ImportError:
            raise DataNotFoundError(
                f"image={name} is scikit-learn's sample photo, but scikit-learn is not installed: "
                "pip install scikit-learn pillow (or pass image=generated or image=/path/to/picture)"
            ) from None
        return load_sample_image(name).astype(np.float64) / 255
    path = Path(name).expanduser()
    if not path.is_file():
        raise DataNotFoundError(
            f"image {name!r} is neither {' nor '.join(SAMPLE_IMAGES)}, 'generated', nor a file (no file "
            f"{path.resolve()}); pass image=/path/to/picture (read with Pillow) or one of those names"
        )
    from PIL import Image

    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.float64) / 255


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Block means over ``factor x factor`` pixels (the image is cropped to a multiple of ``factor``)."""
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor!r}")
    height, width = image.shape[0] // factor, image.shape[1] // factor
    if height == 0 or width == 0:
        raise ValueError(f"factor {factor} leaves no pixels of a {image.shape[0]} x {image.shape[1]} image")
    blocks = image[: height * factor, : width * factor].reshape(height, factor, width, factor, -1)
    return blocks.mean(axis=(1, 3))


def pixel_grid(height: int, width: int) -> Tensor:
    """Pixel centres in ``[-1, 1]^2`` as ``(x, y)`` pairs, row by row. Shape: ``(height * width, 2)``."""
    ys = (torch.arange(height) + 0.5) / height * 2 - 1
    xs = (torch.arange(width) + 0.5) / width * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y], dim=-1).reshape(-1, 2)  # (H, W, 2) -> (H * W, 2)


def psnr(prediction: Tensor, target: Tensor) -> float:
    """Peak signal-to-noise ratio (dB) of colours in ``[0, 1]``; ``prediction`` is clipped first."""
    mse = (prediction.clamp(0, 1) - target).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@torch.no_grad()
def render(model: nn.Module, height: int, width: int, chunk: int = 65536) -> Tensor:
    """The network's picture at ``height x width``: colours in ``[0, 1]``, shape ``(height, width, 3)``."""
    grid = pixel_grid(height, width)
    out = torch.cat([model(part) for part in grid.split(chunk)])
    return ((out + 1) / 2).reshape(height, width, 3)  # (H * W, 3) -> (H, W, 3)


def save_png(image: Tensor | np.ndarray, path: Path) -> None:
    from PIL import Image

    pixels = np.rint(np.asarray(image).clip(0, 1) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def build_model(cfg: dict[str, Any], positions: int = 2) -> nn.Module:
    """The network for ``cfg``; ``positions`` (the larger side in pixels) scales a sinusoidal embedding."""
    embedding = position_embedding(cfg, positions)
    in_width = 2 if embedding is None else 2 * embedding.features
    body: nn.Module = HighOrderMLP(
        cfg["layer_type"],
        n=cfg["n"],
        in_width=in_width,
        out_width=3,
        hidden_layers=cfg["hidden_layers"],
        hidden_width=cfg["hidden_width"],
        segments=cfg["segments"],
        in_segments=cfg["in_segments"],
        normalization=MaxAbsNormalization if cfg["normalize"] else None,
        initialization=cfg.get("initialization"),
    )
    if cfg.get("baseline") == "relu":
        body = matched_relu_mlp(in_width, 3, cfg["hidden_layers"], parameter_count(body))
    elif cfg.get("baseline") is not None:
        raise ValueError(f"baseline must be null or 'relu', got {cfg['baseline']!r}")
    return body if embedding is None else nn.Sequential(embedding, body)


def run(cfg: Any) -> dict[str, Any]:
    """Fit the picture, write the reconstruction and return (and write to ``summary.json``) its PSNR."""
    cfg = to_dict(cfg)
    setup(cfg)
    out = output_dir(cfg, "implicit_image")
    original = load_image(cfg["image"], tuple(cfg["generated_size"]))
    small = downsample(original, cfg["factor"])
    height, width = small.shape[:2]
    coords = pixel_grid(height, width)
    colours = torch.as_tensor(small, dtype=torch.float32).reshape(-1, 3)  # (H, W, 3) -> (H * W, 3)
    targets = colours * 2 - 1
    data = ArrayDataModule(coords, targets, coords, targets, batch_size=cfg["batch_size"], seed=cfg["seed"])
    model = build_model(cfg, max(height, width))
    task = Task(
        model,
        loss="mse",
        optimizer=cfg["optimizer"],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        scheduler=cfg["scheduler"],
    )
    timer = Timer()
    trainer = make_trainer(cfg, out, callbacks=[timer])
    trainer.fit(task, datamodule=data, ckpt_path=cfg.get("resume"), weights_only=True)
    model.eval()
    reconstruction = render(model, height, width)
    summary = {
        "model": "relu" if cfg.get("baseline") == "relu" else cfg["layer_type"],
        "position_embedding": cfg.get("position_embedding", "none"),
        "params": parameter_count(model),
        "epochs": trainer.current_epoch,
        "wall_s": round(timer.seconds, 2),
        "image": cfg["image"],
        "pixels": [height, width],
        "psnr": psnr(reconstruction, colours.reshape(height, width, 3)),
    }
    if cfg["full_resolution"] and cfg["factor"] > 1:
        full_height, full_width = height * cfg["factor"], width * cfg["factor"]
        full = render(model, full_height, full_width)
        target = torch.as_tensor(original[:full_height, :full_width], dtype=torch.float32)
        summary["psnr_full_resolution"] = psnr(full, target)
        # what the training pixels alone carry: each one repeated over its block
        blocks = np.repeat(np.repeat(small, cfg["factor"], axis=0), cfg["factor"], axis=1)
        summary["psnr_full_resolution_blocks"] = psnr(torch.as_tensor(blocks, dtype=torch.float32), target)
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        save_png(reconstruction, out / "reconstruction.png")
        save_png(small, out / "target.png")
    return finish(trainer, out, {**summary, **metrics_of(trainer)})


@hydra.main(config_path="config", config_name="implicit_image", version_base=None)
def main(cfg) -> float | None:
    return run_or_exit(run, cfg)


if __name__ == "__main__":
    main()
