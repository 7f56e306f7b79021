"""ISO weeks stay reachable from funnelkit.weekly and sit below it.

:mod:`funnelkit.weeks` imports none of the analyses nor the report modules;
:mod:`funnelkit.weekly` (and through it :mod:`funnelkit.report`) re-exports
each of its public names.
"""

from __future__ import annotations

import pytest

import funnelkit.weekly as weekly
import funnelkit.weeks as weeks
from tests.test_results import imported


@pytest.mark.parametrize("name", weeks.__all__)
def test_every_week_name_is_the_same_object_in_weekly(name: str) -> None:
    assert name in weekly.__all__
    assert getattr(weekly, name) is getattr(weeks, name)


def test_the_weeks_import_no_analysis() -> None:
    above = {"weekly", "weekly_results", "conversion", "trends", "results", "stages", "engines"}
    assert imported("weeks") & {f"funnelkit.{m}" for m in above | {"report"}} == set()
