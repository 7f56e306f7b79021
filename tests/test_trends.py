"""Conversion per period and period comparisons stay reachable from funnelkit.conversion.

:mod:`funnelkit.trends` builds on the chains and the result objects, below
:mod:`funnelkit.conversion`, which re-exports its functions; the engines'
code is not imported (DuckDB and Spark frames go through :mod:`funnelkit.frames`).
"""

from __future__ import annotations

from typing import Any

import pytest

import funnelkit.conversion as conversion
import funnelkit.trends as trends
from funnelkit.errors import UnknownEventWarning
from funnelkit.events import read_events
from tests.conftest import at, events_frame
from tests.engines import Engine
from tests.test_results import imported


@pytest.mark.parametrize("name", trends.__all__)
def test_every_trend_function_is_the_same_object_in_conversion(name: str) -> None:
    assert name in conversion.__all__
    assert getattr(conversion, name) is getattr(trends, name)


def test_trends_sit_below_conversion_and_import_no_engine_code() -> None:
    assert "funnelkit.trends" in imported("conversion")
    assert imported("trends") & {"funnelkit.conversion", "funnelkit.engines"} == set()


# --- the chain options of the funnel, on every engine -------------------------------------------
def test_a_trend_reads_one_event_per_step_unless_told_the_clickhouse_rules(
    engine: Engine,
) -> None:
    events = engine(events_frame(("a", "2026-09-07", "page_view"), ("b", "2026-09-08", "like")))
    steps = ["page_view", "page_view"]
    ours = conversion.conversion_over_time(events, steps, window="7d")
    theirs = conversion.conversion_over_time(events, steps, window="7d", rules="clickhouse")
    assert ours.table["count"].to_list() == [1, 0]
    assert theirs.table["count"].to_list() == [1, 1]
    before = engine(
        events_frame(("c", "2026-08-31", "page_view"), ("a", "2026-09-07", "page_view"))
    )
    week = conversion.week_over_week(
        before, steps, window="1d", current="2026-09-08", rules="clickhouse"
    )
    assert week.current_start == at("2026-09-07")
    assert week.table.filter(rate="from_previous")["current_successes"].to_list() == [1]


def test_a_first_entry_before_since_starts_no_chain_in_the_trend_as_in_the_funnel(
    engine: Engine,
) -> None:
    events = engine(
        events_frame(
            ("a", "2026-09-01", "page_view"),
            ("a", "2026-09-10", "page_view"),
            ("a", "2026-09-11", "purchase"),
            ("b", "2026-09-10", "page_view"),
        )
    )
    options: dict[str, Any] = {
        "window": "7d",
        "first_entry": True,
        "since": "2026-09-05",
        "period": "month",
    }
    steps = ["page_view", "purchase"]
    trend = conversion.conversion_over_time(events, steps, **options)
    del options["period"]
    total = conversion.funnel(events, steps, **options).table["count"].to_list()
    assert total == [1, 0]  # a's first page view ever is before since
    assert trend.table["count"].to_list() == total


# --- unknown event names ---------------------------------------------------------------------
def test_a_misspelt_step_is_warned_about_once_at_the_callers_line() -> None:
    log = read_events(
        events_frame(
            ("a", "2026-09-07", "page_view"),
            ("a", "2026-09-08", "purchase"),
            ("b", "2026-09-14", "page_view"),
        )
    )
    steps = ["page_view", "purchse"]
    calls = {
        "conversion_over_time": lambda: conversion.conversion_over_time(log, steps, window="1d"),
        "compare_periods": lambda: conversion.compare_periods(
            log, steps, window="1d", as_of="2026-10-01"
        ),
        "week_over_week": lambda: conversion.week_over_week(
            log, steps, window="1d", as_of="2026-10-01"
        ),
    }
    for name, call in calls.items():
        with pytest.warns(UnknownEventWarning) as caught:
            call()
        lines = [str(w.message) for w in caught]
        assert lines == [
            "step 2 reads the event 'purchse', which <frame> never holds; it counts nothing."
            " Did you mean 'purchase'?"
        ], name
        assert caught[0].filename == __file__, name  # the caller's line, not funnelkit's
