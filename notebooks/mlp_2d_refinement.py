# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Growing a trained network: p- and h-refinement of a `HighOrderMLP`
#
# A link of a piecewise-polynomial layer is defined by its values at `n` nodes on each of
# `segments` pieces. A trained network can be moved to a richer basis without changing what it
# computes:
#
# * **p-refinement** raises the number of nodes per piece (a higher polynomial degree);
# * **h-refinement** cuts every piece into several smaller ones.
#
# Both are exact: the old function is also a function of the new basis, so the new weights are
# just the old function evaluated at the new nodes. This notebook trains a small network with
# piecewise-linear links on a 2-D function, refines it twice, checks each time that the output is
# unchanged, and trains on with the extra capacity.

# %%
# Install the project when it is missing (for hosted notebooks such as Colab).
# Does nothing when the package already imports.
try:
    import high_order_layers_torch  # noqa: F401
except ImportError:
    from pathlib import Path

    if Path("../pyproject.toml").is_file():  # running inside a checkout of the project
        # %pip install -q -e "..[plots]"
        import sys

        sys.path.insert(0, str(Path("../src").resolve()))  # an editable install is seen only after a restart
    else:
        print("high_order_layers_torch is not installed: run `pip install high-order-layers-torch` and restart.")

# %%
import copy
import importlib.util
import math

import matplotlib.pyplot as plt
import torch
from IPython.display import display
from torch import nn

from high_order_layers_torch.inspect import export_link, plot_links
from high_order_layers_torch.layers import MaxAbsNormalization
from high_order_layers_torch.networks import HighOrderMLP
from high_order_layers_torch.refine import Refine, refine_

# %% [markdown]
# Sizes. The test suite runs this notebook with much smaller values.

# %% tags=["parameters"]
SAMPLES = 1000  # random training points in [-1, 1]^2
STEPS = 1000  # full-batch Adam steps for each training stage
GRID = 81  # the error is measured on a GRID x GRID grid
SEED = 0

# %%
torch.manual_seed(SEED)
torch.set_num_threads(1)  # the network is small: one thread is faster than several
DTYPE = torch.float64  # so that "unchanged by refinement" means equal to ~1e-15

# %% [markdown]
# ## The target and the data
#
# A wave with a bump on top of it, sampled at random points; the error is measured on a regular
# grid.


# %%
def target(points: torch.Tensor) -> torch.Tensor:
    """(..., 2) -> (..., 1)"""
    x, y = points[..., 0], points[..., 1]
    wave = torch.sin(math.pi * x) * torch.cos(1.5 * math.pi * y)
    bump = 0.5 * torch.exp(-8 * ((x - 0.3) ** 2 + (y + 0.4) ** 2))
    return (wave + bump)[..., None]


x_train = torch.rand(SAMPLES, 2, dtype=DTYPE) * 2 - 1  # (SAMPLES, 2)
y_train = target(x_train)  # (SAMPLES, 1)
axis = torch.linspace(-1, 1, GRID, dtype=DTYPE)
grid_x, grid_y = torch.meshgrid(axis, axis, indexing="xy")  # (GRID, GRID) each
x_test = torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)  # (GRID * GRID, 2)
y_test = target(x_test)  # (GRID * GRID, 1)

# %% [markdown]
# ## A network with piecewise-linear links
#
# `n = 2` nodes per piece and 2 pieces per link: every link starts as a function made of two
# straight lines. Two inputs, one hidden layer of width 8, one output; `MaxAbsNormalization`
# keeps the inputs of every later layer inside `[-1, 1]`.

# %%
net = HighOrderMLP(
    "continuous",
    n=2,
    segments=2,
    in_width=2,
    out_width=1,
    hidden_layers=1,
    hidden_width=8,
    normalization=MaxAbsNormalization,
    dtype=DTYPE,
)
print(net)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def grid_rmse(model: nn.Module) -> float:
    with torch.no_grad():
        return (model(x_test) - y_test).pow(2).mean().sqrt().item()


def train(model: nn.Module, steps: int, lr: float) -> float:
    """Full-batch Adam with a fresh optimizer (needed after every refinement); returns the test RMSE."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x_train), y_train)
        loss.backward()
        optimizer.step()
        schedule.step()
    return grid_rmse(model)


history = [("n=2, 2 pieces", parameter_count(net), train(net, STEPS, lr=1e-2))]
print(f"{history[-1][0]}: {history[-1][1]} parameters, test rmse {history[-1][2]:.2e}")

# %% [markdown]
# ## Surface plot
#
# The target, the network's output and the error on the test grid.


# %%
def plot_surfaces(model: nn.Module, title: str) -> None:
    with torch.no_grad():
        predicted = model(x_test).reshape(GRID, GRID)
    expected = y_test.reshape(GRID, GRID)
    figure = plt.figure(figsize=(13, 4), layout="constrained")
    for k, (values, name) in enumerate([(expected, "target"), (predicted, "network")]):
        ax = figure.add_subplot(1, 3, k + 1, projection="3d")
        ax.plot_surface(grid_x.numpy(), grid_y.numpy(), values.numpy(), cmap="viridis", linewidth=0)
        ax.set_title(name)
    ax = figure.add_subplot(1, 3, 3)
    error = predicted - expected
    limit = error.abs().max().item()
    image = ax.pcolormesh(grid_x.numpy(), grid_y.numpy(), error.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_aspect("equal")
    ax.set_title("network - target")
    figure.colorbar(image, ax=ax)
    figure.suptitle(title)
    plt.show()


plot_surfaces(net, "n=2, 2 pieces")

# %% [markdown]
# ## p-refinement: more nodes per piece
#
# `refine_(net, Refine(n=4))` replaces every layer's basis by cubic pieces, in place. The
# report says, per layer, whether the change is exact. The largest change of the output over the
# test grid is round-off.

# %%
unrefined = copy.deepcopy(net)  # a control that keeps training at n=2
with torch.no_grad():
    before = net(x_test)
report = refine_(net, Refine(n=4))
for layer_name, layer_report in report.items():
    print(f"{layer_name:20s} {layer_report.old} -> {layer_report.new}, exact={layer_report.exact}")
with torch.no_grad():
    change = (net(x_test) - before).abs().max().item()
print(f"max |output change| after p-refinement: {change:.1e}")

# %% [markdown]
# The refined weights are new `Parameter`s of a new size, so training continues with a new
# optimizer (`train` builds one each time), here with a smaller learning rate: the network is
# already close, and large first steps would undo part of what it has learned. The copy of the
# unrefined network trains in the same way, to show that the gain comes from the new capacity
# and not from the extra steps.

# %%
history.append(("n=4, 2 pieces", parameter_count(net), train(net, STEPS, lr=3e-3)))
print(f"refined to n=4:           {history[-1][1]:4d} parameters, test rmse {history[-1][2]:.2e}")
control_error = train(unrefined, STEPS, lr=3e-3)
print(f"kept at n=2 (same steps): {parameter_count(unrefined):4d} parameters, test rmse {control_error:.2e}")

# %% [markdown]
# ## h-refinement: more pieces
#
# `Refine(segments=lambda s: 2 * s)` cuts every piece in two. Again the output does not change,
# and the finer network trains further.

# %%
unrefined = copy.deepcopy(net)  # a control that keeps training with 2 pieces
with torch.no_grad():
    before = net(x_test)
report = refine_(net, Refine(segments=lambda s: 2 * s))
for layer_name, layer_report in report.items():
    print(f"{layer_name:20s} {layer_report.old} -> {layer_report.new}, exact={layer_report.exact}")
with torch.no_grad():
    change = (net(x_test) - before).abs().max().item()
print(f"max |output change| after h-refinement: {change:.1e}")

# %%
history.append(("n=4, 4 pieces", parameter_count(net), train(net, STEPS, lr=3e-3)))
print(f"refined to 4 pieces:           {history[-1][1]:4d} parameters, test rmse {history[-1][2]:.2e}")
control_error = train(unrefined, STEPS, lr=3e-3)
print(f"kept at 2 pieces (same steps): {parameter_count(unrefined):4d} parameters, test rmse {control_error:.2e}")

# %% [markdown]
# ## Summary
#
# Each refinement starts from exactly the function the network had learned, so no training is
# lost, and the extra nodes or pieces then bring the error down further than the same number of
# steps at the old size.

# %%
print(f"{'stage':16s} {'parameters':>10s} {'test rmse':>10s}")
for stage, count, error in history:
    print(f"{stage:16s} {count:10d} {error:10.2e}")
plot_surfaces(net, "after p- and h-refinement")

# %% [markdown]
# ## One link, as a picture and as a formula
#
# Every link is still a plain 1-D function. `plot_links` draws the links from the first input
# to the first four hidden neurons, with their nodes (red dots: the weights) and their joints
# (dotted). The grey strips lie outside `[-1, 1]`, where these layers hold the end values.

# %%
figure, axes = plt.subplots(1, 4, figsize=(12, 2.6), layout="constrained")
for k, ax in enumerate(axes):
    plot_links(net.model.input, [(k, 0)], ax=ax)
plt.show()

# %% [markdown]
# `export_link` writes a link out exactly, one polynomial per piece. The default coordinate is
# each piece's own `t` in `[-1, 1]`; with few pieces the `"global"` form in powers of `x` is the
# easiest to read, and `to_sympy()` turns it into a `sympy.Piecewise` expression.

# %%
exported = export_link(net.model.input, (0, 0), coordinate="global")
print(exported)

# %%
if importlib.util.find_spec("sympy") is None:  # torch depends on sympy, so it is normally there
    print("sympy is not installed (pip install sympy), so there is no symbolic form")
else:
    display(exported.to_sympy().evalf(4))  # coefficients rounded to 4 digits for display
