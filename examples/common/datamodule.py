"""A LightningDataModule over in-memory tensors, with ``train_fraction`` and a validation split."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset


class ArrayDataModule(L.LightningDataModule):
    """Serve ``(x, y)`` tensors: train on the first ``train_fraction`` of a seeded shuffle of the
    training set (less ``val_size`` held out for validation), test on the test set.

    Args:
        x_train, y_train, x_test, y_test: whole data sets, already transformed.
        train_fraction: share of the training set to use, in ``(0, 1]``.
        val_size: examples of the (reduced) training set held out for validation (0: validate on the test set).
        batch_size: batch size of every loader.
        seed: seed of the shuffle that picks the subset and the validation split.
        num_workers: loader worker processes.
    """

    def __init__(
        self,
        x_train: Tensor,
        y_train: Tensor,
        x_test: Tensor,
        y_test: Tensor,
        *,
        train_fraction: float = 1.0,
        val_size: int = 0,
        batch_size: int = 128,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if not 0 < train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}")
        count = max(1, round(len(x_train) * train_fraction))
        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:count]
        if not 0 <= val_size < count:
            raise ValueError(f"val_size must be in [0, {count}) for {count} training examples, got {val_size}")
        train_idx, val_idx = order[val_size:], order[:val_size]
        self.train_set = TensorDataset(x_train[train_idx], y_train[train_idx])
        self.test_set = TensorDataset(x_test, y_test)
        self.val_set = TensorDataset(x_train[val_idx], y_train[val_idx]) if val_size else self.test_set
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers

    def _loader(self, dataset: TensorDataset, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)


def images_to_tensor(images, *, flatten: bool = False) -> Tensor:
    """uint8 images ``(N, H, W)`` or ``(N, C, H, W)`` -> float32 in ``[-1, 1]``: ``(N, C, H, W)``, or ``(N, C*H*W)``."""
    x = torch.as_tensor(images).float().div(255).mul(2).sub(1)
    if x.dim() == 3:
        x = x.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    return x.flatten(1) if flatten else x


def classification_datamodule(arrays: dict, cfg: dict, *, flatten: bool = False) -> ArrayDataModule:
    """An :class:`ArrayDataModule` of ``x_train, y_train, x_test, y_test`` uint8 images and labels,
    with ``train_fraction``, ``val_size``, ``batch_size``, ``seed`` and ``num_workers`` from ``cfg``."""
    return ArrayDataModule(
        images_to_tensor(arrays["x_train"], flatten=flatten),
        torch.as_tensor(arrays["y_train"]).long(),
        images_to_tensor(arrays["x_test"], flatten=flatten),
        torch.as_tensor(arrays["y_test"]).long(),
        train_fraction=cfg["train_fraction"],
        val_size=cfg.get("val_size", 0),
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
        num_workers=cfg.get("num_workers", 0),
    )
