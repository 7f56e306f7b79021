"""Reading the steps, window, order and exclusions of an analysis into one spec."""

from __future__ import annotations

import doctest

import polars as pl
import pytest

from funnelkit import steps
from funnelkit.definitions import load_funnel
from funnelkit.errors import ParameterError
from funnelkit.steps import Exclusion, bin_width, resolve_spec, transitions


def test_doctests() -> None:
    failures, tried = doctest.testmod(steps)
    assert tried > 0
    assert failures == 0


def test_a_spec_reads_names_lists_and_stages() -> None:
    inbound = load_funnel("inbound")
    spec = resolve_spec(
        ["page_view", ["like", "share"], inbound.stage("client")],
        "14d",
        "ordered",
        False,
        (),
        stage_steps="evidence",
    )
    assert [s.name for s in spec.steps][:2] == ["page_view", "like or share"]
    assert spec.window_us == 14 * 86_400_000_000
    assert spec.event_names is None  # a stage is read by its evidence expression
    assert transitions(spec) == [(1, 2), (2, 3), (1, 3)]


def test_exclusions_need_an_ordered_funnel() -> None:
    with pytest.raises(ParameterError, match="exclusions need an ordered funnel"):
        resolve_spec(["a", "b"], "1d", "any", False, [Exclusion("x", 1, 2)])


def test_the_histogram_bins_are_round() -> None:
    assert bin_width(14 * 86_400_000_000) == 86_400_000_000  # 14 days: one-day bins


def test_rules_are_checked_and_one_event_per_step_applies_only_where_events_may_repeat() -> None:
    with pytest.raises(ParameterError, match=r"rules: 'clickhous' .*Did you mean 'clickhouse'"):
        resolve_spec(["a"], "1d", "ordered", False, (), rules="clickhous")
    distinct = resolve_spec(["a", ["b", "c"]], "1d", "ordered", False, ())
    repeated = resolve_spec(["a", ["a", "b"]], "1d", "ordered", False, ())
    assert not distinct.one_event_rule and repeated.one_event_rule
    assert repeated.may_share(1, 2) and not distinct.may_share(1, 2)
    for order in ("strict_increase", "any"):
        assert not resolve_spec(["a", "a"], "1d", order, False, ()).one_event_rule
    assert not resolve_spec(
        ["a", "a"], "1d", "ordered", False, (), rules="clickhouse"
    ).one_event_rule


def test_times_outside_the_events_are_warned_about_in_python_too() -> None:
    import datetime as dt
    import warnings

    from funnelkit.conversion import funnel
    from funnelkit.definitions import load_funnel
    from funnelkit.errors import SpanWarning
    from funnelkit.events import read_events
    from funnelkit.paths import drop_off_paths
    from funnelkit.stages import classify

    day = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    log = read_events(
        pl.DataFrame(
            {
                "contact_id": ["a", "a", "b"],
                "occurred_at": [day, day + dt.timedelta(days=1), day],
                "event": ["page_view", "like", "page_view"],
                "amount": [None, None, None],
            },
            schema_overrides={"amount": pl.Float64},
        )
    )
    with pytest.warns(SpanWarning, match=r"since=2030-01-01 is after the last event .*zero"):
        funnel(log, ["page_view", "like"], window="7d", since="2030-01-01")
    with pytest.warns(SpanWarning, match=r"until=2026-11-01 is not after the first event"):
        funnel(log, ["page_view", "like"], window="7d", until="2026-11-01")
    with pytest.warns(SpanWarning, match=r"as_of=2030-01-01 is 1,15\d days after the last event"):
        classify(log, load_funnel("inbound"), as_of="2030-01-01")
    with pytest.warns(SpanWarning, match=r"as_of=2020-01-01 is before the first event"):
        drop_off_paths(log, ["page_view", "like"], window="7d", as_of="2020-01-01", min_size=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpanWarning)  # times inside the events: no warning
        funnel(log, ["page_view", "like"], window="7d", since="2026-11-02", until="2026-11-04")
        classify(log, load_funnel("inbound"), as_of="2026-11-03")
        funnel(log.frame.collect(), ["page_view", "like"], window="7d", since="2030-01-01")
