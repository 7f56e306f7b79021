"""Engine detection and the one registry the analyses hand engine frames to."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import duckdb
import polars as pl
import pytest

import funnelkit
from funnelkit import frames
from funnelkit.errors import ParameterError
from funnelkit.events import read_events

PACKAGE = Path(funnelkit.__file__).resolve().parent
# The public analyses that take a DuckDB or Spark frame and hand it to the engine code.
ON_ENGINE = {
    "classify",
    "flows",
    "funnel",
    "conversion_over_time",
    "compare_periods",
    "cohorts",
    "last_complete_week",
    "stalled_contacts",
    "weekly_metrics",
}


def test_doctests() -> None:
    failures, tried = doctest.testmod(frames)
    assert tried > 0
    assert failures == 0


def test_engine_of_tells_the_frames_apart() -> None:
    frame = pl.DataFrame({"contact_id": ["a"]})
    assert frames.engine_of(frame) is None
    assert frames.engine_of(frame.lazy()) is None
    assert (
        frames.engine_of(
            read_events(frame.with_columns(occurred_at=pl.lit("2026-01-01"), event=pl.lit("x")))
        )
        is None
    )
    relation = duckdb.sql("SELECT 'a' AS contact_id")
    assert frames.engine_of(relation) == "duckdb"
    assert frames.is_engine_frame(relation)
    assert not frames.is_engine_frame(frame)


def test_every_analysis_that_takes_an_engine_frame_has_an_implementation() -> None:
    assert {name for name in ON_ENGINE if callable(frames.on_engine(name, object))} == ON_ENGINE


def test_an_analysis_without_an_engine_implementation_says_what_to_do() -> None:
    with pytest.raises(ParameterError, match=r"explain does not run on DuckDB.*relation\.pl\(\)"):
        frames.on_engine("explain", object)


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
