"""The notebooks in ``notebooks/`` run from top to bottom at small sizes and print what they promise;
each ``.ipynb`` holds exactly the cells of its jupytext ``.py`` twin, without outputs."""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["fit_1d_functions", "mlp_2d_refinement"]

# papermill-style overrides, injected after the cell tagged "parameters"
SMALL = {
    "fit_1d_functions": {"STEPS": 40, "SAMPLES": 100, "GRID": 201},
    "mlp_2d_refinement": {"SAMPLES": 200, "STEPS": 40, "GRID": 21},
}
CELL_TIMEOUT_S = 120  # per cell; the runs themselves take seconds


def cell_signature(notebook) -> list[tuple[str, str, list[str]]]:
    """What must agree between the two files: cell type, source and tags."""
    return [(cell.cell_type, cell.source, list(cell.metadata.get("tags", []))) for cell in notebook.cells]


@pytest.mark.parametrize("name", NAMES)
def test_ipynb_matches_its_percent_script(name: str) -> None:
    script = jupytext.read(NOTEBOOKS / f"{name}.py")
    stored = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert cell_signature(stored) == cell_signature(script), (
        f"notebooks/{name}.ipynb is out of date: run `jupytext --to ipynb notebooks/{name}.py`"
    )
    for cell in stored.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name}.ipynb must be committed without outputs"
    tagged = [cell for cell in stored.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: exactly one cell must be tagged 'parameters'"
    for variable in SMALL[name]:
        assert re.search(rf"^{variable} = ", tagged[0].source, re.MULTILINE), f"{name}: no {variable} in parameters"


def run_notebook(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Execute the notebook with small sizes in ``tmp_path``; return its text output."""
    notebook = jupytext.read(NOTEBOOKS / f"{name}.py")
    position = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    overrides = "\n".join(f"{key} = {value!r}" for key, value in SMALL[name].items())
    injected = nbformat.v4.new_code_cell(overrides, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(position + 1, injected)

    # figures go to Agg (no display needed); the kernel is this interpreter's ipykernel
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the failing cell's traceback, on any error
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", output
            if output.output_type == "stream":
                texts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                texts.append(output.data.get("text/plain", ""))
    return "\n".join(texts)


def numbers(line: str) -> list[float]:
    return [float(value) for value in re.findall(r"[-+]?\d+(?:\.\d+)?e[-+]\d+", line)]


@pytest.fixture(scope="module")
def cpu_kernels_built() -> None:
    """Build (or load) the CPU kernels here, so a first build is not counted against a cell's timeout."""
    from high_order_layers_torch.kernels import cpu_kernels_available

    cpu_kernels_available()


def test_fit_1d_functions_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_kernels_built: None) -> None:
    output = run_notebook("fit_1d_functions", tmp_path, monkeypatch)
    for label in ("continuous n=5 s=5", "discontinuous n=5 s=5", "polynomial n=21", "fourier n=10", "ReLU MLP"):
        rows = [line for line in output.splitlines() if line.startswith(label)]
        errors = numbers(rows[-1])  # the table row: one RMSE per target
        assert len(errors) == 5, rows
        assert all(math.isfinite(error) for error in errors), rows
    twins = [line for line in output.splitlines() if "_prod vs " in line]
    assert len(twins) == 3, output
    for line in twins:
        assert numbers(line)[0] < 1e-5, line


def test_mlp_2d_refinement_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_kernels_built: None) -> None:
    output = run_notebook("mlp_2d_refinement", tmp_path, monkeypatch)
    changes = [numbers(line)[0] for line in output.splitlines() if line.startswith("max |output change|")]
    assert len(changes) == 2, output  # after p- and after h-refinement
    assert all(change < 1e-10 for change in changes), changes  # float64: round-off only
    assert "Piecewise" in output or "sympy is not installed" in output


def test_kernel_is_this_interpreter() -> None:
    """The kernel nbclient starts is the ipykernel of the interpreter running the tests."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    manager = KernelManager(kernel_name="python3")
    command = manager.format_kernel_cmd()
    assert spec.language == "python"
    assert os.path.realpath(command[0]) == os.path.realpath(sys.executable), command
