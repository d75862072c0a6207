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
# # One link, many shapes: fitting 1-D functions
#
# In a high-order layer every connection (a *link*) is a small learnable function of one
# variable. A layer with one input and one output is therefore a single learnable function
# `f(x)` on `[-1, 1]`, which makes it easy to see what each layer type can and cannot represent.
#
# This notebook fits five targets (smooth, kinked, discontinuous, oscillating, periodic) with one
# link of every fully-connected layer type and with a ReLU MLP of about the same number of
# parameters, plots the learned functions with their nodes and segment joints, and compares the
# errors.

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
import math
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

from high_order_layers_torch.inspect import plot_links
from high_order_layers_torch.layers import high_order_fc_layers

# %% [markdown]
# Sizes. The test suite runs this notebook with much smaller values.

# %% tags=["parameters"]
STEPS = 1500  # full-batch Adam steps per fit
SAMPLES = 400  # random training points on [-1, 1]
GRID = 2001  # evenly spaced test points on [-1, 1]
SEED = 0

# %%
torch.manual_seed(SEED)
torch.set_num_threads(1)  # the models are tiny: one thread is faster than several

# %% [markdown]
# ## Targets and models
#
# The discontinuous target jumps at `x = 0.2`, which is a segment joint when `[-1, 1]` is cut
# into 5 pieces; the kinked target has its kinks at `-0.5`, `0` and `0.5`, none of them a joint.
#
# Each high-order model is one link. `n` is the number of nodes per piece (for `fourier`, the
# number of frequencies) and `s` the number of pieces. The weights of a piecewise or polynomial
# link are the function's values at its nodes. The `product` layer type has one plain weight per
# link, so with one input it can only draw a straight line; it is here as a floor.

# %%
TARGETS = {
    "smooth": lambda x: torch.exp(-2 * x**2) * torch.sin(3 * x),
    "kinked": lambda x: (x.abs() - 0.5).abs(),
    "discontinuous": lambda x: torch.where(x < 0.2, -0.5 + 0.3 * x, 0.5 - 0.2 * x**2),
    "oscillating": lambda x: torch.sin(12 * x) * (1 - 0.3 * x),
    "periodic": lambda x: torch.sin(5 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x),
}

# label: (layer_type, n, segments)
HIGH_ORDER = {
    "continuous n=5 s=5": ("continuous", 5, 5),
    "discontinuous n=5 s=5": ("discontinuous", 5, 5),
    "polynomial n=21": ("polynomial", 21, 1),
    "fourier n=10": ("fourier", 10, 1),
    "product (w x + b)": ("product", 1, 1),
}
RELU = "ReLU MLP 1-7-1"


def build_models() -> dict[str, nn.Module]:
    models = {
        label: high_order_fc_layers(layer_type, n=n, in_features=1, out_features=1, segments=segments)
        for label, (layer_type, n, segments) in HIGH_ORDER.items()
    }
    models[RELU] = nn.Sequential(nn.Linear(1, 7), nn.ReLU(), nn.Linear(7, 1))
    return models


for label, model in build_models().items():
    print(f"{label:22s} {sum(p.numel() for p in model.parameters()):3d} parameters")

# %% [markdown]
# ## Training
#
# Every model gets the same data and the same optimizer: full-batch Adam with a cosine learning
# rate schedule. The error is the root-mean-square error on an evenly spaced grid.


# %%
def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Train in place; return the time taken in seconds."""
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        schedule.step()
    return time.perf_counter() - start


x_train = torch.rand(SAMPLES, 1) * 2 - 1  # (SAMPLES, 1)
grid = torch.linspace(-1, 1, GRID)[:, None]  # (GRID, 1)

fitted: dict[str, dict[str, nn.Module]] = {}  # target -> label -> trained model
rmse: dict[tuple[str, str], float] = {}
seconds: dict[tuple[str, str], float] = {}
for name, target in TARGETS.items():
    fitted[name] = build_models()
    for label, model in fitted[name].items():
        seconds[name, label] = fit(model, x_train, target(x_train), STEPS)
        with torch.no_grad():
            rmse[name, label] = (model(grid) - target(grid)).pow(2).mean().sqrt().item()
print(f"fitted {len(rmse)} models")

# %% [markdown]
# ## Errors
#
# Test RMSE per target; `*` marks the best model for each target.

# %%
labels = list(fitted["smooth"])
best = {name: min(rmse[name, label] for label in labels) for name in TARGETS}
print(f"{'model':22s} {'params':>6s} " + " ".join(f"{name:>14s}" for name in TARGETS) + f" {'time (s)':>9s}")
for label in labels:
    params = sum(p.numel() for p in fitted["smooth"][label].parameters())
    cells = [f"{rmse[name, label]:.1e}" + ("*" if rmse[name, label] == best[name] else " ") for name in TARGETS]
    mean_time = sum(seconds[name, label] for name in TARGETS) / len(TARGETS)
    print(f"{label:22s} {params:6d} " + " ".join(f"{cell:>14s}" for cell in cells) + f" {mean_time:9.2f}")

# %% [markdown]
# ## The learned functions
#
# One figure per target. `plot_links` draws a high-order link (blue) with the target (dashed),
# its node values as red dots (these dots *are* the weights) and its segment joints as dotted
# lines. The ReLU network is piecewise linear too: its joints sit where a hidden unit switches
# on, `x = -b / w`, and they are drawn the same way.


# %%
def plot_relu(model: nn.Sequential, target, ax) -> None:
    with torch.no_grad():
        ax.plot(grid[:, 0], model(grid)[:, 0], color="C0", lw=1.5, label="ReLU MLP")
        ax.plot(grid[:, 0], target(grid)[:, 0], "k--", lw=1.0, label="target")
        first = model[0]
        kinks = -first.bias / first.weight[:, 0]
    for kink in kinks[(kinks > -1) & (kinks < 1)].tolist():
        ax.axvline(kink, color="0.6", ls=":", lw=1)
    ax.legend(fontsize="x-small", loc="lower right")
    ax.tick_params(labelsize="x-small")


for name, target in TARGETS.items():
    figure, axes = plt.subplots(2, 3, figsize=(12, 5.5), layout="constrained")
    for ax, (label, model) in zip(axes.flat, fitted[name].items(), strict=True):
        if label == RELU:
            plot_relu(model, target, ax)
        else:
            plot_links(model, [(0, 0)], target=target, margin=0.0, ax=ax)
        ax.set_title(f"{label}: rmse {rmse[name, label]:.1e}", fontsize="small")
    figure.suptitle(f"target: {name}")
    plt.show()

# %% [markdown]
# What to look for:
#
# * One polynomial of degree 20 is best on the smooth and oscillating targets; on the periodic one
#   it is about level with the Fourier series.
# * The discontinuous piecewise link reproduces the jump almost exactly, because the jump is on
#   one of its joints; every continuous model overshoots and rings around it.
# * On the kinked target the polynomial families come out close to each other: no kink is on a
#   joint, so each of them has to round off the corners.
# * A Fourier series can represent the periodic target exactly, but plain Adam approaches it
#   slowly.
# * The ReLU network of the same size is one to several orders of magnitude worse: it has only
#   seven joints and has to learn where to put them.

# %% [markdown]
# ## Product neurons
#
# The `_prod` layer types multiply what their links deliver:
# `y = -1 + prod_i (1 + f_i(x_i)) - (1 - alpha) * sum_i f_i(x_i)`. With a single input this is
# `alpha * f(x)`, so at the default `alpha = 1` a product link is the same function as its sum
# twin. Copying the trained weights into the product layers shows it:

# %%
for layer_type, label in [
    ("continuous", "continuous n=5 s=5"),
    ("discontinuous", "discontinuous n=5 s=5"),
    ("polynomial", "polynomial n=21"),
]:
    _, n, segments = HIGH_ORDER[label]
    trained = fitted["smooth"][label]
    twin = high_order_fc_layers(f"{layer_type}_prod", n=n, in_features=1, out_features=1, segments=segments)
    with torch.no_grad():
        twin.weight.copy_(trained.weight)
        difference = (twin(grid) - trained(grid)).abs().max().item()
    print(f"{layer_type}_prod vs {layer_type}: max difference {difference:.1e}")

# %% [markdown]
# Products matter where several inputs meet. With two inputs and `alpha = 0` a product neuron
# computes `f(x) g(y)`, so two straight-line links (`n = 2`) represent `x * y` exactly. A sum
# neuron computes `f(x) + g(y)` and cannot represent `x * y` at all, however many nodes it has:
# its best error is the standard deviation of `x * y`, which is 1/3.

# %%
xy = torch.rand(SAMPLES, 2) * 2 - 1  # (SAMPLES, 2)
product_target = xy[:, :1] * xy[:, 1:]  # (SAMPLES, 1)
for layer_type, extra in [("polynomial_prod", {"alpha": 0.0}), ("polynomial", {})]:
    layer = high_order_fc_layers(layer_type, n=2, in_features=2, out_features=1, **extra)
    fit(layer, xy, product_target, STEPS)
    with torch.no_grad():
        error = (layer(xy) - product_target).pow(2).mean().sqrt().item()
    print(f"{layer_type:16s} fitting x*y: rmse {error:.1e}")
