"""Tests of funnelkit.conversion: every rule on a hand-made timeline, then properties.

Times in the timelines are hours (or days) after T0; ``log`` turns
``(contact, hours, event[, channel])`` tuples into a canonical events frame.
"""

from __future__ import annotations

import datetime as dt
import doctest
import importlib.util
import itertools
import json
import random
import statistics
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import funnelkit.chains as chains
import funnelkit.conversion as conversion
from funnelkit.chains import contact_chains
from funnelkit.conversion import (
    Exclusion,
    cohorts,
    compare_periods,
    conversion_over_time,
    funnel,
    funnel_chains,
    week_over_week,
)
from funnelkit.definitions import load_funnel
from funnelkit.errors import DataError, MissingColumnError, ParameterError, UnknownEventWarning
from funnelkit.events import read_events
from funnelkit.steps import resolve_spec
from tests.engines import Engine, on_spark

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)  # a Monday
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
SCHEMA = {
    "contact_id": pl.String,
    "occurred_at": pl.Datetime("us", "UTC"),
    "event": pl.String,
    "channel": pl.String,
}


def log(rows: Iterable[tuple[Any, ...]], unit: dt.timedelta = H) -> pl.DataFrame:
    data = [(r[0], T0 + r[1] * unit, r[2], r[3] if len(r) > 3 else None) for r in rows]
    return pl.DataFrame(data, schema=SCHEMA, orient="row")


def counts(events: Any, steps: Any, **kw: Any) -> list[int]:
    return funnel(events, steps, **kw).table["count"].to_list()


def chain(events: Any, steps: Any, contact: str, **kw: Any) -> tuple[int, list[float]]:
    """Level and step times (hours after T0) of one contact's counted chain."""
    row = funnel_chains(events, steps, **kw).collect().filter(pl.col("contact_id") == contact)
    r = row.row(0, named=True)
    return r["level"], [(r[f"step_{j}_at"] - T0) / H for j in range(1, r["level"] + 1)]


KINDS: dict[str, Callable[[pl.DataFrame], Any]] = {
    "eager": lambda df: df,
    "lazy": lambda df: df.lazy(),
    "eventlog": lambda df: read_events(df),
}


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> Callable[[pl.DataFrame], Any]:
    """Every kind of input the public functions accept."""
    return KINDS[request.param]


VISIT_SIGNUP_BUY = ["visit", "signup", "purchase"]


# --- the ordered (windowFunnel) rule -----------------------------------------------
def test_docstring_worked_timeline_later_start_gives_longer_chain(kind: Any) -> None:
    events = kind(
        log(
            [("c", 0, "visit"), ("c", 3, "visit"), ("c", 8, "signup"), ("c", 8, "purchase")]
            + [("c", 12, "purchase")],
            unit=D,
        )
    )
    assert counts(events, VISIT_SIGNUP_BUY, window="7d") == [1, 1, 1]
    level, times = chain(events, VISIT_SIGNUP_BUY, "c", window="7d")
    assert (level, times) == (3, [72.0, 192.0, 192.0])


def test_without_the_later_start_the_chain_stops_at_step_one(engine: Engine) -> None:
    events = engine(log([("c", 0, "visit"), ("c", 8, "signup"), ("c", 8, "purchase")], unit=D))
    assert counts(events, VISIT_SIGNUP_BUY, window="7d") == [1, 0, 0]


@on_spark
def test_events_at_one_timestamp_serve_consecutive_steps(engine: Engine) -> None:
    events = log([("c", 5, "purchase"), ("c", 5, "signup"), ("c", 5, "visit")])
    assert counts(engine(events), VISIT_SIGNUP_BUY, window="1h") == [1, 1, 1]
    strict = counts(engine(events), VISIT_SIGNUP_BUY, window="1h", order="strict_increase")
    assert strict == [1, 0, 0]
    assert chain(events, VISIT_SIGNUP_BUY, "c", window="1h") == (3, [5.0, 5.0, 5.0])


def test_one_event_matching_two_consecutive_steps_serves_both_under_clickhouse_rules(
    engine: Engine,
) -> None:
    events = engine(log([("c", 1, "form_fill")]))
    steps = [["form_fill", "page_view"], ["form_fill"]]
    assert counts(events, steps, window="1d", rules="clickhouse") == [1, 1]
    assert counts(events, steps, window="1d") == [1, 0]  # one event fills one step
    assert counts(events, steps, window="1d", order="strict_increase") == [1, 0]


# --- one event fills at most one step (rules="funnelkit", the default) --------------------
def test_a_repeated_step_needs_as_many_events(engine: Engine) -> None:
    events = log(
        [("one", 0, "purchase"), ("two", 0, "purchase"), ("two", 30, "purchase")]
        + [("tie", 5, "purchase"), ("tie", 5, "purchase")]  # two rows at one instant
    )
    steps = ["purchase", "purchase"]
    assert counts(engine(events), steps, window="7d") == [3, 2]
    assert counts(engine(events), steps, window="7d", rules="clickhouse") == [3, 3]
    assert counts(engine(events), [*steps, "purchase"], window="7d") == [3, 2, 0]
    assert chain(events, steps, "two", window="7d") == (2, [0.0, 30.0])
    assert chain(events, steps, "tie", window="7d") == (2, [5.0, 5.0])
    assert chain(events, steps, "one", window="7d", rules="clickhouse") == (2, [0.0, 0.0])
    # the chain's times on the engine itself (DuckDB names are case-blind: no clash)
    got = funnel_chains(engine(events), steps, window="7d").collect().sort("contact_id")
    assert got["step_2_at"].to_list() == [None, T0 + 5 * H, T0 + 30 * H]


@on_spark
def test_rows_at_one_instant_fill_a_run_of_steps_one_each(engine: Engine) -> None:
    # steps visit, visit|buy, buy: the two rows at 5h fill two steps, not three
    events = log([("c", 5, "buy"), ("c", 5, "visit"), ("d", 5, "visit"), ("d", 5, "buy")])
    events = pl.concat([events, log([("d", 5, "buy")])])
    steps = ["visit", ["visit", "buy"], "buy"]
    assert counts(engine(events), steps, window="1h") == [2, 2, 1]
    assert counts(engine(events), steps, window="1h", rules="clickhouse") == [2, 2, 2]
    assert chain(events, steps, "d", window="1h") == (3, [5.0, 5.0, 5.0])


def test_one_event_per_step_keeps_the_latest_start_and_latest_steps(engine: Engine) -> None:
    # the b at 2h may fill step 2 or step 3, not both: the chain ends at 3h, earlier steps late
    events = log([("c", 1, "a"), ("c", 2, "b"), ("c", 3, "b")])
    steps = ["a", ["a", "b"], "b"]
    assert counts(engine(events), steps, window="1d") == [1, 1, 1]
    assert chain(events, steps, "c", window="1d") == (3, [1.0, 2.0, 3.0])
    assert chain(events, steps, "c", window="1d", rules="clickhouse") == (3, [1.0, 2.0, 2.0])


def test_distinct_step_funnels_agree_under_both_rules(engine: Engine) -> None:
    events = log(
        [("a", 0, "visit"), ("a", 0, "signup"), ("a", 0, "purchase"), ("b", 1, "visit")]
        + [("b", 3, "signup"), ("b", 2, "purchase")]
    )
    for order in ("ordered", "strict_increase", "any"):
        ours = counts(engine(events), VISIT_SIGNUP_BUY, window="1d", order=order)
        assert ours == counts(
            engine(events), VISIT_SIGNUP_BUY, window="1d", order=order, rules="clickhouse"
        )


def test_an_unknown_rules_value_is_refused() -> None:
    with pytest.raises(ParameterError, match=r"rules: 'posthog' is not one of 'funnelkit'"):
        funnel(log([("a", 0, "visit")]), ["visit"], window="1d", rules="posthog")  # type: ignore[arg-type]


# --- first_entry: the contact's first time ever --------------------------------------------
def test_first_entry_looks_before_since(engine: Engine) -> None:
    # "old" first visited before since; "new" first visits inside the span
    events = log(
        [("old", 0, "visit"), ("old", 48, "visit"), ("old", 50, "signup")]
        + [("new", 48, "visit"), ("new", 50, "signup")]
    )
    since = T0 + 24 * H
    kw: dict[str, Any] = {"window": "1d", "first_entry": True, "since": since}
    assert counts(engine(events), ["visit", "signup"], **kw) == [1, 1]
    assert counts(engine(events), ["visit", "signup"], **kw, rules="clickhouse") == [2, 2]
    got = funnel_chains(engine(events), ["visit", "signup"], **kw).collect()
    assert got["contact_id"].to_list() == ["new"]
    # a stage without rules as step 1 (its flag a literal) reads the history too
    raw = load_funnel("sales").stage("raw_contact")
    got = funnel(engine(events), [raw, "signup"], stage_steps="evidence", **kw)
    assert got.table["count"].to_list() == [1, 1]  # "old" first appeared before since
    # without since, or without first_entry, both readings agree
    assert counts(engine(events), ["visit", "signup"], window="1d", first_entry=True) == [2, 1]
    assert counts(engine(events), ["visit", "signup"], window="1d", since=since) == [2, 2]


@on_spark
def test_window_boundary_is_inclusive(engine: Engine) -> None:
    exact = engine(log([("c", 0, "visit"), ("c", 24, "signup")]))
    assert counts(exact, ["visit", "signup"], window="1d") == [1, 1]
    late = pl.DataFrame(
        [("c", T0, "visit"), ("c", T0 + D + dt.timedelta(microseconds=1), "signup")],
        schema=["contact_id", "occurred_at", "event"],
        orient="row",
    )
    assert counts(engine(late), ["visit", "signup"], window="1d") == [1, 0]


def test_window_zero_needs_one_instant(engine: Engine) -> None:
    events = engine(
        log([("a", 0, "visit"), ("a", 0, "signup"), ("b", 0, "visit"), ("b", 1, "signup")])
    )
    assert counts(events, ["visit", "signup"], window=dt.timedelta(0)) == [2, 1]


def test_input_order_does_not_matter(engine: Engine) -> None:
    rows = [
        ("a", 0, "visit"),
        ("a", 2, "signup"),
        ("a", 3, "purchase"),
        ("b", 1, "signup"),
        ("b", 2, "visit"),
        ("b", 4, "purchase"),
        ("c", 9, "visit"),
    ]
    expected = counts(engine(log(rows)), VISIT_SIGNUP_BUY, window="1d")
    assert expected == [3, 1, 1]  # b signed up before its visit
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        assert counts(engine(log(shuffled)), VISIT_SIGNUP_BUY, window="1d") == expected


def test_repeated_events_count_a_contact_once(engine: Engine) -> None:
    events = engine(log([("a", h, "visit") for h in range(5)] + [("a", 3, "signup")] * 3))
    assert counts(events, ["visit", "signup"], window="1d") == [1, 1]


def test_a_step_before_the_start_does_not_count(engine: Engine) -> None:
    events = engine(log([("a", 0, "signup"), ("a", 1, "visit")]))
    assert counts(events, ["visit", "signup"], window="1d") == [1, 0]


def test_skipped_step_stops_the_chain(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit"), ("a", 1, "purchase")]))
    assert counts(events, VISIT_SIGNUP_BUY, window="1d") == [1, 0, 0]


def test_contacts_without_step_one_are_not_in_the_funnel(engine: Engine) -> None:
    events = engine(log([("a", 0, "signup"), ("a", 1, "purchase"), ("b", 0, "visit")]))
    assert counts(events, VISIT_SIGNUP_BUY, window="1d") == [1, 0, 0]


def test_any_of_a_list_of_event_names_makes_a_step(engine: Engine) -> None:
    events = engine(
        log([("a", 0, "visit"), ("a", 1, "ebook"), ("b", 0, "visit"), ("b", 1, "newsletter")])
    )
    assert counts(events, ["visit", ["ebook", "newsletter"]], window="1d") == [2, 2]


def test_strict_increase_needs_strictly_later_timestamps(engine: Engine) -> None:
    events = engine(
        log([("a", 0, "visit"), ("a", 0, "signup"), ("b", 0, "visit"), ("b", 1, "signup")])
    )
    assert counts(events, ["visit", "signup"], window="1d", order="strict_increase") == [2, 1]


@on_spark
def test_strict_increase_counts_the_longest_chain(engine: Engine) -> None:
    # signup at 10 shares its instant with the purchase, but the signup at 5 does not
    events = log(
        [("a", 0, "visit"), ("a", 5, "signup"), ("a", 10, "signup"), ("a", 10, "purchase")]
    )
    kw: dict[str, Any] = {"window": "1d", "order": "strict_increase"}
    assert counts(engine(events), VISIT_SIGNUP_BUY, **kw) == [1, 1, 1]
    assert chain(events, VISIT_SIGNUP_BUY, "a", **kw) == (3, [0.0, 5.0, 10.0])


@on_spark
def test_any_order_counts_steps_in_any_order_within_one_window(engine: Engine) -> None:
    events = log(
        [("a", 5, "visit"), ("a", 1, "signup"), ("a", 3, "purchase")]
        + [("b", 0, "visit"), ("b", 30, "signup")]
    )
    assert counts(engine(events), VISIT_SIGNUP_BUY, window="4h", order="any") == [2, 1, 1]
    assert counts(engine(events), VISIT_SIGNUP_BUY, window="3h", order="any") == [2, 0, 0]
    assert chain(events, VISIT_SIGNUP_BUY, "a", window="4h", order="any") == (3, [5.0, 1.0, 3.0])


def test_any_order_still_narrows_without_step_one(engine: Engine) -> None:
    events = engine(log([("a", 0, "signup"), ("a", 0, "purchase")]))
    assert counts(events, VISIT_SIGNUP_BUY, window="1d", order="any") == [0, 0, 0]


@on_spark
def test_first_entry_only_the_first_step_one_event_starts_a_chain(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit"), ("a", 72, "visit"), ("a", 80, "signup")]))
    assert counts(events, ["visit", "signup"], window="1d") == [1, 1]
    assert counts(events, ["visit", "signup"], window="1d", first_entry=True) == [1, 0]
    any_order = {"window": "1d", "first_entry": True, "order": "any"}
    assert counts(events, ["visit", "signup"], **any_order) == [1, 0]


def test_counted_chain_completes_first_with_the_latest_earlier_steps() -> None:
    events = log(
        [("a", 0, "visit"), ("a", 2, "visit"), ("a", 3, "signup"), ("a", 4, "signup")]
        + [("a", 5, "purchase"), ("a", 6, "purchase")]
    )
    assert chain(events, VISIT_SIGNUP_BUY, "a", window="1d") == (3, [2.0, 4.0, 5.0])


# --- exclusions ----------------------------------------------------------------------
@on_spark
def test_exclusion_between_the_steps_removes_the_contact(engine: Engine) -> None:
    events = engine(
        log(
            [("a", 0, "visit"), ("a", 1, "unsubscribe"), ("a", 2, "signup")]
            + [("b", 0, "visit"), ("b", 2, "signup")]
        )
    )
    result = funnel(
        events, ["visit", "signup"], window="1d", exclusions=[Exclusion("unsubscribe", 1, 2)]
    )
    assert result.table["count"].to_list() == [1, 1]
    assert result.excluded == 1


def test_exclusion_outside_the_two_steps_keeps_the_contact(engine: Engine) -> None:
    events = engine(
        log(
            [("a", 0, "unsubscribe"), ("a", 1, "visit"), ("a", 1, "unsubscribe")]
            + [("a", 2, "signup"), ("a", 3, "unsubscribe")]
        )
    )
    result = funnel(events, ["visit", "signup"], window="1d", exclusions=[("unsubscribe", 1, 2)])
    assert (result.table["count"].to_list(), result.excluded) == ([1, 1], 0)


def test_exclusion_when_the_chain_stopped_runs_to_the_end_of_the_window(engine: Engine) -> None:
    inside = engine(log([("a", 0, "visit"), ("a", 24, "unsubscribe")]))
    after = engine(log([("a", 0, "visit"), ("a", 25, "unsubscribe")]))
    rule = [Exclusion(["unsubscribe"], from_step=1, to_step=2)]
    assert funnel(inside, ["visit", "signup"], window="1d", exclusions=rule).excluded == 1
    assert funnel(after, ["visit", "signup"], window="1d", exclusions=rule).excluded == 0


def test_exclusion_looks_at_the_counted_chain_only(engine: Engine) -> None:
    # the counted chain starts at 5 (latest start); the unsubscribe at 2 is before it
    events = engine(
        log([("a", 0, "visit"), ("a", 2, "unsubscribe"), ("a", 5, "visit"), ("a", 6, "signup")])
    )
    result = funnel(events, ["visit", "signup"], window="1d", exclusions=[("unsubscribe", 1, 2)])
    assert result.excluded == 0


def test_exclusion_between_later_steps(engine: Engine) -> None:
    events = engine(
        log(
            [("a", 0, "visit"), ("a", 1, "signup"), ("a", 2, "refund"), ("a", 3, "purchase")]
            + [("b", 0, "visit"), ("b", 1, "refund"), ("b", 2, "signup")]
        )
    )
    result = funnel(events, VISIT_SIGNUP_BUY, window="1d", exclusions=[("refund", 2, 3)])
    assert result.table["count"].to_list() == [1, 1, 0]
    assert result.excluded == 1


def test_exclusions_need_an_ordered_funnel() -> None:
    with pytest.raises(ParameterError, match="exclusions need an ordered funnel"):
        funnel(log([("a", 0, "visit")]), ["visit", "x"], window="1d", order="any",
               exclusions=[("y", 1, 2)])  # fmt: skip


@pytest.mark.parametrize("steps", [(0, 1), (2, 2), (1, 3), (2, 1)])
def test_exclusion_steps_must_be_in_order_and_in_range(steps: tuple[int, int]) -> None:
    with pytest.raises(ParameterError, match=r"exclusion 1: from_step=.* must be step numbers"):
        funnel(log([("a", 0, "visit")]), ["visit", "x"], window="1d",
               exclusions=[Exclusion("y", *steps)])  # fmt: skip


def test_exclusion_must_be_an_exclusion_or_a_triple() -> None:
    with pytest.raises(ParameterError, match=r"exclusion 1: expected Exclusion\(event"):
        funnel(log([("a", 0, "visit")]), ["visit", "x"], window="1d", exclusions=["y"])  # type: ignore[list-item]


# --- rates, intervals and results ------------------------------------------------------
def test_rates_intervals_and_drop_off(engine: Engine) -> None:
    rows = [(f"c{i}", 0, "visit") for i in range(50)] + [(f"c{i}", 1, "signup") for i in range(7)]
    table = funnel(engine(log(rows)), ["visit", "signup"], window="1d").table
    first, second = table.row(0, named=True), table.row(1, named=True)
    assert first["count"] == 50
    assert first["conversion_from_first"] == 1.0
    assert first["conversion_from_previous"] is None
    assert first["ci_low"] is None and first["drop_off"] is None
    assert second["count"] == 7
    assert second["conversion_from_previous"] == pytest.approx(0.14)
    assert second["conversion_from_first"] == pytest.approx(0.14)
    assert (second["ci_low"], second["ci_high"]) == pytest.approx((0.0695, 0.2619), abs=5e-5)
    assert second["previous_ci_low"] == pytest.approx(0.0695, abs=5e-5)
    assert second["drop_off"] == 43
    assert second["drop_off_rate"] == pytest.approx(0.86)


def test_empty_input_gives_zero_counts(engine: Engine) -> None:
    empty = engine(log([]))
    result = funnel(empty, ["visit", "signup"], window="1d")
    assert result.table["count"].to_list() == [0, 0]
    assert result.table["conversion_from_first"].to_list() == [None, None]
    assert result.time_to_convert.summary["contacts"].to_list() == [0]


def test_to_dict_is_json_ready_with_the_documented_shape() -> None:
    events = log([("a", 0, "visit", "social"), ("a", 1, "signup", "social")])
    data = funnel(events, ["visit", "signup"], window="2w", by="channel", min_size=1).to_dict()
    json.dumps(data)
    step = data["steps"][1]
    for key in ("name", "count", "conversion_from_previous", "conversion_from_first", "ci_low",
                "ci_high"):  # fmt: skip
        assert key in step
    assert data["window"] == "2w"
    assert data["by"] == "channel"
    assert data["segments"][0]["value"] == "social"
    assert data["segments"][0]["steps"][1]["count"] == 1
    assert data["time_to_convert"][0]["median_seconds"] == 3600.0


def test_display_names_the_funnel_and_its_rules() -> None:
    events = log([("a", 0, "visit", "x"), ("a", 1, "signup", "x")])
    result = funnel(events, ["visit", "signup"], window="3d", by="channel", min_size=5)
    page = result._repr_html_()
    assert "visit → signup" in page and "window 3d" in page and "(suppressed)" in page
    text = result.to_text()
    assert text.splitlines()[0] == "Funnel visit → signup (window 3d, ordered)"
    assert "By channel:" in text and "Time to convert:" in text


# --- time to convert ---------------------------------------------------------------------
@on_spark
def test_time_to_convert_median_p90_and_histogram(engine: Engine) -> None:
    rows = []
    for i, hours in enumerate([1, 2, 3, 4, 10]):
        rows += [(f"c{i}", 0, "visit"), (f"c{i}", hours, "signup"), (f"c{i}", hours + 1, "buy")]
    ttc = funnel(engine(log(rows)), ["visit", "signup", "buy"], window="1d").time_to_convert
    summary = {(r["from_step"], r["to_step"]): r for r in ttc.summary.iter_rows(named=True)}
    assert set(summary) == {(1, 2), (2, 3), (1, 3)}
    assert summary[1, 2]["median"] == 3 * H
    assert summary[1, 2]["p90"] == dt.timedelta(hours=7.6)
    assert summary[2, 3]["median"] == H
    assert summary[1, 3]["mean"] == dt.timedelta(hours=5)
    assert ttc.bin_width == 3 * H  # the smallest round width giving at most 20 bins
    hist = ttc.histogram.filter(pl.col("from_step") == 1, pl.col("to_step") == 2)
    assert hist.height == 8
    assert hist.select("bin", "contacts").filter(pl.col("contacts") > 0).rows() == [
        (0, 2),
        (1, 2),
        (3, 1),
    ]
    assert hist["bin_end"].max() == D


def test_time_to_convert_with_any_order_is_the_span(engine: Engine) -> None:
    events = engine(log([("a", 5, "visit"), ("a", 1, "signup"), ("a", 3, "buy")]))
    ttc = funnel(events, ["visit", "signup", "buy"], window="1d", order="any").time_to_convert
    assert ttc.summary.select("from_step", "to_step", "median").row(0) == (1, 3, 4 * H)


def test_excluded_contacts_are_not_in_time_to_convert(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit"), ("a", 1, "x"), ("a", 2, "signup"), ("b", 0, "visit"),
                         ("b", 5, "signup")]))  # fmt: skip
    ttc = funnel(events, ["visit", "signup"], window="1d", exclusions=[("x", 1, 2)]).time_to_convert
    assert ttc.summary["median"].to_list() == [5 * H]


# --- breakdowns -----------------------------------------------------------------------------
def test_breakdown_value_is_read_at_the_first_step_one_event(engine: Engine) -> None:
    events = engine(
        log(
            [("a", 0, "visit", "social"), ("a", 1, "visit", "paid_ads")]
            + [("a", 2, "signup", "paid_ads"), ("b", 0, "signup", "paid_ads")]
            + [("b", 1, "visit", "referral")]
        )
    )
    breakdown = funnel(events, ["visit", "signup"], window="1d", by="channel", min_size=0).breakdown
    assert breakdown is not None
    rows = breakdown.select("segment", "step", "count").rows()
    assert rows == [("referral", 1, 1), ("referral", 2, 0), ("social", 1, 1), ("social", 2, 1)]


def test_breakdown_ties_at_the_first_instant_take_the_smallest_value(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit", "social"), ("a", 0, "visit", "paid_ads")]))
    breakdown = funnel(events, ["visit"], window="1d", by="channel", min_size=0).breakdown
    assert breakdown is not None and breakdown["segment"].to_list() == ["paid_ads"]


def test_breakdown_missing_value_is_shown_as_none(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit", None)]))
    breakdown = funnel(events, ["visit"], window="1d", by="channel", min_size=0).breakdown
    assert breakdown is not None and breakdown["segment"].to_list() == ["(none)"]


@on_spark
def test_breakdown_by_a_contacts_attribute(engine: Engine) -> None:
    events = engine(
        log([("a", 0, "visit"), ("a", 1, "signup"), ("b", 0, "visit"), ("c", 0, "visit")])
    )
    people = engine(pl.DataFrame({"contact_id": ["a", "b", "z"], "segment": ["b2b", "b2c", "b2b"]}))
    result = funnel(events, ["visit", "signup"], window="1d", by="segment", contacts=people,
                    min_size=0)  # fmt: skip
    assert result.breakdown is not None
    got = result.breakdown.select("segment", "step", "count").rows()
    assert got == [("(none)", 1, 1), ("(none)", 2, 0), ("b2b", 1, 1), ("b2b", 2, 1),
                   ("b2c", 1, 1), ("b2c", 2, 0)]  # fmt: skip


def test_breakdown_keeps_the_top_values_and_groups_the_rest_as_other(engine: Engine) -> None:
    rows = [(f"{ch}{i}", 0, "visit", ch) for ch, n in (("a", 5), ("b", 4), ("c", 2), ("d", 1))
            for i in range(n)]  # fmt: skip
    result = funnel(engine(log(rows)), ["visit"], window="1d", by="channel", top=2, min_size=0)
    assert result.breakdown is not None
    assert result.breakdown.select("segment", "count").rows() == [("a", 5), ("b", 4), ("Other", 3)]
    everything = funnel(
        engine(log(rows)), ["visit"], window="1d", by="channel", top=None, min_size=0
    )
    assert everything.breakdown is not None and everything.breakdown.height == 4


def test_small_segments_are_suppressed(engine: Engine) -> None:
    rows = [(f"a{i}", 0, "visit", "big") for i in range(40)] + [("b", 0, "visit", "tiny"),
            ("b", 1, "signup", "tiny"), ("c", 0, "visit", "tiny")]  # fmt: skip
    result = funnel(engine(log(rows)), ["visit", "signup"], window="1d", by="channel")
    assert result.breakdown is not None
    tiny = result.breakdown.filter(pl.col("segment") == "tiny")
    assert tiny["suppressed"].to_list() == [True, True]
    assert tiny["count"].to_list() == [2, 1]
    assert tiny["conversion_from_previous"].to_list() == [None, None]
    assert tiny["ci_high"].to_list() == [None, None]
    big = result.breakdown.filter(pl.col("segment") == "big")
    assert big["suppressed"].to_list() == [False, False]
    assert big["conversion_from_first"].to_list() == [1.0, 0.0]


def test_breakdown_column_must_exist(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit")]))
    with pytest.raises(MissingColumnError, match="by: no column 'chanel'.*Did you mean 'channel'"):
        funnel(events, ["visit"], window="1d", by="chanel")


# --- steps -------------------------------------------------------------------------------
class _Stage:
    """A stand-in for funnelkit.definitions.Stage."""

    def __init__(self, name: str, events: Sequence[str]) -> None:
        self.name = name
        self._events = list(events)

    def evidence(self) -> pl.Expr:
        return pl.col("event").is_in(self._events)


class _Funnel:
    def __init__(self, stages: Sequence[_Stage]) -> None:
        self.stages = tuple(stages)


def test_stages_and_funnels_are_steps() -> None:
    events = log([("a", 0, "visit"), ("a", 1, "ebook")])
    stages = [_Stage("Prospect", ["visit"]), _Stage("Lead", ["ebook", "newsletter"])]
    assert counts(events, stages, window="1d") == [1, 1]
    result = funnel(events, _Funnel(stages), window="1d")
    assert result.step_names == ("Prospect", "Lead")


def test_a_mapping_names_the_steps(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit")]))
    result = funnel(events, {"Visited": "visit", "Bought": ["buy"]}, window="1d")
    assert result.table["name"].to_list() == ["Visited", "Bought"]


def _preset_timeline() -> pl.DataFrame:
    return log([("a", 0, "page_view"), ("a", 1, "like"), ("a", 2, "ebook_download"),
                ("a", 30, "purchase"), ("b", 0, "page_view")], unit=H)  # fmt: skip


@on_spark
def test_a_stage_step_reading_a_missing_column_is_named(engine: Engine) -> None:
    inbound = load_funnel("inbound")
    with pytest.raises(MissingColumnError, match="step 4 .* reads the column 'amount'"):
        funnel(engine(_preset_timeline()), inbound, window="2d", stage_steps="evidence")
    with pytest.raises(MissingColumnError, match="stage 'client'.*no column 'amount'"):
        funnel(engine(_preset_timeline()), inbound, window="2d")


def test_a_funnel_definition_from_the_presets(engine: Engine) -> None:
    inbound = load_funnel("inbound")
    events = _preset_timeline()
    events = events.with_columns(amount=pl.when(pl.col("event") == "purchase").then(20.0))
    result = funnel(engine(events), inbound, window="2d", stage_steps="evidence")
    assert result.step_names == ("Prospect", "Cold lead", "Warm lead", "Client", "Ambassador")
    assert result.table["count"].to_list() == [2, 1, 1, 1, 0]  # one event fills one step
    old = funnel(engine(events), inbound, window="2d", stage_steps="evidence", rules="clickhouse")
    assert old.table["count"].to_list() == [2, 2, 1, 1, 0]


def test_evidence_on_properties_with_nulls_is_false() -> None:
    events = log([("a", 0, "visit", None), ("a", 1, "signup", "paid")])
    paid = _Stage("paid signup", [])
    paid.evidence = lambda: (pl.col("event") == "signup") & (pl.col("channel") == "paid")  # type: ignore[method-assign]
    assert counts(events, ["visit", paid], window="1d") == [1, 1]


def test_a_rule_that_cannot_be_evaluated_is_named() -> None:
    events = log([("a", 0, "visit")]).with_columns(amount=pl.lit("12"))
    paid = _Stage("paid", [])
    paid.evidence = lambda: pl.col("amount") > 0  # type: ignore[method-assign]
    with pytest.raises(DataError, match=r"step 2 \('paid'\) cannot be evaluated .* amount: String"):
        funnel(events, ["visit", paid], window="1d")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "a funnel needs at least one step"),
        ("visit", r"not one text; did you mean \['visit'\]"),
        ("visit, signup", r"not one text; did you mean \['visit', 'signup'\]"),
        ("inbound", r"did you mean the funnel definition load_funnel\('inbound'\)\?"),
        (["visit", 3], "step 2: 3 is not a step"),
        (["visit", []], r"step 2: \[\] is not a step"),
        (42, "steps: expected a list of steps"),
    ],
)
def test_bad_steps_are_explained(steps: Any, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        funnel(log([("a", 0, "visit")]), steps, window="1d")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": "14"}, "window: cannot read '14' as a duration"),
        (
            {"window": "1d", "order": "orderd"},
            "order: 'orderd' is not one of.*Did you mean 'ordered'",
        ),
        ({"window": "1d", "top": -1}, "top: expected a whole number >= 0 or None"),
        ({"window": "1d", "min_size": 2.5}, "min_size: expected a whole number >= 0, got 2.5"),
        ({"window": "1d", "since": "yesterday"}, "since: cannot read 'yesterday' as a time"),
        ({"window": "1d", "until": 3}, "until: expected a date, a datetime or ISO text"),
    ],
)
def test_bad_options_are_explained(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        funnel(log([("a", 0, "visit")]), ["visit"], **options)


def test_since_and_until_cut_the_log(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit"), ("a", 30, "signup"), ("b", 50, "visit")]))
    assert counts(events, ["visit", "signup"], window="2d") == [2, 1]
    assert counts(events, ["visit", "signup"], window="2d", until=T0 + 30 * H) == [1, 0]
    assert counts(events, ["visit", "signup"], window="2d", since="2026-09-08") == [1, 0]
    assert counts(events, ["visit", "signup"], window="2d", since=dt.date(2026, 9, 7),
                  until="2026-09-08T07:00:00Z") == [1, 1]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "extra"),
    [
        (funnel, {"window": "1d"}),
        (funnel_chains, {"window": "1d"}),
        (conversion_over_time, {"window": "1d", "period": "day"}),
    ],
)
def test_a_reversed_or_empty_span_is_refused(
    call: Any, extra: dict[str, Any], engine: Engine
) -> None:
    events = engine(log([("a", 0, "visit"), ("a", 30, "signup")]))
    with pytest.raises(ParameterError, match=r"since \(2026-11-01 00:00\) must be before until"):
        call(events, ["visit", "signup"], since="2026-11-01", until="2026-10-01", **extra)
    with pytest.raises(ParameterError, match="swap them"):
        call(events, ["visit", "signup"], since="2026-11-01", until="2026-10-01", **extra)
    with pytest.raises(ParameterError, match="give an until after since"):  # equal: no swap
        call(events, ["visit", "signup"], since="2026-10-01", until="2026-10-01", **extra)


def test_hash_collisions_fall_back_to_the_exact_key(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [("a", 0, "visit", "x"), ("a", 1, "signup", "x"), ("b", 0, "visit", "y"),
            ("b", 30, "signup", "y"), ("c", 2, "visit", "x")]  # fmt: skip
    expected = funnel(log(rows), ["visit", "signup"], window="1d", by="channel", min_size=0)
    # every contact gets the same 64-bit key: the second hash must catch it
    monkeypatch.setattr(chains, "_contact_hash", lambda e: e.is_null().cast(pl.UInt64) + 7)
    collided = funnel(log(rows), ["visit", "signup"], window="1d", by="channel", min_size=0)
    assert collided.table.equals(expected.table)
    assert collided.breakdown is not None and collided.breakdown.equals(expected.breakdown)


def test_times_the_packed_key_cannot_hold_use_the_wide_key(engine: Engine) -> None:
    rows = [("a", 0, "visit"), ("a", 5, "signup"), ("b", 0, "visit"), ("b", 30, "signup")]
    recent = counts(engine(log(rows)), ["visit", "signup"], window="1d")
    old = log(rows).with_columns(pl.col("occurred_at") - dt.timedelta(days=365 * 70))  # 1956
    assert counts(engine(old), ["visit", "signup"], window="1d") == recent == [2, 1]


def test_many_steps_use_the_wide_key(engine: Engine) -> None:
    steps = [f"e{i}" for i in range(14)]
    rows = [("a", i, f"e{i}") for i in range(14)] + [("b", i, f"e{i}") for i in range(5)]
    assert counts(engine(log(rows)), steps, window="1d") == [2] * 5 + [1] * 9


@pytest.mark.parametrize("mode", ["packed", "wide", "exact"])
def test_every_sort_key_gives_the_same_chains(mode: str) -> None:
    rnd = random.Random(11)
    rows = [(f"c{rnd.randint(0, 30)}", rnd.randint(0, 200), rnd.choice("abcx"), rnd.choice("pq"))
            for _ in range(400)]  # fmt: skip
    spec = resolve_spec([["a"], ["b", "c"], ["c"]], "20h", "ordered", False, [("x", 1, 3)])
    lf = log(rows).rename({"channel": "ch"}).lazy()

    def run(m: Any) -> pl.DataFrame:
        chains = contact_chains(lf, spec, mode=m, by="ch").collect()
        assert not chains["_collide"].any() and chains["_fits"].all()
        return chains.drop("_k", "_k2", "_collide", "_fits", strict=False).sort(pl.all())

    assert run(mode).equals(run("exact"))


def test_funnel_chains_lists_each_contact_once() -> None:
    events = log([("b", 0, "visit"), ("a", 0, "visit"), ("a", 1, "signup")])
    chains = funnel_chains(events, ["visit", "signup"], window="1d").collect()
    assert chains.columns == ["contact_id", "level", "excluded", "step_1_at", "step_2_at"]
    assert chains.select("contact_id", "level").rows() == [("a", 2), ("b", 1)]
    assert chains["step_2_at"].to_list() == [T0 + H, None]


# --- conversion over time ------------------------------------------------------------------
@on_spark
def test_conversion_over_time_by_week_with_incomplete_weeks(engine: Engine) -> None:
    events = engine(
        log(
            [("a", 0, "visit"), ("a", 2, "signup"), ("b", 1, "visit"), ("c", 8, "visit")]
            + [("d", 22, "visit"), ("d", 23, "signup")],
            unit=D,
        )
    )
    trend = conversion_over_time(events, ["visit", "signup"], window="3d", period="week")
    table = trend.table
    starts = table.filter(pl.col("step") == 1)["period_start"].to_list()
    assert starts == [T0, T0 + 7 * D, T0 + 14 * D, T0 + 21 * D]
    assert table.filter(pl.col("step") == 1)["count"].to_list() == [2, 1, 0, 1]
    assert table.filter(pl.col("step") == 2)["count"].to_list() == [1, 0, 0, 1]
    # as_of is the last event (day 23): week 3 ends day 21, + 3 days = day 24 > 23
    assert table.filter(pl.col("step") == 1)["complete"].to_list() == [True, True, False, False]
    assert trend.as_of == T0 + 23 * D
    assert trend.table["period_end"][0] == T0 + 7 * D


def _trend_sums_and_funnel(engine: Engine, period: str) -> tuple[list[int], list[int]]:
    rnd = random.Random(3)
    rows = [(f"c{rnd.randint(0, 40)}", rnd.randint(0, 2000), rnd.choice(["v", "s", "b"]))
            for _ in range(300)]  # fmt: skip
    steps = ["v", "s", "b"]
    events = engine(log(rows))
    trend = conversion_over_time(events, steps, window="3d", period=period)  # type: ignore[arg-type]
    summed = trend.table.group_by("step").agg(pl.col("count").sum()).sort("step")
    return summed["count"].to_list(), counts(events, steps, window="3d")


@pytest.mark.parametrize("period", ["day", "week"])
def test_conversion_over_time_adds_up_to_the_funnel(engine: Engine, period: str) -> None:
    summed, total = _trend_sums_and_funnel(engine, period)
    assert summed == total


def test_monthly_conversion_over_time_adds_up_to_the_funnel(engine: Engine) -> None:
    summed, total = _trend_sums_and_funnel(engine, "month")
    assert summed == total


def test_conversion_over_time_by_month_and_explicit_as_of(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit"), ("b", 30, "visit")], unit=D))
    trend = conversion_over_time(events, ["visit"], window="1d", period="month",
                                 as_of="2026-12-01")  # fmt: skip
    assert trend.table["period_start"].to_list() == [
        dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
    ]
    assert trend.table["complete"].to_list() == [True, True]
    assert "incomplete" not in trend._repr_html_()
    json.dumps(trend.to_dict())


def test_conversion_over_time_rejects_unknown_periods() -> None:
    with pytest.raises(ParameterError, match="period: 'weekly' is not one of.*Did you mean 'week'"):
        conversion_over_time(log([("a", 0, "visit")]), ["visit"], window="1d", period="weekly")  # type: ignore[arg-type]


# --- period over period -----------------------------------------------------------------------
def _two_weeks(first: int, second: int, entrants: int = 100) -> pl.DataFrame:
    rows: list[tuple[Any, ...]] = []
    for week, buyers in ((0, first), (7, second)):
        for i in range(entrants):
            rows.append((f"w{week}-{i}", week * 24, "visit"))
            if i < buyers:
                rows.append((f"w{week}-{i}", week * 24 + 5, "buy"))
    rows.append(("late", 60 * 24, "visit"))
    return log(rows)


@on_spark
def test_week_over_week_flags_a_change_outside_the_noise(engine: Engine) -> None:
    result = week_over_week(engine(_two_weeks(40, 70)), ["visit", "buy"], window="1d",
                            current="2026-09-16")  # fmt: skip
    row = result.table.filter(pl.col("rate") == "from_previous").row(0, named=True)
    assert (row["previous_rate"], row["current_rate"]) == (0.4, 0.7)
    assert row["change"] == pytest.approx(0.3)
    assert row["relative_change"] == pytest.approx(0.75)
    assert row["p_value"] < 0.001
    assert row["verdict"] == "increase"
    assert result.current_start == T0 + 7 * D and result.previous_start == T0
    assert result.current_complete


def test_compare_periods_within_noise_and_too_few(engine: Engine) -> None:
    noise = compare_periods(engine(_two_weeks(40, 43)), ["visit", "buy"], window="1d",
                            current=T0 + 7 * D)  # fmt: skip
    assert set(noise.table["verdict"]) == {"within noise"}
    few = compare_periods(engine(_two_weeks(4, 9, entrants=20)), ["visit", "buy"], window="1d",
                          current=T0 + 7 * D)  # fmt: skip
    assert set(few.table["verdict"]) == {"too few"}
    assert few.table["p_value"].null_count() == 0
    assert "p-value" in few._repr_html_()
    json.dumps(few.to_dict())


def test_compare_periods_defaults_to_the_last_complete_period(engine: Engine) -> None:
    result = compare_periods(engine(_two_weeks(40, 70)), ["visit", "buy"], window="1d")
    # the week of the "late" visit (day 60) is still open; the empty weeks before it are complete
    assert result.current_start == T0 + 56 * D - 7 * D
    assert result.table["current_trials"].to_list()[0] == 0


def test_compare_periods_errors(engine: Engine) -> None:
    two_weeks = engine(_two_weeks(4, 7))
    with pytest.raises(ParameterError, match="is the first one; nothing to compare with"):
        compare_periods(two_weeks, ["visit", "buy"], window="1d", current=T0)
    with pytest.raises(ParameterError, match="current: no entries in the week starting 2027-01-04"):
        compare_periods(two_weeks, ["visit", "buy"], window="1d", current="2027-01-05")
    with pytest.raises(ParameterError, match="no complete week to compare"):
        compare_periods(engine(log([("a", 0, "visit")])), ["visit", "buy"], window="1d")
    with pytest.raises(ParameterError, match="alpha: must be between 0 and 1"):
        compare_periods(two_weeks, ["visit", "buy"], window="1d", alpha=1.5)


# --- cohorts -------------------------------------------------------------------------------
def test_cohorts_handle_contacts_not_observed_long_enough(engine: Engine) -> None:
    events = engine(
        log(
            [("a", 0, "visit"), ("a", 2, "buy"), ("b", 0, "visit"), ("c", 0, "visit")]
            + [("c", 5, "buy"), ("d", 9, "visit")],
            unit=D,
        )
    )
    table = cohorts(events, "buy", horizon="6d").table
    by_day = {r["day"]: r for r in table.iter_rows(named=True)}
    assert set(by_day) == set(range(7))
    assert by_day[0]["cohort_size"] == 4
    assert by_day[0]["at_risk"] == 4 and by_day[0]["converted"] == 0
    assert by_day[1]["at_risk"] == 3  # d, acquired on day 9 = as_of, is observed for day 0 only
    assert by_day[2]["converted"] == 1 and by_day[2]["share"] == pytest.approx(1 / 3)
    assert by_day[5]["at_risk"] == 2 and by_day[5]["share"] == pytest.approx(1 - (2 / 3) * (1 / 2))
    assert by_day[6]["cumulative_converted"] == 2
    assert by_day[6]["observed_share"] == pytest.approx(0.5)


@on_spark
def test_cohorts_by_week_stop_where_nobody_is_observed(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit"), ("b", 7, "visit"), ("b", 8, "buy")], unit=D))
    table = cohorts(events, ["buy"], period="week", horizon="10d").table
    last_day = table.group_by("cohort_start").agg(pl.col("day").max()).sort("cohort_start")
    assert last_day["day"].to_list() == [8, 1]


def test_cohorts_by_created_at(engine: Engine) -> None:
    events = engine(log([("a", 3, "buy"), ("b", 1, "visit")], unit=D))
    people = engine(
        pl.DataFrame({"contact_id": ["a", "b", "z"], "created_at": [T0, T0, T0 + 2 * D]})
    )
    table = cohorts(events, "buy", acquisition="created_at", contacts=people, horizon="3d").table
    assert table["cohort_size"].unique().to_list() == [3]
    assert table.filter(pl.col("day") == 3)["converted"].to_list() == [1]
    with pytest.raises(MissingColumnError, match="needs contacts= with a 'created_at' column"):
        cohorts(events, "buy", acquisition="created_at")
    with pytest.raises(ParameterError, match="acquisition: 'created' is not.*Did you mean"):
        cohorts(events, "buy", acquisition="created")  # type: ignore[arg-type]


@on_spark
def test_a_date_as_of_takes_in_the_whole_day_as_classify_does(engine: Engine) -> None:
    # T0 is 2026-09-07 00:00; the purchase is at 18:00 that day.
    events = engine(log([("a", 0, "visit"), ("a", 18, "buy")]))
    for as_of in ("2026-09-07", dt.date(2026, 9, 7)):
        table = cohorts(events, "buy", period="day", horizon="1d", as_of=as_of).table
        assert table.filter(pl.col("day") == 0)["converted"].to_list() == [1]
        trend = conversion_over_time(events, ["visit"], window="1d", period="day", as_of=as_of)
        assert trend.as_of == T0 + D - dt.timedelta(microseconds=1)
    midnight = "2026-09-07T00:00:00Z"
    at_midnight = cohorts(events, "buy", period="day", horizon="1d", as_of=midnight).table
    assert at_midnight.filter(pl.col("day") == 0)["converted"].to_list() == [0]


def test_no_week_to_compare_in_an_empty_log_says_so(engine: Engine) -> None:
    with pytest.raises(ParameterError, match="no week to compare: the events hold no row"):
        week_over_week(engine(log([])), ["visit", "buy"], window="1d")


def test_cohorts_display_and_empty_input() -> None:
    events = log([("a", 0, "visit"), ("a", 2, "buy")], unit=D)
    result = cohorts(events, "buy", horizon="7d")
    assert "day 7" in result._repr_html_()
    json.dumps(result.to_dict())
    assert cohorts(log([]), "buy").table.is_empty()


def test_docstring_examples_run() -> None:
    failures, _ = doctest.testmod(conversion)
    assert failures == 0


# --- properties against a slow per-contact reference ----------------------------------------
def _valid(times: Sequence[int], window: int, strict: bool) -> bool:
    steps_ok = all((b > a) if strict else (b >= a) for a, b in itertools.pairwise(times))
    return steps_ok and times[-1] - times[0] <= window


def reference(
    events: Sequence[tuple[int, str, str | None]],
    steps: Sequence[set[str]],
    window: int,
    order: str,
    first_entry: bool,
    exclusions: Sequence[tuple[set[str], int, int]],
    rules: str = "clickhouse",
    since: int | None = None,
) -> tuple[int, list[int], bool, str | None] | None:
    """Level, counted chain, excluded and breakdown value of one contact, from the docs.

    Ordered modes: every chain (one event per step, consecutive steps at or
    after -- strictly after for strict_increase -- the previous, the last at
    most ``window`` after the first) is enumerated; the level is the longest;
    the counted chain completes the level first and takes each earlier step
    as late as possible.  Under ``rules="funnelkit"`` the events of a chain
    are distinct rows, and with ``first_entry`` the first step-1 event is
    looked for before ``since`` too.  Any order: windows anchored at every
    event time.  Exclusions: under ``rules="funnelkit"`` without
    ``first_entry``, per attempt (each step-1 time is an attempt, with the
    counted chain of the chains starting there; the contact counts by the
    deepest clean attempt, ties by the counted-chain rule, and is excluded
    only when every attempt is spoiled); otherwise on the counted chain.
    """
    everything = list(events)
    events = [e for e in events if since is None or e[0] >= since]
    rows = [[i for i, (_, e, _) in enumerate(events) if e in names] for names in steps]
    step1 = [(t, v) for t, e, v in events if e in steps[0]]
    if not step1:
        return None
    first_time = min(t for t, _ in step1)
    values = [v for t, v in step1 if t == first_time]
    value = min((v for v in values if v is not None), default=None)
    if first_entry:
        ever = [t for t, e, _ in everything if e in steps[0]] if rules == "funnelkit" else []
        first_ever = min([first_time, *ever])
        rows[0] = [i for i in rows[0] if events[i][0] == first_ever]
        if not rows[0]:
            return None
    times = [sorted({events[i][0] for i in r}) for r in rows]
    n = len(steps)
    if order == "any":
        best, anchor = 0, 0
        for a in sorted({t for t, _, _ in events}):
            level = 0
            while level < n and any(a <= t <= a + window for t in times[level]):
                level += 1
            if level > best:
                best, anchor = level, a
        counted = [min(t for t in times[k] if t >= anchor) for k in range(best)]
        return best, counted, False, value
    strict = order == "strict_increase"
    one_event = rules == "funnelkit"

    def rank(chain: list[int]) -> tuple[int, ...]:
        """The counted-chain rule: complete first, each earlier step as late as possible."""
        return (chain[-1], *(-x for x in reversed(chain[:-1])))

    def best(start: int | None) -> tuple[int, list[int]] | None:
        for level in range(n, 0, -1):
            chains = [
                [events[i][0] for i in c]
                for c in itertools.product(*rows[:level])
                if not one_event or len(set(c)) == len(c)
            ]
            chains = [c for c in chains if _valid(c, window, strict)]
            chains = [c for c in chains if start is None or c[0] == start]
            if chains:
                return level, list(min(chains, key=rank))
        return None

    def spoiled(level: int, counted: list[int]) -> bool:
        for names, a, b in exclusions:
            if level < a:
                continue
            for t, e, _ in events:
                end_ok = t < counted[b - 1] if level >= b else t <= counted[0] + window
                if e in names and t > counted[a - 1] and end_ok:
                    return True
        return False

    found = best(None)
    if found is None:
        return None
    level, counted = found
    excluded = spoiled(level, counted)
    if exclusions and one_event and not first_entry:
        attempts = [best(start) for start in times[0]]
        clean = [a for a in attempts if a is not None and not spoiled(*a)]
        excluded = not clean
        if clean:
            level, counted = min(clean, key=lambda a: (-a[0], *rank(a[1])))
    return level, counted, excluded, value


VOCAB = ("a", "b", "c", "d", "x")


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    contacts = draw(st.integers(1, 6))
    events = {
        f"c{i}": draw(
            st.lists(
                st.tuples(
                    st.integers(0, 12), st.sampled_from(VOCAB), st.sampled_from(["p", "q", None])
                ),
                max_size=7,
            )
        )
        for i in range(contacts)
    }
    n = draw(st.integers(1, 4))
    steps = [draw(st.sets(st.sampled_from("abcd"), min_size=1, max_size=2)) for _ in range(n)]
    order = draw(st.sampled_from(["ordered", "strict_increase", "any"]))
    exclusions = []
    if order != "any" and n >= 2 and draw(st.booleans()):
        a = draw(st.integers(1, n - 1))
        b = draw(st.integers(a + 1, n))
        exclusions.append(({draw(st.sampled_from(VOCAB))}, a, b))
    return {
        "events": events,
        "steps": steps,
        "window": draw(st.integers(0, 6)),
        "order": order,
        "first_entry": draw(st.booleans()),
        "exclusions": exclusions,
        "seed": draw(st.integers(0, 1000)),
        "rules": draw(st.sampled_from(["funnelkit", "clickhouse"])),
        "since": draw(st.one_of(st.none(), st.integers(1, 6))),
    }


def _frame(events: dict[str, list[tuple[int, str, str | None]]], seed: int) -> pl.DataFrame:
    rows = [(c, t, e, v) for c, evs in events.items() for t, e, v in evs]
    random.Random(seed).shuffle(rows)
    return log(rows)


def _options(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "window": dt.timedelta(hours=s["window"]),
        "order": s["order"],
        "first_entry": s["first_entry"],
        "exclusions": [Exclusion(sorted(e), a, b) for e, a, b in s["exclusions"]],
        "rules": s.get("rules", "clickhouse"),
        "since": None if s.get("since") is None else T0 + s["since"] * H,
    }


def _expected(s: dict[str, Any]) -> dict[str, tuple[int, list[int], bool, str | None]]:
    out = {}
    for contact, evs in s["events"].items():
        got = reference(
            evs,
            s["steps"],
            s["window"],
            s["order"],
            s["first_entry"],
            s["exclusions"],
            s.get("rules", "clickhouse"),
            s.get("since"),
        )
        if got is not None:
            out[contact] = got
    return out


@pytest.mark.slow
@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenarios())
def test_funnel_equals_the_reference(engine: Engine, s: dict[str, Any]) -> None:
    events = engine(_frame(s["events"], s["seed"]))
    steps = [sorted(x) for x in s["steps"]]
    expected = _expected(s)
    result = funnel(events, steps, **_options(s))
    n = len(steps)
    assert result.table["count"].to_list() == [
        sum(1 for level, _, x, _ in expected.values() if level >= k and not x)
        for k in range(1, n + 1)
    ]
    assert result.excluded == sum(1 for _, _, x, _ in expected.values() if x)
    chains = funnel_chains(events, steps, **_options(s)).collect()
    got = {
        r["contact_id"]: (
            r["level"],
            [int((r[f"step_{j}_at"] - T0) / H) for j in range(1, r["level"] + 1)],
            r["excluded"],
        )
        for r in chains.iter_rows(named=True)
    }
    assert got == {c: v[:3] for c, v in expected.items()}


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_breakdown_and_time_to_convert_equal_the_reference(s: dict[str, Any]) -> None:
    events = _frame(s["events"], s["seed"])
    steps = [sorted(x) for x in s["steps"]]
    expected = _expected(s)
    result = funnel(events, steps, by="channel", top=None, min_size=0, **_options(s))
    assert result.breakdown is not None
    got = {(r["segment"], r["step"]): r["count"] for r in result.breakdown.iter_rows(named=True)}
    n = len(steps)
    values = {v if v is not None else "(none)" for _, _, _, v in expected.values()}
    want = {
        (seg, k): sum(
            1
            for level, _, x, v in expected.values()
            if (v if v is not None else "(none)") == seg and level >= k and not x
        )
        for seg in values
        for k in range(1, n + 1)
    }
    assert got == want
    summary = result.time_to_convert.summary
    for row in summary.iter_rows(named=True):
        a, b = row["from_step"], row["to_step"]
        durations = [
            (max(c) - min(c)) if s["order"] == "any" else c[b - 1] - c[a - 1]
            for level, c, x, _ in expected.values()
            if level >= b and not x
        ]
        assert row["contacts"] == len(durations)
        if durations:
            assert row["median"] == statistics.median(durations) * H


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from(["day", "week"]))
def test_trend_periods_add_up_to_the_funnel(s: dict[str, Any], period: str) -> None:
    events = _frame(s["events"], s["seed"])
    steps = [sorted(x) for x in s["steps"]]
    options = {k: v for k, v in _options(s).items() if k not in ("rules", "since")}
    total = funnel(events, steps, **options)
    trend = conversion_over_time(events, steps, period=period, **options)
    summed = trend.table.group_by("step").agg(pl.col("count").sum()).sort("step")
    if total.table["count"][0]:
        assert summed["count"].to_list() == total.table["count"].to_list()
        assert (
            trend.table.group_by("period_start").agg(pl.col("excluded").first())["excluded"].sum()
            == total.excluded
        )


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("chdb") is None, reason="chdb (a benchmark dependency) is absent"
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_ordered_levels_equal_clickhouse_window_funnel(
    tmp_path_factory: pytest.TempPathFactory, s: dict[str, Any]
) -> None:
    """The same logs through ClickHouse's own windowFunnel (when chdb is installed)."""
    import chdb

    events = _frame(s["events"], s["seed"])
    steps = [sorted(x) for x in s["steps"]]
    path = tmp_path_factory.mktemp("clickhouse") / "log.parquet"
    events.write_parquet(path)
    conditions = ", ".join(
        "event IN (" + ", ".join(f"'{e}'" for e in names) + ")" for names in steps
    )
    query = (
        f"SELECT contact_id, windowFunnel({s['window'] * 3600})(toDateTime(occurred_at), "
        f"{conditions}) AS level FROM file('{path}', Parquet) GROUP BY contact_id"
    )
    text = str(chdb.query(query, "CSV"))
    theirs = {
        c.strip('"'): int(level)
        for c, level in (line.split(",") for line in text.split())
        if int(level) > 0
    }
    # ClickHouse lets one row fill several steps: its rules, not funnelkit's default
    window = dt.timedelta(hours=s["window"])
    ours = funnel_chains(events, steps, window=window, rules="clickhouse").collect()
    assert dict(ours.select("contact_id", "level").iter_rows()) == theirs


@on_spark
def test_a_missing_breakdown_column_lists_the_ones_there(engine: Engine) -> None:
    events = engine(log([("a", 0, "visit")]).with_columns(pl.lit("x").alias("channel")))
    with pytest.raises(MissingColumnError) as info:
        funnel(events, ["visit"], window="1d", by="segment")
    text = str(info.value)
    assert "needs the contacts table" in text and "Columns to break down by: channel." in text
    assert "Did you mean 'event'" not in text


def test_printing_a_result_shows_its_table() -> None:
    result = funnel(log([("a", 0, "visit"), ("a", 1, "buy")]), ["visit", "buy"], window="1d")
    assert str(result) == result.to_text()
    assert str(result).startswith("Funnel visit → buy (window 1d, ordered)")


@on_spark
def test_monthly_created_at_cohorts_are_the_same_on_every_engine(engine: Engine) -> None:
    """Calendar months in UTC, acquired at ``created_at``; a contact with no event counts too."""
    utc = dt.UTC
    events = pl.DataFrame(
        {
            "contact_id": ["a", "a", "b", "c"],
            "occurred_at": [
                dt.datetime(2026, 1, 10, tzinfo=utc),
                dt.datetime(2026, 1, 12, tzinfo=utc),
                dt.datetime(2026, 2, 3, tzinfo=utc),
                dt.datetime(2026, 2, 1, 1, tzinfo=utc),
            ],
            "event": ["page_view", "purchase", "page_view", "page_view"],
            "amount": [None, 20.0, None, None],
        },
        schema={k: SCHEMA[k] for k in ("contact_id", "occurred_at", "event")}
        | {"amount": pl.Float64},
    )
    people = pl.DataFrame(
        {
            "contact_id": ["a", "b", "c", "z"],
            "created_at": [
                dt.datetime(2026, 1, 5, tzinfo=utc),
                dt.datetime(2026, 1, 31, 23, 59, tzinfo=utc),
                dt.datetime(2026, 2, 1, tzinfo=utc),
                dt.datetime(2026, 2, 10, tzinfo=utc),
            ],
        },
        schema={"contact_id": pl.String, "created_at": pl.Datetime("us", "UTC")},
    )
    options: dict[str, Any] = {
        "period": "month",
        "acquisition": "created_at",
        "horizon": "10d",
        "as_of": "2026-02-20",
    }
    got = cohorts(engine(events), "purchase", contacts=engine(people), **options)
    sizes = (
        got.table.group_by("cohort_start").agg(pl.col("cohort_size").first()).sort("cohort_start")
    )
    assert sizes.rows() == [
        (dt.datetime(2026, 1, 1, tzinfo=utc), 2),
        (dt.datetime(2026, 2, 1, tzinfo=utc), 2),
    ]
    day7 = got.table.filter(pl.col("day") == 7, pl.col("cohort_start").dt.month() == 1)
    assert day7.select("converted", "share").row(0) == (1, 0.5)
    expected = cohorts(events, "purchase", contacts=people, **options)
    assert_frame_equal(got.table, expected.table)
    stage = load_funnel("inbound").stage("prospect")
    by_entry = {"definition": load_funnel("inbound"), "contacts": people}
    assert_frame_equal(
        cohorts(engine(events), stage, **(options | by_entry | {"contacts": engine(people)})).table,
        cohorts(events, stage, **options, **by_entry).table,
    )


# --- event names the log never holds ------------------------------------------------------------
def _read(*names: str) -> Any:
    day = dt.datetime(2026, 11, 2)
    return read_events(
        pl.DataFrame(
            {
                "contact_id": ["a"] * len(names),
                "occurred_at": [day + dt.timedelta(hours=i) for i in range(len(names))],
                "event": list(names),
                "amount": [None] * len(names),
            },
            schema_overrides={"amount": pl.Float64},
        )
    )


def test_a_misspelt_step_is_warned_about_with_the_closest_event() -> None:
    log = _read("page_view", "ebook_download", "purchase")
    with pytest.warns(UnknownEventWarning) as caught:
        result = funnel(log, ["page_view", "ebok_download", ["purchase", "nope"]], window="7d")
    lines = [str(w.message) for w in caught]
    assert lines == [
        "step 2 reads the event 'ebok_download', which <frame> never holds; it counts "
        "nothing. Did you mean 'ebook_download'?",
        "step 3 reads the event 'nope', which <frame> never holds; it counts nothing.",
    ]
    assert result.table["count"].to_list() == [1, 0, 0]
    assert caught[0].filename == __file__  # points at the caller's line, not funnelkit's


def test_names_the_log_holds_and_a_definitions_alternatives_are_not_warned_about() -> None:
    log = _read("page_view", "form_fill", "purchase")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownEventWarning)
        funnel(log, ["page_view", "purchase"], window="7d")
        # 'sales' names events this log lacks, none of them close to one it holds
        funnel(log, load_funnel("sales"), window="7d")
        # a bare frame is not checked: its names are not counted
        funnel(log.collect(), ["page_view", "purchse"], window="7d")


def test_a_near_miss_in_a_definition_is_warned_about() -> None:
    log = _read("page_view", "form_fil")
    with pytest.warns(UnknownEventWarning, match=r"funnel 'sales' reads the event 'form_fill'"):
        funnel(log, load_funnel("sales"), window="7d")


def test_an_excluded_name_is_checked_too() -> None:
    log = _read("page_view", "purchase", "unsubscribe")
    with pytest.warns(UnknownEventWarning, match=r"exclusion 1 reads the event 'unsubscrbe'"):
        funnel(log, ["page_view", "purchase"], window="7d", exclusions=[("unsubscrbe", 1, 2)])
