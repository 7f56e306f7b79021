"""The weekly report's result objects stay reachable from funnelkit.weekly.

:mod:`funnelkit.weekly_results` holds the objects and computes nothing: it
imports neither :mod:`funnelkit.weekly` nor the conversion analyses (only
their result objects, from :mod:`funnelkit.results`), and
:mod:`funnelkit.weekly` re-exports each of its public names.
"""

from __future__ import annotations

import pytest

import funnelkit.weekly as weekly
import funnelkit.weekly_results as weekly_results
from tests.test_results import imported


@pytest.mark.parametrize("name", weekly_results.__all__)
def test_every_result_name_is_the_same_object_in_weekly(name: str) -> None:
    assert name in weekly.__all__
    assert getattr(weekly, name) is getattr(weekly_results, name)


def test_the_weekly_results_import_no_computation_above_them() -> None:
    above = {"weekly", "conversion", "trends", "chains", "engines", "report"}
    assert imported("weekly_results") & {f"funnelkit.{m}" for m in above} == set()
    assert "funnelkit.results" in imported("weekly_results")
