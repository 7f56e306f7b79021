"""The result objects of the conversion analyses stay reachable from funnelkit.conversion.

:mod:`funnelkit.results` sits below the analyses: it imports none of them, and
:mod:`funnelkit.conversion` re-exports each of its result classes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import funnelkit.conversion as conversion
import funnelkit.results as results

PACKAGE = Path(results.__file__).resolve().parent


def imported(module: str) -> set[str]:
    """Return the modules ``funnelkit/<module>.py`` imports, at its top or in a function."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    return found | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


@pytest.mark.parametrize("name", results.__all__)
def test_every_result_class_is_the_same_object_in_conversion(name: str) -> None:
    assert name in conversion.__all__
    assert getattr(conversion, name) is getattr(results, name)


def test_the_results_import_no_analysis() -> None:
    analyses = {"conversion", "trends", "chains", "stages", "weekly", "engines", "frames"}
    assert imported("results") & {f"funnelkit.{m}" for m in analyses} == set()
