"""The shape of the package: imports point down, names and constants are defined once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import funnelkit

PACKAGE = Path(funnelkit.__file__).resolve().parent
COLUMNS = {"contact_id", "occurred_at", "event", "created_at"}


@pytest.mark.parametrize("module", ["stages", "conversion", "weekly", "frames", "steps"])
def test_the_analyses_do_not_import_the_engine_code(module: str) -> None:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    assert "funnelkit.engines" not in imported


def test_no_module_imports_a_private_name_of_another() -> None:
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("funnelkit"):
                found += [
                    f"{path.stem} <- {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert found == []


def test_the_column_names_are_defined_once() -> None:
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and node.value.value in COLUMNS
            ):
                found += [f"{path.stem}.{t.id}" for t in node.targets if isinstance(t, ast.Name)]
    assert sorted(found) == [
        "columns.CONTACT_ID",
        "columns.CREATED_AT",
        "columns.EVENT",
        "columns.OCCURRED_AT",
    ]


def test_the_definition_modules_import_one_way() -> None:
    # definition_files (TOML text) <- definition_rules (stage rules) <- definitions (Funnel, files)
    def imported(module: str) -> set[str]:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        return {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }

    assert not {"funnelkit.definitions", "funnelkit.definition_rules"} & imported(
        "definition_files"
    )
    assert "funnelkit.definitions" not in imported("definition_rules")
