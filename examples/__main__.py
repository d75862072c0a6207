"""``python examples/``: list the example scripts (the folder is not itself a program).

The reference's older release page (1.3.2) prints its example commands with the script name lost
(``python examples/ max_epochs=1 ...``). Given exactly one of those argument lists, this names the
script the newer page (2.4.1) runs it with and exits with status 2; with no arguments it lists the
scripts and exits with 0; any other arguments exit with 2 after the list.
"""

from __future__ import annotations

import ast
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The 1.3.2 page's argument lists (script name lost) -> the script the 2.4.1 page runs them with.
REFERENCE_ARGUMENTS: dict[str, str] = {
    "max_epochs=1 train_fraction=0.1 layer_type=continuous2d n=4 segments=2": "mnist.py",
    "-m max_epochs=20 train_fraction=1.0 layer_type=polynomial segments=2 n=7 nonlinearity=False "
    "rescale_output=False periodicity=2.0 lr=0.001 linear_output=False": "cifar100.py",
    "-m max_epochs=300 train_fraction=1.0": "variational_autoencoder.py",
    "-m": "variational_autoencoder.py",
    "max_epochs=100 train_fraction=1 mlp.layer_type=continuous mlp.n=5 mlp.p_refine=False mlp.hidden.layers=4": (
        "invariant_mnist.py"
    ),
    "max_epochs=100 train_fraction=1 layer_type=mlp.continuous mlp.n=2 mlp.target_n=5 mlp.p_refine=True": (
        "invariant_mnist.py"
    ),
}


def scripts() -> dict[str, str]:
    """Every runnable script in this folder and the first line of its docstring (read, not imported)."""
    out = {}
    for path in sorted(HERE.glob("*.py")):
        if path.name == "__main__.py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        out[path.name] = doc.strip().splitlines()[0] if doc.strip() else ""
    return out


def main(argv: list[str]) -> int:
    typed = Path(sys.argv[0] or "examples")
    folder = (typed.parent if typed.name == "__main__.py" else typed).as_posix()
    stream = sys.stdout if not argv else sys.stderr
    script = REFERENCE_ARGUMENTS.get(" ".join(argv))
    if script is not None:
        command = shlex.join(["python", f"{folder}/{script}", *argv])
        print(f"{folder}/ is a folder of scripts; name the script. These arguments are {script}'s:", file=stream)
        print(f"    {command}", file=stream)
        return 2
    if argv:
        print(f"{folder}/ is a folder of scripts, not one; name the script before its arguments:", file=stream)
    print(f"usage: python {folder}/SCRIPT.py [arguments]  (docs/examples.md describes each)", file=stream)
    for name, summary in scripts().items():
        print(f"  {name:28s} {summary}", file=stream)
    return 2 if argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
