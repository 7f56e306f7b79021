"""Hygiene of the committed notebooks (their execution is ``pytest --nbval-lax notebooks/``).

- no stale output: only cells marked ``# NBVAL_CHECK_OUTPUT`` keep theirs, and
  those do keep one, since nbval compares against it;
- prose and calls, not logic: no function (or class) longer than a few lines;
- the papermill template (``weekly_report.ipynb``) has exactly one ``parameters`` cell.

``python -m tests.strip_notebooks --execute notebooks/X.ipynb`` fixes the first point.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from tests.strip_notebooks import CHECK_MARK, PARAMETERS_TAG, is_checked, strip

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
OURS = ("01_prospect_lead_client.ipynb", "02_explore_funnel.ipynb")
MAX_DEF_LINES = 5


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code(cell: nbformat.NotebookNode) -> str:
    """Return the cell's Python, with IPython magics and shell lines blanked."""
    lines = cell.source.splitlines()
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _long_definitions(source: str, limit: int = MAX_DEF_LINES) -> list[str]:
    tree = ast.parse(source)
    nodes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, nodes)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > limit
    ]


def _id(path: Path) -> str:
    return path.name


@pytest.mark.parametrize("name", OURS)
def test_the_analyst_and_trainer_notebooks_exist(name: str) -> None:
    assert (NOTEBOOKS / name).is_file()


def test_the_trainer_notebook_has_a_french_version() -> None:
    assert (NOTEBOOKS / "01_prospect_lead_client.fr.ipynb").is_file()


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_notebook_is_valid_and_uses_the_python3_kernel(path: Path) -> None:
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_only_checked_cells_carry_outputs(path: Path) -> None:
    nb = _read(path)
    stale = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and not is_checked(cell)
        and (cell.outputs or cell.execution_count is not None)
    ]
    assert not stale, (
        f"{path.name}: cells {stale} carry outputs; run "
        f"`python -m tests.strip_notebooks notebooks/{path.name}`"
    )
    assert "widgets" not in nb.metadata, f"{path.name}: widget state committed"


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_checked_cells_carry_their_expected_output(path: Path) -> None:
    nb = _read(path)
    empty = [i for i, cell in enumerate(nb.cells) if is_checked(cell) and not cell.outputs]
    assert not empty, (
        f"{path.name}: cells {empty} are marked {CHECK_MARK} but hold no output to compare; "
        f"run `python -m tests.strip_notebooks --execute notebooks/{path.name}`"
    )


@pytest.mark.parametrize("name", OURS)
def test_the_funnel_table_on_the_sample_is_checked(name: str) -> None:
    nb = _read(NOTEBOOKS / name)
    checked = [cell for cell in nb.cells if is_checked(cell)]
    assert checked, f"{name}: no cell is marked {CHECK_MARK}"
    for cell in checked:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert text.strip(), f"{name}: a checked cell prints nothing (plain text is compared)"


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_no_long_function_in_a_notebook(path: Path) -> None:
    nb = _read(path)
    long = [
        f"cell {i}: {what}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for what in _long_definitions(_code(cell))
    ]
    assert not long, f"{path.name}: move these into the package: {long}"


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_prose_comes_first(path: Path) -> None:
    nb = _read(path)
    assert nb.cells and nb.cells[0].cell_type == "markdown"


def test_the_weekly_report_has_exactly_one_parameters_cell() -> None:
    path = NOTEBOOKS / "weekly_report.ipynb"
    if not path.exists():
        pytest.skip("notebooks/weekly_report.ipynb is not there yet")
    tagged = [c for c in _read(path).cells if PARAMETERS_TAG in c.metadata.get("tags", [])]
    assert len(tagged) == 1


def test_the_analyst_notebook_takes_its_path_as_a_parameter() -> None:
    nb = _read(NOTEBOOKS / "02_explore_funnel.ipynb")
    tagged = [c for c in nb.cells if PARAMETERS_TAG in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert "../data/sample/" in tagged[0].source


# --- the checker itself -------------------------------------------------------
def test_long_definitions_are_found() -> None:
    source = "def f(x):\n" + "    x += 1\n" * 6 + "    return x\n\ndef g():\n    return 1\n"
    assert _long_definitions(source) == ["f (8 lines)"]


def test_magics_do_not_break_the_parser() -> None:
    cell = nbformat.v4.new_code_cell("%matplotlib inline\nx = 1")
    assert _long_definitions(_code(cell)) == []


def test_strip_keeps_only_checked_outputs() -> None:
    stream = nbformat.v4.new_output("stream", name="stdout", text="42\n")
    plain = nbformat.v4.new_code_cell("print(42)", outputs=[stream], execution_count=3)
    checked = nbformat.v4.new_code_cell(
        f"{CHECK_MARK}\nprint(42)", outputs=[stream], execution_count=4
    )
    nb = nbformat.v4.new_notebook(cells=[plain, checked])
    nb.metadata["widgets"] = {"state": {}}
    strip(nb)
    assert plain.outputs == [] and plain.execution_count is None
    assert checked.outputs and checked.execution_count == 4
    assert "widgets" not in nb.metadata


def test_papermill_reads_every_report_parameter() -> None:
    import papermill as pm

    template = Path(__file__).resolve().parents[1] / "notebooks" / "weekly_report.ipynb"
    found = set(pm.inspect_notebook(str(template)))
    assert {"week", "events", "contacts", "funnel", "window_days", "breakdown"} <= found
    assert {"weeks_of_history", "lang", "pseudonymize"} <= found
