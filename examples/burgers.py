"""Physics-informed solution of Burgers' equation with a high-order MLP.

    python examples/burgers.py                                  # nu = 0.01 / pi, the classic benchmark
    python examples/burgers.py nu=0.1                           # smoother: much easier
    python examples/burgers.py nu=0 reference=godunov           # inviscid (shock at x = 0 from t = 1 / pi)
    python examples/burgers.py baseline=tanh                    # the usual tanh PINN, about as many parameters

Solves ``u_t + u u_x = nu u_xx`` on ``x in [-1, 1], t in [0, 1]`` with ``u(x, 0) = -sin(pi x)`` and
``u(-1, t) = u(1, t) = 0``. The network takes ``(x, 2 t - 1)`` (both in ``[-1, 1]``, the range of
the links) and returns ``u``. The loss is the mean squared PDE residual at ``collocation`` random
points (derivatives by autograd with respect to the inputs; ``u_t`` picks up the factor 2 of the
time map) plus ``ic_weight`` times the initial-condition error and ``bc_weight`` times the boundary
error, both at ``boundary_points`` points drawn afresh every step. ``lbfgs_steps`` > 0 adds a second
phase after the Adam epochs: the model in float64, full-batch L-BFGS with a strong-Wolfe line search
on the same collocation points and ``boundary_points`` fixed initial and wall points
(``BurgersTask.lbfgs_``); docs/pde.md compares such settings.

Accuracy is the relative L2 error ``|u - u_ref| / |u_ref|`` on a ``grid_x x grid_t`` grid against a
reference computed here: the Cole-Hopf solution by quadrature (``nu > 0``; exact up to round-off,
it reproduces the benchmark's steepest slope -152.00516 at x = 0, t = 0.51047) or a Godunov
finite-volume solver (any ``nu``; first order, ``fv_cells`` cells, about 3e-3 relative error at 2048
cells for ``nu = 0.01 / pi``). ``solution.png`` shows the network, the reference and their difference.

The second derivative needs links that are smooth: ``polynomial`` (the default) and ``fourier`` are;
``continuous`` piecewise polynomials are only continuous at their joints, so ``u_xx`` has point
masses there that the collocation loss never sees (the residual can be small while the solution is
off). ``non_linearity=tanh`` (the default) squashes each hidden layer's input smoothly into
``(-1, 1)``; without it, values outside ``[-1, 1]`` are clamped and the network goes flat there.
``baseline=relu`` gives a ReLU MLP (whose ``u_xx`` is zero almost everywhere: the viscous term drops out);
``baseline=tanh`` the tanh MLP of the PINN literature.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import hydra
import numpy as np
import torch
from common.app import finish, output_dir, run_or_exit, setup, to_dict
from common.baselines import matched_relu_mlp
from common.datamodule import ArrayDataModule
from common.pde_references import cole_hopf
from common.task import Task
from common.training import Timer, make_trainer, metrics_of, parameter_count
from torch import Tensor, nn

from high_order_layers_torch.layers import MaxAbsNormalization
from high_order_layers_torch.networks import HighOrderMLP


# ------------------------------------------------------------------------------- reference solvers
def _godunov_flux(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The exact Riemann (Godunov) flux of ``f(u) = u^2 / 2``."""
    f_left, f_right = left**2 / 2, right**2 / 2
    rarefaction = np.where((left <= 0) & (right >= 0), 0.0, np.minimum(f_left, f_right))
    return np.where(left <= right, rarefaction, np.maximum(f_left, f_right))


def godunov(x: np.ndarray, t: np.ndarray, nu: float, *, cells: int = 2048, cfl: float = 0.4) -> np.ndarray:
    """Burgers' solution for ``u(x, 0) = -sin(pi x)`` by first-order finite volumes, ``(len(t), len(x))``.

    Godunov fluxes for the convection, central differences for ``nu u_xx``, explicit Euler steps
    (``dt <= cfl * min(dx / max|u|, dx^2 / (2 nu))``); the walls are odd reflections, so ``u = 0`` there.
    ``t`` must be sorted. Values at ``x`` are linear interpolations of the cell means.
    """
    if nu < 0:
        raise ValueError(f"nu must be >= 0, got {nu}")
    dx = 2 / cells
    centres = -1 + (np.arange(cells) + 0.5) * dx
    nodes = np.concatenate([[-1.0], centres, [1.0]])
    u = -np.sin(np.pi * centres)
    out = np.empty((len(t), len(x)))
    time = 0.0
    for row, target in enumerate(np.asarray(t, dtype=np.float64)):
        while time < target - 1e-12:
            dt = cfl * dx / max(np.abs(u).max(), 1e-12)
            if nu > 0:
                dt = min(dt, cfl * dx * dx / (2 * nu))
            dt = min(dt, target - time)
            padded = np.concatenate([[-u[0]], u, [-u[-1]]])
            flux = _godunov_flux(padded[:-1], padded[1:])
            laplacian = (padded[2:] - 2 * u + padded[:-2]) / dx**2
            u = u - dt / dx * (flux[1:] - flux[:-1]) + dt * nu * laplacian
            time += dt
        out[row] = np.interp(x, nodes, np.concatenate([[0.0], u, [0.0]]))
    return out


REFERENCES: dict[str, Callable[[np.ndarray, np.ndarray, float, int], np.ndarray]] = {
    "cole_hopf": lambda x, t, nu, cells: cole_hopf(x, t, nu),
    "godunov": lambda x, t, nu, cells: godunov(x, t, nu, cells=cells),
}


def resolve_reference(name: str, nu: float) -> str:
    """``name``, with ``auto`` resolved to ``cole_hopf`` for ``nu > 0`` and ``godunov`` for ``nu = 0``."""
    if name == "auto":
        return "cole_hopf" if nu > 0 else "godunov"
    if name not in REFERENCES:
        raise ValueError(f"unknown reference {name!r}; valid names: auto, {', '.join(REFERENCES)}")
    return name


# -------------------------------------------------------------------------------------- the PINN
def grid_points(x: np.ndarray, t: np.ndarray) -> Tensor:
    """Network inputs ``(x, 2 t - 1)`` of the grid, row by row in time. Shape: ``(len(t) * len(x), 2)``."""
    tt, xx = np.meshgrid(t, x, indexing="ij")
    return torch.as_tensor(np.stack([xx.ravel(), 2 * tt.ravel() - 1], axis=-1), dtype=torch.float32)


NON_LINEARITIES: dict[str | None, type[nn.Module] | None] = {None: None, "tanh": nn.Tanh}
BASELINES: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


def build_model(cfg: dict[str, Any]) -> nn.Module:
    if cfg["non_linearity"] not in NON_LINEARITIES:
        raise ValueError(f"non_linearity must be null or 'tanh', got {cfg['non_linearity']!r}")
    model = HighOrderMLP(
        cfg["layer_type"],
        n=cfg["n"],
        in_width=2,
        out_width=1,
        hidden_layers=cfg["hidden_layers"],
        hidden_width=cfg["hidden_width"],
        segments=cfg["segments"],
        normalization=MaxAbsNormalization if cfg["normalize"] else None,
        non_linearity=NON_LINEARITIES[cfg["non_linearity"]],
        initialization=cfg.get("initialization"),
    )
    baseline = cfg.get("baseline")
    if baseline is None:
        return model
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be null, 'relu' or 'tanh', got {baseline!r}")
    return matched_relu_mlp(2, 1, cfg["hidden_layers"], parameter_count(model), activation=BASELINES[baseline])


class BurgersTask(Task):
    """:class:`Task` whose training loss is the physics-informed one.

    Training batches are collocation points ``(x, s = 2 t - 1)`` (their targets are unused). Logs
    ``train_loss`` and its parts ``train_pde``, ``train_ic``, ``train_bc``. Validation and test
    batches are grid points with the reference solution: ``val_loss`` / ``test_loss`` are the mean
    squared error against it.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        nu: float,
        ic_weight: float = 1.0,
        bc_weight: float = 1.0,
        boundary_points: int = 256,
        **options: Any,
    ) -> None:
        super().__init__(model, loss="mse", **options)
        self.nu = nu
        self.ic_weight = ic_weight
        self.bc_weight = bc_weight
        self.boundary_points = boundary_points

    def residual(self, points: Tensor) -> Tensor:
        """``u_t + u u_x - nu u_xx`` at ``points`` ``(B, 2)``. Shape: ``(B,)``."""
        points = points.detach().requires_grad_(True)
        u = self.model(points)[:, 0]
        (grad,) = torch.autograd.grad(u.sum(), points, create_graph=True)
        u_x, u_t = grad[:, 0], 2 * grad[:, 1]  # d/dt = 2 d/ds
        out = u_t + u * u_x
        if self.nu:
            (grad_x,) = torch.autograd.grad(u_x.sum(), points, create_graph=True)
            out = out - self.nu * grad_x[:, 0]
        return out

    def loss_parts(self, points: Tensor, x0: Tensor, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The PDE, initial and boundary losses at collocation ``points`` ``(B, 2)``, initial points
        ``x0`` ``(I, 1)`` (``t = 0``) and wall times ``s`` ``(W, 1)`` (at ``x = -1`` and ``x = 1``)."""
        initial = torch.cat([x0, -torch.ones_like(x0)], dim=1)  # t = 0
        walls = torch.cat([torch.cat([-torch.ones_like(s), s], 1), torch.cat([torch.ones_like(s), s], 1)])
        pde = self.residual(points).pow(2).mean()
        ic = (self.model(initial) + torch.sin(math.pi * x0)).pow(2).mean()
        bc = self.model(walls).pow(2).mean()
        return pde, ic, bc

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        points, _ = batch
        count = self.boundary_points
        x0 = torch.rand(count, 1, device=points.device, dtype=points.dtype) * 2 - 1
        s = torch.rand(count, 1, device=points.device, dtype=points.dtype) * 2 - 1
        pde, ic, bc = self.loss_parts(points, x0, s)
        loss = pde + self.ic_weight * ic + self.bc_weight * bc
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log_dict({"train_pde": pde, "train_ic": ic, "train_bc": bc}, on_step=False, on_epoch=True)
        return loss

    def lbfgs_(self, points: Tensor, steps: int, *, seed: int = 0, history: int = 50) -> dict[str, float]:
        """Full-batch L-BFGS (strong-Wolfe line search) on ``points`` and ``boundary_points`` fixed
        initial and wall points, ``steps`` iterations, in the model's dtype; the final loss parts.

        Runs in chunks of 100 iterations; a chunk that ends in a non-finite loss is undone and the
        phase stops there."""
        generator = torch.Generator().manual_seed(seed + 1)
        dtype = next(self.model.parameters()).dtype
        points = points.to(dtype)
        x0 = torch.rand(self.boundary_points, 1, generator=generator, dtype=dtype) * 2 - 1
        s = torch.rand(self.boundary_points, 1, generator=generator, dtype=dtype) * 2 - 1
        optimizer = torch.optim.LBFGS(
            self.model.parameters(),
            lr=1.0,
            max_iter=100,
            history_size=history,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )

        def total() -> Tensor:
            pde, ic, bc = self.loss_parts(points, x0, s)
            return pde + self.ic_weight * ic + self.bc_weight * bc

        def closure() -> Tensor:
            optimizer.zero_grad(set_to_none=True)
            value = total()
            value.backward()
            return value

        done = 0
        while done < steps:
            optimizer.param_groups[0]["max_iter"] = min(100, steps - done)
            saved = {name: value.clone() for name, value in self.model.state_dict().items()}
            optimizer.step(closure)
            done += optimizer.param_groups[0]["max_iter"]
            if not torch.isfinite(total()):
                self.model.load_state_dict(saved)
                break
        pde, ic, bc = (part.item() for part in self.loss_parts(points, x0, s))
        return {"lbfgs_steps": done, "lbfgs_pde": pde, "lbfgs_ic": ic, "lbfgs_bc": bc}


def plot_solution(path, prediction: np.ndarray, reference: np.ndarray) -> None:
    """``u``, ``u_ref`` and ``u - u_ref`` over ``(t, x)`` side by side, saved to ``path``."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 3.2), layout="constrained")
    panels = figure.subplots(1, 3)
    extent = (0, 1, -1, 1)
    for axes, values, title in zip(
        panels, (prediction, reference, prediction - reference), ("network", "reference", "difference"), strict=True
    ):
        limit = max(float(np.abs(values).max()), 1e-12)
        image = axes.imshow(
            values.T, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r", vmin=-limit, vmax=limit
        )
        axes.set(title=title, xlabel="t", ylabel="x")
        figure.colorbar(image, ax=axes)
    figure.savefig(path, dpi=100)


def run(cfg: Any) -> dict[str, Any]:
    """Train the PINN, compare it with the reference, and return (and write to ``summary.json``) the result."""
    cfg = to_dict(cfg)
    setup(cfg)
    out = output_dir(cfg, "burgers")
    nu = float(cfg["nu"])
    x, t = np.linspace(-1, 1, cfg["grid_x"]), np.linspace(0, 1, cfg["grid_t"])
    solver = resolve_reference(cfg["reference"], nu)
    reference = REFERENCES[solver](x, t, nu, cfg["fv_cells"])  # (T, X)
    grid = grid_points(x, t)
    u_ref = torch.as_tensor(reference, dtype=torch.float32).reshape(-1, 1)
    collocation = torch.rand(cfg["collocation"], 2, generator=torch.Generator().manual_seed(cfg["seed"])) * 2 - 1
    data = ArrayDataModule(
        collocation, torch.zeros(len(collocation), 1), grid, u_ref, batch_size=cfg["batch_size"], seed=cfg["seed"]
    )
    model = build_model(cfg)
    task = BurgersTask(
        model,
        nu=nu,
        ic_weight=cfg["ic_weight"],
        bc_weight=cfg["bc_weight"],
        boundary_points=cfg["boundary_points"],
        optimizer=cfg["optimizer"],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        scheduler=cfg["scheduler"],
    )
    timer = Timer()
    trainer = make_trainer(cfg, out, callbacks=[timer])
    trainer.fit(task, datamodule=data, ckpt_path=cfg.get("resume"), weights_only=True)
    lbfgs: dict[str, float] = {}
    start = time.perf_counter()
    if cfg.get("lbfgs_steps", 0) > 0:  # full batch, float64, after the Adam epochs
        model.double()
        lbfgs = task.lbfgs_(collocation, cfg["lbfgs_steps"], seed=cfg["seed"])
    lbfgs_seconds = time.perf_counter() - start
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        prediction = model(grid.to(dtype))
    relative_l2 = ((prediction - u_ref.to(dtype)).norm() / u_ref.to(dtype).norm()).item()
    if cfg["plot"] and trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        plot_solution(out / "solution.png", prediction.reshape(reference.shape).numpy(), reference)
    return finish(
        trainer,
        out,
        {
            "model": cfg.get("baseline") or cfg["layer_type"],
            "params": parameter_count(model),
            "epochs": trainer.current_epoch,
            "steps": trainer.global_step,
            "wall_s": round(timer.seconds + lbfgs_seconds, 2),
            "nu": nu,
            "reference": solver,
            "relative_l2": relative_l2,
            **metrics_of(trainer),
            **lbfgs,
        },
    )


@hydra.main(config_path="config", config_name="burgers", version_base=None)
def main(cfg) -> float | None:
    return run_or_exit(run, cfg)


if __name__ == "__main__":
    main()
