"""Strip notebook outputs before committing, keeping the checked ones.

Usage (from the repository root)::

    .venv/bin/python -m tests.strip_notebooks notebooks/*.ipynb
    .venv/bin/python -m tests.strip_notebooks --execute notebooks/02_explore_funnel.ipynb

Every code cell loses its outputs and execution count, except cells whose source
contains ``# NBVAL_CHECK_OUTPUT``: ``pytest --nbval-lax`` compares their output,
so they keep it (and an execution count, without which nbval takes the cell for
one never run).  With ``--execute`` the notebook is run first (in its own
folder, as nbval runs it), so those outputs are fresh.  Widget state and run
timings are dropped from the metadata.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
PARAMETERS_TAG = "parameters"


def is_checked(cell: nbformat.NotebookNode) -> bool:
    """Return whether nbval compares this cell's output."""
    return cell.get("cell_type") == "code" and CHECK_MARK in cell.get("source", "")


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Clear outputs except in checked cells; drop volatile metadata (in place)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            # nbval skips the comparison of a cell it thinks was never run
            cell.execution_count = cell.execution_count or 1
            for output in cell.outputs:
                output.get("metadata", {}).clear()
        else:
            cell.execution_count = None
            cell.outputs = []
    return nb


def execute(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Run the notebook with its folder as working directory."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    """Strip (and optionally first execute) the notebooks named on the command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.strip_notebooks")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--execute", action="store_true", help="run each notebook first")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if args.execute:
            execute(nb, path.resolve().parent)
        nbformat.validate(strip(nb))
        nbformat.write(nb, path)
        print(f"{path}: stripped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
