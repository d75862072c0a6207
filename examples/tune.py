"""Hyper-parameter search for any example with Optuna (called directly, no hydra sweeper plugin).

    python examples/tune.py variational_autoencoder --trials 20 --metric test_loss -- max_epochs=5 train_fraction=0.1
    python examples/tune.py invariant_mnist --trials 30 --metric test_acc --direction maximize -- max_epochs=3

Everything after ``--`` is passed to the example as hydra overrides, as on its own command line.
Each trial composes the example's config with sampled values for the keys below that the
config has (``lr`` log-uniform, ``n`` and ``segments`` integers, also under ``mlp.``), runs the
example's ``run(cfg)`` in this process and reads ``--metric`` from its summary. The reference
project tuned its VAE with hydra's nevergrad sweeper, whose last release cannot be installed on
current Python; Optuna is maintained and needs no plugin.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent

#: (config key, kind, low, high) searched when the example's config has the key.
SEARCH_SPACE: list[tuple[str, str, float, float]] = [
    ("lr", "log", 1e-4, 1e-2),
    ("n", "int", 2, 6),
    ("segments", "int", 1, 4),
    ("mlp.n", "int", 2, 6),
    ("mlp.segments", "int", 1, 4),
]


def has_key(cfg: Any, dotted: str) -> bool:
    node = cfg
    for part in dotted.split("."):
        if part not in node:
            return False
        node = node[part]
    return True


def compose_config(name: str, overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(EXAMPLES / "config"), version_base=None):
        return compose(config_name=name, overrides=overrides)


def tune(name: str, trials: int, metric: str, direction: str, overrides: list[str], seed: int = 0) -> Any:
    """Run the study and return it (``study.best_params``, ``study.best_value``, ``study.trials``)."""
    import optuna

    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    module = importlib.import_module(name)
    base = compose_config(name, overrides)
    space = [entry for entry in SEARCH_SPACE if has_key(base, entry[0])]

    def objective(trial: optuna.Trial) -> float:
        sampled = []
        for key, kind, low, high in space:
            if kind == "log":
                value = trial.suggest_float(key, low, high, log=True)
            else:
                value = trial.suggest_int(key, int(low), int(high))
            sampled.append(f"{key}={value}")
        trial_dir = f"out_dir={Path(base.get('out_dir') or 'outputs/tune') / name / f'trial_{trial.number}'}"
        summary = module.run(compose_config(name, [*overrides, *sampled, trial_dir]))
        if metric not in summary:
            raise ValueError(f"metric {metric!r} is not in the summary; available: {', '.join(sorted(summary))}")
        return float(summary[metric])

    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return study


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("example", help="an example script's name, e.g. variational_autoencoder")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--metric", default="test_loss", help="a key of the example's summary.json")
    parser.add_argument("--direction", choices=["minimize", "maximize"], default="minimize")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv[:split])
    study = tune(args.example, args.trials, args.metric, args.direction, argv[split + 1 :], args.seed)
    print(f"best {args.metric} = {study.best_value:.6g} with {study.best_params}")


if __name__ == "__main__":
    main()
