"""KAN layers and networks from other libraries, for the benchmarks to set against ours (not
part of the package). Every builder needs its package (the ``peers`` extra); :func:`import_peer`
says whether it imports.

Grids follow one convention: ``grid`` intervals on ``[-1, 1]``, which is what pykan's ``grid``,
inkan's ``grid_size`` and this project's ``segments`` count (KANditioned counts control points:
``grid + 1`` of them).

* pykan 0.2.8 (``kan``): B-splines of order ``k`` (cubic here) plus a SiLU residual per edge,
  each edge scaled by two trainable factors; a symbolic branch and node affines beside them.
* inkan (``inkan``): uniform cubic B-splines plus a SiLU residual per edge, one packed weight;
  its basis is ``torch.compile`` d by default (``compile_basis=False``: eager).
* KANditioned (``KANditioned``): piecewise-linear links (linear interpolation between control
  points, linear beyond the ends), no residual. Its default ``sparse_matmul_csr`` path fails in
  1.0.4 (the weight it hands to ``torch.sparse.mm`` is 3-D), so the builders take ``embedding``.
* efficient-kan is not on the package index, and TorchKAN 0.1.1 ships no module: neither is here.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from types import ModuleType

from torch import Tensor, nn


@functools.cache
def import_peer(module: str) -> ModuleType | None:
    """The peer package ``module``, or ``None`` where it is not installed (or fails to import).

    Imported with warnings silenced: inkan compiles a function at import time, which imports
    torch's Inductor, which warns about its own use of ``torch.jit``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except Exception:
        return None


def _require(module: str, package: str) -> ModuleType:
    found = import_peer(module)
    if found is None:
        raise ModuleNotFoundError(f"{package} is not installed (pip install -e '.[peers]')")
    return found


# ------------------------------------------------------------------------------------- networks
def pykan_net(dims: int, width: int, *, grid: int = 5, seed: int = 0) -> nn.Module:
    """pykan's ``KAN`` ``[dims, width, 1]``, cubic (``k=3``), grid on ``[-1, 1]``.

    Its symbolic branch is off (it adds nothing until ``fix_symbolic`` is called) and its unused
    affine parameters are frozen, so they are not counted as trainable; no activation caching
    (``save_act=False``), no checkpoints on disk. pykan seeds the global generators (torch,
    NumPy, ``random``) with ``seed`` when it builds.
    """
    kan = _require("kan", "pykan")
    model = kan.KAN(
        width=[dims, width, 1], grid=grid, k=3, seed=seed, auto_save=False, symbolic_enabled=False, save_act=False
    )
    for parameter in model.symbolic_fun.parameters():
        parameter.requires_grad_(False)
    return model


def inkan_net(dims: int, width: int, *, grid: int = 5) -> nn.Module:
    """inkan's ``KANNetwork`` ``[dims, width, 1]`` with the eager basis (``compile_basis=False``,
    which also allows double backward)."""
    inkan = _require("inkan", "inkan")
    return inkan.KANNetwork([dims, width, 1], grid_size=grid, compile_basis=False)


def kanditioned_net(dims: int, width: int, *, grid: int = 5) -> nn.Module:
    """Two KANditioned layers ``dims -> width -> 1`` (see :func:`kanditioned_layer`)."""
    return nn.Sequential(kanditioned_layer(dims, width, grid=grid), kanditioned_layer(width, 1, grid=grid))


# --------------------------------------------------------------------------------------- layers
class _FirstOutput(nn.Module):
    """pykan's ``KANLayer`` returns ``(y, preacts, postacts, postspline)``: keep ``y``."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)[0]


def pykan_layer(in_features: int, out_features: int, *, grid: int = 5) -> nn.Module:
    """pykan's ``KANLayer`` (cubic), returning only its output. Shape: ``(batch, in) -> (batch, out)``.
    It builds ``(batch, out, in)`` intermediates: about 0.4 GB each at batch 1024, 784 -> 128."""
    kan = _require("kan", "pykan")
    return _FirstOutput(kan.KANLayer(in_dim=in_features, out_dim=out_features, num=grid, k=3))


def inkan_layer(in_features: int, out_features: int, *, grid: int = 5, compile_basis: bool = True) -> nn.Module:
    """inkan's ``KANLayer`` (cubic); ``compile_basis=True`` is its default."""
    inkan = _require("inkan", "inkan")
    return inkan.KANLayer(in_features, out_features, grid_size=grid, compile_basis=compile_basis)


def kanditioned_layer(in_features: int, out_features: int, *, grid: int = 5) -> nn.Module:
    """KANditioned's ``KANLayer``: ``grid + 1`` control points on ``[-1, 1]`` (``spline_width=2``),
    its ``random_normal`` start, the ``embedding`` path (faster than ``embedding_bag`` in a quick
    check here; the default path fails, see the module docstring)."""
    kanditioned = _require("KANditioned", "kanditioned")
    return kanditioned.KANLayer(
        in_features,
        out_features,
        init="random_normal",
        num_control_points=grid + 1,
        spline_width=2.0,
        impl="embedding",
    )
