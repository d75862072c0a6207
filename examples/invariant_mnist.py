"""Permutation-invariant MNIST: a fully-connected high-order network on the flat 784 pixels.

    python examples/invariant_mnist.py max_epochs=100 train_fraction=1 mlp.layer_type=continuous mlp.n=5 \
        mlp.p_refine=False mlp.hidden.layers=4
    python examples/invariant_mnist.py max_epochs=100 train_fraction=1 mlp.n=2 mlp.target_n=5 mlp.p_refine=True
    python examples/invariant_mnist.py max_epochs=100 train_fraction=1 layer_type=mlp.continuous mlp.n=2 \
        mlp.target_n=5 mlp.p_refine=True     # the reference's spelling of the line above
    python examples/invariant_mnist.py baseline=relu          # ReLU MLP of the same depth, about as many parameters

With ``mlp.p_refine=True`` the network trains at ``mlp.n`` nodes per segment, is refined in place to
``n + 1`` (``high_order_layers_torch.refine.refine_``, exact: the function does not change), trains
again with a fresh optimizer, and so on up to ``mlp.target_n``. With ``mlp.h_refine=True`` it then
splits every piece in two (also exact), trains again, and so on from ``mlp.segments`` up to
``mlp.target_segments`` (``segments`` times a power of two):

    python examples/invariant_mnist.py max_epochs=6 mlp.segments=1 mlp.target_segments=4 mlp.h_refine=True

``max_epochs`` is split over the stages. Each stage logs to its own ``n<k>/version_*/metrics.csv``
(``n<k>_s<segments>`` with h-refinement).

A top-level ``layer_type`` (``mlp.continuous`` or ``continuous``) sets ``mlp.layer_type``, and a
top-level ``periodicity`` is passed to the MLP's layers, as in the reference's configuration.
"""

from __future__ import annotations

from typing import Any

import hydra
from common.app import finish, output_dir, run_or_exit, setup, to_dict
from common.baselines import matched_relu_mlp
from common.data import load_mnist
from common.datamodule import classification_datamodule
from common.task import Task
from common.training import Timer, fit_and_test, make_trainer, parameter_count
from torch import nn

from high_order_layers_torch.layers import MaxAbsNormalization
from high_order_layers_torch.networks import HighOrderMLP
from high_order_layers_torch.refine import Refine, refine_


def mlp_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg["mlp"]`` with the top-level ``layer_type`` (``mlp.<type>`` or ``<type>``) and ``periodicity`` folded in."""
    mlp = dict(cfg["mlp"])
    layer_type = cfg.get("layer_type")
    if layer_type is not None:
        mlp["layer_type"] = str(layer_type).removeprefix("mlp.")
    if cfg.get("periodicity") is not None:
        mlp["periodicity"] = cfg["periodicity"]
    return mlp


def build_model(mlp: dict[str, Any], baseline: str | None) -> nn.Module:
    model = HighOrderMLP(
        mlp["layer_type"],
        n=mlp["n"],
        in_width=784,
        out_width=10,
        hidden_layers=mlp["hidden"]["layers"],
        hidden_width=mlp["hidden"]["width"],
        segments=mlp["segments"],
        normalization=MaxAbsNormalization if mlp["normalize"] else None,
        resnet=mlp["resnet"],
        periodicity=mlp.get("periodicity"),
        initialization=mlp.get("initialization"),
    )
    if baseline is None:
        return model
    if baseline != "relu":
        raise ValueError(f"baseline must be null or 'relu', got {baseline!r}")
    # match the size the high-order network ends at
    n, segments = stages({"mlp": mlp})[-1]
    target = build_model({**mlp, "n": n, "segments": segments}, None)
    return matched_relu_mlp(784, 10, mlp["hidden"]["layers"], parameter_count(target))


#: Layer types whose links have pieces that h-refinement can split (one polynomial becomes piecewise).
H_REFINABLE = ("continuous", "discontinuous", "polynomial", "continuous_prod", "discontinuous_prod", "polynomial_prod")


def stages(cfg: dict[str, Any]) -> list[tuple[int, int]]:
    """``(n, segments)`` of each training stage: ``[(n, segments)]``; with p-refinement ``n`` rises
    one step at a time to ``target_n``, then with h-refinement ``segments`` doubles up to
    ``target_segments``."""
    mlp = cfg["mlp"]
    n, segments = mlp["n"], mlp["segments"]
    schedule = [(n, segments)]
    if cfg.get("baseline") is not None:
        return schedule
    if mlp["p_refine"]:
        if mlp["target_n"] < n:
            raise ValueError(f"mlp.target_n ({mlp['target_n']}) must be at least mlp.n ({n})")
        schedule += [(order, segments) for order in range(n + 1, mlp["target_n"] + 1)]
    if mlp.get("h_refine"):
        target = mlp["target_segments"]
        if mlp["layer_type"] not in H_REFINABLE:
            raise ValueError(
                f"mlp.h_refine needs a piecewise layer type ({', '.join(H_REFINABLE)}), got {mlp['layer_type']!r}"
            )
        doublings = [segments * 2**k for k in range(0, 21) if segments * 2**k <= max(target, segments)]
        if doublings[-1] != target:
            raise ValueError(
                f"mlp.target_segments must be mlp.segments ({segments}) times a power of two "
                f"({', '.join(map(str, doublings[:4] + [doublings[-1] * 2]))}, ...), got {target}"
            )
        final_n = schedule[-1][0]
        schedule += [(final_n, count) for count in doublings[1:]]
    return schedule


def refine_to(model: nn.Module, before: tuple[int, int], after: tuple[int, int]) -> None:
    """Refine ``model`` in place from stage ``before`` to stage ``after`` (``(n, segments)``), exactly."""
    (n, segments), (new_n, new_segments) = before, after
    report = refine_(
        model, Refine(n=new_n if new_n != n else None, segments=new_segments if new_segments != segments else None)
    )
    if not all(r.exact for r in report.values()):  # raising n, or splitting pieces, is exact
        raise RuntimeError(f"refinement to n={new_n}, segments={new_segments} was not exact")


def run(cfg: Any) -> dict[str, Any]:
    """Train (stage by stage with p- and h-refinement), test, and return the final metrics."""
    cfg = to_dict(cfg)
    cfg["mlp"] = mlp_settings(cfg)
    setup(cfg)
    out = output_dir(cfg, "invariant_mnist")
    data = classification_datamodule(load_mnist(cfg["data_dir"]), cfg, flatten=True)
    model = build_model(cfg["mlp"], cfg.get("baseline"))
    schedule = stages(cfg)
    epochs = max(1, cfg["max_epochs"] // len(schedule))
    timer = Timer()
    history = []
    trainer = None
    for index, (order, segments) in enumerate(schedule):
        if index:
            refine_to(model, schedule[index - 1], (order, segments))
        task = Task(
            model,
            optimizer=cfg["optimizer"],
            lr=cfg["lr"],
            weight_decay=cfg["weight_decay"],
            scheduler=cfg["scheduler"],
        )
        name = f"n{order}_s{segments}" if cfg["mlp"].get("h_refine") else f"n{order}"
        trainer = make_trainer(cfg, out, name=name, max_epochs=epochs, callbacks=[timer])
        metrics = fit_and_test(trainer, task, data, ckpt_path=cfg.get("resume") if index == 0 else None)
        history.append({"n": order, "segments": segments, "params": parameter_count(model), **metrics})
    return finish(
        trainer,
        out,
        {
            "model": "relu" if cfg.get("baseline") == "relu" else cfg["mlp"]["layer_type"],
            "params": parameter_count(model),
            "epochs": epochs * len(schedule),
            "wall_s": round(timer.seconds, 2),
            "stages": history,
            **metrics,
        },
    )


@hydra.main(config_path="config", config_name="invariant_mnist", version_base=None)
def main(cfg) -> float | None:
    return run_or_exit(run, cfg)


if __name__ == "__main__":
    main()
